// SPDX-License-Identifier: MIT
/*
 * delayline: a TUN device that holds each IP packet for a delay chosen by
 * its source address, then writes it back. The e2e tests route traffic
 * through it to give customers and servers known RTTs, since these machines
 * have no netem.
 *
 * One thread, one tun fd, ppoll() with a nanosecond timeout and 1 ns timer
 * slack; it wakes spin_ns early and polls without sleeping until the packet
 * is due, since a wake-up from sleep takes 30-100 us on a VM. Each rule keeps its own FIFO whose release times never decrease
 * (release = max(now + delay, last release of the rule)), so a rule's
 * packets are never reordered; the next packet due is the earliest head.
 */
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "common/sys.h"
#include <poll.h>

#define MAX_RULES	256
#define MAX_DELAY_MS	60000.0
#define PKT_MAX		65536
#define READ_BATCH	64
#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL

struct pkt {
	struct pkt *next;
	uint64_t due_ns;
	uint32_t len;
	uint8_t data[];
};

/* A source prefix and its delay: constant when period_ns is 0, otherwise a
 * triangle wave from min_ns up to max_ns and back over period_ns. */
struct rule {
	int family;		/* AF_INET, AF_INET6, or 0 for "anything" */
	uint8_t addr[16];
	unsigned int plen;
	uint64_t min_ns;
	uint64_t max_ns;
	uint64_t period_ns;
	uint64_t last_due_ns;
	struct pkt *head;
	struct pkt *tail;
	uint64_t pkts;
	const char *text;
};

/* Lateness of a release past its due time, for the exit report. */
struct late_stats {
	uint64_t max_ns;
	uint64_t sum_ns;
	uint64_t over_200us;
	uint64_t over_1ms;
};

struct delayline {
	const char *ifname;
	const char *pidfile;
	int fd;
	struct rule rules[MAX_RULES + 1];	/* last one: the no-match rule */
	unsigned int nrules;
	uint64_t max_queued;
	uint64_t spin_ns;
	uint64_t queued;
	uint64_t start_ns;
	uint64_t received;
	uint64_t sent;
	uint64_t dropped;
	uint64_t write_errors;
	uint64_t flushed;
	struct late_stats late;
};

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stats_requested;

static uint64_t now_ns(void)
{
	return sys_now_ns(CLOCK_MONOTONIC);
}

/* --- rules ------------------------------------------------------------- */

static int parse_ms(const char *s, char **end, double *ms)
{
	errno = 0;
	*ms = strtod(s, end);
	if (errno || *end == s || !isfinite(*ms) || *ms < 0 ||
	    *ms > MAX_DELAY_MS)
		return -EINVAL;
	return 0;
}

/* SPEC is "MS" or "MIN-MAX/PERIOD_S". */
static int rule_parse_spec(struct rule *r, const char *spec)
{
	double min, max, period;
	char *end;

	if (parse_ms(spec, &end, &min))
		return -EINVAL;
	max = min;
	period = 0;
	if (*end == '-') {
		if (parse_ms(end + 1, &end, &max) || *end != '/' || max < min)
			return -EINVAL;
		errno = 0;
		period = strtod(end + 1, &end);
		if (errno || !isfinite(period) || period <= 0 ||
		    period > 86400)
			return -EINVAL;
	}
	if (*end != '\0')
		return -EINVAL;
	/* Round to ns here: the Makefile links tools without libm. */
	r->min_ns = min * NSEC_PER_MSEC + 0.5;
	r->max_ns = max * NSEC_PER_MSEC + 0.5;
	r->period_ns = period * NSEC_PER_SEC + 0.5;
	return 0;
}

/* ADDR is an IPv4 or IPv6 address, optionally with /PREFIXLEN. */
static int rule_parse_addr(struct rule *r, char *addr)
{
	char *slash = strchr(addr, '/');
	unsigned int maxlen, i;
	long plen;
	char *end;

	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, addr, r->addr) == 1) {
		r->family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, addr, r->addr) == 1) {
		r->family = AF_INET6;
		maxlen = 128;
	} else {
		return -EINVAL;
	}
	plen = maxlen;
	if (slash) {
		errno = 0;
		plen = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || plen < 0 ||
		    plen > (long)maxlen)
			return -EINVAL;
	}
	r->plen = plen;
	/* Clear host bits so matching can compare whole bytes. */
	for (i = 0; i < maxlen / 8; i++) {
		if (i * 8 >= r->plen)
			r->addr[i] = 0;
		else if (i * 8 + 8 > r->plen)
			r->addr[i] &= 0xff << (8 - (r->plen - i * 8));
	}
	return 0;
}

static int rule_parse(struct rule *r, const char *text)
{
	char buf[128];
	char *eq;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	eq = strchr(buf, '=');
	if (!eq)
		return -EINVAL;
	*eq = '\0';
	if (rule_parse_addr(r, buf) || rule_parse_spec(r, eq + 1))
		return -EINVAL;
	r->text = text;
	return 0;
}

static bool rule_match(const struct rule *r, int family, const uint8_t *a)
{
	unsigned int full = r->plen / 8, rem = r->plen % 8;

	if (r->family == 0)
		return true;
	if (r->family != family || memcmp(r->addr, a, full))
		return false;
	return !rem || (a[full] & (0xff << (8 - rem))) == r->addr[full];
}

static uint64_t rule_delay_ns(const struct rule *r, uint64_t since_start)
{
	uint64_t phase, half, span = r->max_ns - r->min_ns;

	if (!r->period_ns || !span)
		return r->min_ns;
	phase = since_start % r->period_ns;
	half = r->period_ns / 2;
	if (phase >= half)
		phase = r->period_ns - phase;
	return r->min_ns + (uint64_t)((double)span * phase / half);
}

/* First rule matching the packet's source address; the no-match rule
 * (zero delay) for anything else, including what is not IPv4 or IPv6. */
static struct rule *delayline_classify(struct delayline *dl,
				       const uint8_t *p, size_t len)
{
	const uint8_t *src = NULL;
	int family = 0;
	unsigned int i;

	if (len >= 20 && p[0] >> 4 == 4) {
		family = AF_INET;
		src = p + 12;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		family = AF_INET6;
		src = p + 8;
	}
	for (i = 0; src && i < dl->nrules; i++)
		if (rule_match(&dl->rules[i], family, src))
			return &dl->rules[i];
	return &dl->rules[dl->nrules];
}

/* --- queue ------------------------------------------------------------- */

static int delayline_enqueue(struct delayline *dl, const uint8_t *data,
			     size_t len, uint64_t now)
{
	struct rule *r = delayline_classify(dl, data, len);
	uint64_t due = now + rule_delay_ns(r, now - dl->start_ns);
	struct pkt *pkt;

	if (dl->queued >= dl->max_queued)
		return -ENOBUFS;
	pkt = malloc(sizeof(*pkt) + len);
	if (!pkt)
		return -ENOMEM;
	if (due < r->last_due_ns)
		due = r->last_due_ns;
	r->last_due_ns = due;
	pkt->next = NULL;
	pkt->due_ns = due;
	pkt->len = len;
	memcpy(pkt->data, data, len);
	if (r->tail)
		r->tail->next = pkt;
	else
		r->head = pkt;
	r->tail = pkt;
	r->pkts++;
	dl->queued++;
	return 0;
}

static struct pkt *rule_pop(struct rule *r)
{
	struct pkt *pkt = r->head;

	r->head = pkt->next;
	if (!r->head)
		r->tail = NULL;
	return pkt;
}

/* Earliest due time over all rules, or UINT64_MAX when nothing is queued. */
static uint64_t delayline_next_due(const struct delayline *dl)
{
	uint64_t next = UINT64_MAX;
	unsigned int i;

	for (i = 0; i <= dl->nrules; i++)
		if (dl->rules[i].head && dl->rules[i].head->due_ns < next)
			next = dl->rules[i].head->due_ns;
	return next;
}

static void late_account(struct late_stats *ls, uint64_t late)
{
	if (late > ls->max_ns)
		ls->max_ns = late;
	ls->sum_ns += late;
	ls->over_200us += late > 200000;
	ls->over_1ms += late > NSEC_PER_MSEC;
}

/* Lateness is taken before the write: writing to a tun runs the receive
 * path of the packet (routing, the next veth) inside the syscall. */
static void delayline_send(struct delayline *dl, struct pkt *pkt)
{
	uint64_t late = now_ns() - pkt->due_ns;
	ssize_t n = write(dl->fd, pkt->data, pkt->len);

	if (n == (ssize_t)pkt->len) {
		dl->sent++;
		late_account(&dl->late, late);
		return;
	}
	if (!dl->write_errors++)
		fprintf(stderr, "delayline: %s: write of %u bytes: %s\n",
			dl->ifname, pkt->len,
			n < 0 ? strerror(errno) : "short write");
}

/* Write every packet that is due, oldest due time first. */
static void delayline_release(struct delayline *dl)
{
	uint64_t now = now_ns();
	struct rule *best;
	struct pkt *pkt;
	unsigned int i;

	for (;;) {
		best = NULL;
		for (i = 0; i <= dl->nrules; i++) {
			struct rule *r = &dl->rules[i];

			if (r->head && r->head->due_ns <= now &&
			    (!best || r->head->due_ns < best->head->due_ns))
				best = r;
		}
		if (!best)
			return;
		pkt = rule_pop(best);
		dl->queued--;
		delayline_send(dl, pkt);
		free(pkt);
	}
}

/* Read what the tun has, but stop as soon as a packet falls due so that
 * a burst of arrivals does not delay releases. */
static int delayline_read(struct delayline *dl)
{
	static uint8_t buf[PKT_MAX];
	uint64_t now;
	ssize_t n;
	int i, err;

	for (i = 0; i < READ_BATCH; i++) {
		n = read(dl->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			err = -errno;
			fprintf(stderr, "delayline: %s: read: %s\n",
				dl->ifname, strerror(errno));
			return err;
		}
		if (n == 0)
			return 0;
		now = now_ns();
		dl->received++;
		err = delayline_enqueue(dl, buf, n, now);
		if (err == -ENOBUFS)
			dl->dropped++;
		else if (err)
			return err;
		if (delayline_next_due(dl) <= now)
			return 0;
	}
	return 0;
}

static void delayline_flush(struct delayline *dl)
{
	unsigned int i;

	for (i = 0; i <= dl->nrules; i++)
		while (dl->rules[i].head) {
			free(rule_pop(&dl->rules[i]));
			dl->flushed++;
		}
	dl->queued = 0;
}

static void delayline_print_stats(const struct delayline *dl)
{
	const struct late_stats *ls = &dl->late;
	struct rusage ru = { 0 };
	unsigned int i;

	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr,
		"delayline: %s: %llu packets, %llu dropped, %llu sent, "
		"%llu write errors, %llu queued, %llu flushed\n",
		dl->ifname, (unsigned long long)dl->received,
		(unsigned long long)dl->dropped, (unsigned long long)dl->sent,
		(unsigned long long)dl->write_errors,
		(unsigned long long)dl->queued,
		(unsigned long long)dl->flushed);
	fprintf(stderr,
		"delayline: %s: late mean %.1f us, max %.1f us, "
		"%llu over 200 us, %llu over 1 ms; cpu %.2f s in %.1f s\n",
		dl->ifname,
		dl->sent ? (double)ls->sum_ns / dl->sent / 1000 : 0.0,
		(double)ls->max_ns / 1000,
		(unsigned long long)ls->over_200us,
		(unsigned long long)ls->over_1ms,
		ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
		(now_ns() - dl->start_ns) / 1e9);
	for (i = 0; i < dl->nrules; i++)
		fprintf(stderr, "delayline: %s: rule %s: %llu packets\n",
			dl->ifname, dl->rules[i].text,
			(unsigned long long)dl->rules[i].pkts);
}

/* --- setup ------------------------------------------------------------- */

static int tun_open(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd, err;

	if (strlen(ifname) >= IFNAMSIZ) {
		fprintf(stderr, "delayline: interface name '%s' too long\n",
			ifname);
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "delayline: open /dev/net/tun: %s\n",
			strerror(errno));
		return err;
	}
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		fprintf(stderr, "delayline: TUNSETIFF %s: %s%s\n", ifname,
			strerror(errno),
			errno == EBUSY ? " (another process has it open?)" : "");
		close(fd);
		return err;
	}
	return fd;
}

static int pidfile_write(const char *path)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		goto err;
	fprintf(f, "%d\n", getpid());
	if (fclose(f))
		goto err;
	if (rename(tmp, path))
		goto err;
	return 0;
err:
	fprintf(stderr, "delayline: pidfile %s: %s\n", path, strerror(errno));
	return -errno;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		stats_requested = 1;
	else
		stop_signal = sig;
}

/* Block the signals we handle; ppoll() unblocks them while it waits, so a
 * signal is never lost between the check and the wait. */
static int signals_setup(sigset_t *waitmask)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &block, waitmask) ||
	    sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
	    sigaction(SIGUSR1, &sa, NULL)) {
		fprintf(stderr, "delayline: signal setup: %s\n",
			strerror(errno));
		return -errno;
	}
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGUSR1);
	return 0;
}

static int delayline_run(struct delayline *dl, const sigset_t *waitmask)
{
	struct pollfd pfd = { .fd = dl->fd, .events = POLLIN };
	struct timespec ts, *tsp;
	uint64_t next, now;
	int n, err;

	while (!stop_signal) {
		if (stats_requested) {
			stats_requested = 0;
			delayline_print_stats(dl);
		}
		delayline_release(dl);
		next = delayline_next_due(dl);
		tsp = NULL;
		if (next != UINT64_MAX) {
			now = now_ns();
			next = next > now + dl->spin_ns ? next - now - dl->spin_ns : 0;
			ts.tv_sec = next / NSEC_PER_SEC;
			ts.tv_nsec = next % NSEC_PER_SEC;
			tsp = &ts;
		}
		n = ppoll(&pfd, 1, tsp, waitmask);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			fprintf(stderr, "delayline: %s: ppoll: %s\n",
				dl->ifname, strerror(errno));
			return err;
		}
		if (n > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
			fprintf(stderr, "delayline: %s: tun fd error\n",
				dl->ifname);
			return -EIO;
		}
		if (n > 0 && (err = delayline_read(dl)))
			return err;
	}
	return 0;
}

/* --- options ----------------------------------------------------------- */

static const char doc[] =
"Hold packets on a TUN device for a delay chosen by their source address.\n"
"\n"
"Reads IPv4 and IPv6 packets from TUN device IFNAME (created if missing),\n"
"keeps each for the delay of the first rule whose ADDR matches its source\n"
"address (no match: no delay) and writes it back to the device. Packets of\n"
"one rule are never reordered. SIGTERM or SIGINT: exit and print counters\n"
"to stderr; SIGUSR1: print counters and go on.\n"
"\n"
"SPEC is MS (constant, milliseconds, may be fractional) or\n"
"MIN-MAX/PERIOD_S (a triangle wave from MIN up to MAX ms and back over\n"
"PERIOD_S seconds).\n"
"\n"
"EXAMPLES:\n"
"  delayline -i dl0 -r 198.18.1.10=5 -r 2001:db8:1::/64=20\n"
"  delayline -i dl0 -r 198.18.1.0/24=20-80/4 -q 10000 -p /run/dl0.pid";

static const struct argp_option opts[] = {
	{ "iface", 'i', "IFNAME", 0, "TUN device to create or attach to", 0 },
	{ "rule", 'r', "ADDR=SPEC", 0, "Delay for source ADDR[/LEN] (repeatable)", 0 },
	{ "queue", 'q', "MAXPKTS", 0, "Packets held at most, beyond: dropped (default 65536)", 0 },
	{ "pidfile", 'p', "PIDFILE", 0, "Write our pid here once the device is ready", 0 },
	{ "spin", 's', "US", 0, "Wake this early and busy-poll until due (default 100)", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct delayline *dl = state->input;
	long long q;
	char *end;

	switch (key) {
	case 'i':
		dl->ifname = arg;
		break;
	case 'r':
		if (dl->nrules >= MAX_RULES)
			argp_error(state, "more than %d rules", MAX_RULES);
		if (rule_parse(&dl->rules[dl->nrules], arg))
			argp_error(state, "bad rule '%s': want ADDR[/LEN]=MS or "
				   "ADDR[/LEN]=MIN-MAX/PERIOD_S", arg);
		dl->nrules++;
		break;
	case 'q':
		errno = 0;
		q = strtoll(arg, &end, 10);
		if (errno || end == arg || *end || q <= 0 || q > 100000000)
			argp_error(state, "bad queue size '%s'", arg);
		dl->max_queued = q;
		break;
	case 'p':
		dl->pidfile = arg;
		break;
	case 's':
		errno = 0;
		q = strtoll(arg, &end, 10);
		if (errno || end == arg || *end || q < 0 || q > 100000)
			argp_error(state, "bad spin time '%s'", arg);
		dl->spin_ns = q * 1000;
		break;
	case ARGP_KEY_ARG:
		argp_usage(state);
		break;
	case ARGP_KEY_END:
		if (!dl->ifname)
			argp_error(state, "-i IFNAME is required");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct delayline dl = {
		.fd = -1, .max_queued = 65536, .spin_ns = 100000,
	};
	static const struct argp argp = {
		.options = opts, .parser = parse_arg, .doc = doc,
	};
	sigset_t waitmask;
	int err;

	err = argp_parse(&argp, argc, argv, 0, NULL, &dl);
	if (err)
		return 2;
	dl.rules[dl.nrules].text = "(no match)";
	/* Timer slack would add ~50 us to every wake-up. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	err = signals_setup(&waitmask);
	if (err)
		return 1;
	dl.fd = tun_open(dl.ifname);
	if (dl.fd < 0)
		return 1;
	if (dl.pidfile && pidfile_write(dl.pidfile)) {
		err = -1;
		goto out_close;
	}
	dl.start_ns = now_ns();
	err = delayline_run(&dl, &waitmask);
	delayline_flush(&dl);
	delayline_print_stats(&dl);
	if (dl.pidfile)
		unlink(dl.pidfile);
out_close:
	close(dl.fd);
	return err ? 1 : 0;
}

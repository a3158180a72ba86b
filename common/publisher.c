// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include "log.h"
#include "publisher.h"
#include "ring.h"
#include "sys.h"
#include "wire.h"

struct publisher {
	struct publisher_opts o;
	char box[WIRE_BOX_MAX];
	char ring_dir[PATH_MAX];
	struct ring ring;
	bool ring_ok;
	nng_socket pub, rep;
	bool pub_open, rep_open;
	pthread_t rep_thread;
	volatile int rep_stop;
	volatile int new_subscriber;	/* set by nng's pipe callback */
	volatile uint64_t subscribers;	/* pipes now (nng's pipe callbacks) */
	uint32_t since_catalog;
	pthread_mutex_t lock;		/* counters: the replay thread adds too */
	struct publisher_counts n;
};

static void count(struct publisher *p, uint64_t *field, uint64_t v)
{
	pthread_mutex_lock(&p->lock);
	*field += v;
	pthread_mutex_unlock(&p->lock);
}

/* ---- the replay ring's files ---------------------------------------------- */

static void ring_file(const struct publisher *p, uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%llu-%llu", p->ring_dir, (unsigned long long)p->o.epoch,
		 (unsigned long long)seq);
}

static void ring_file_keep(struct publisher *p, uint64_t seq, const char *msg, size_t len)
{
	char path[PATH_MAX + 40];
	int err;

	ring_file(p, seq, path, sizeof(path));
	err = sys_write_file(path, msg, len);
	if (err)
		pr_warn("replay ring file %s: %s (replay after a restart may miss it)", path,
			strerror(-err));
	if (seq > p->o.ring_len) {
		ring_file(p, seq - p->o.ring_len, path, sizeof(path));
		unlink(path);
	}
}

int publisher_ring_load(struct publisher *p, uint64_t committed)
{
	unsigned long long e, q;
	struct dirent *de;
	char path[PATH_MAX + 300], *msg, end;
	size_t len;
	DIR *d;
	int n = 0;

	if (!p->ring_dir[0])
		return 0;
	d = opendir(p->ring_dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", p->ring_dir, de->d_name);
		if (sscanf(de->d_name, "%llu-%llu%c", &e, &q, &end) != 2 || e != p->o.epoch ||
		    q > committed || q + p->o.ring_len <= committed) {
			unlink(path);
			continue;
		}
		if (sys_read_file(path, WIRE_MAX_MSG, &msg, &len))
			continue;
		if (!len) {
			free(msg);
			continue;
		}
		ring_push(&p->ring, q, msg, len);
		n++;
	}
	closedir(d);
	return n;
}

void publisher_ring_remove(const char *ring_dir)
{
	struct dirent *de;
	DIR *d = opendir(ring_dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char f[PATH_MAX + 300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", ring_dir, de->d_name);
		unlink(f);
	}
	closedir(d);
	rmdir(ring_dir);
}

/* ---- publishing ----------------------------------------------------------- */

int publisher_send(struct publisher *p, const char *msg, size_t len)
{
	int rc = nng_send(p->pub, (void *)msg, len, 0);

	if (rc) {
		count(p, &p->n.errors, 1);
		pr_warn("publish: %s", nng_strerror(rc));
		return -EIO;
	}
	count(p, &p->n.bytes, len);
	return 0;
}

void publisher_delta(struct publisher *p, uint64_t seq, char *msg, size_t len)
{
	publisher_send(p, msg, len);
	if (p->ring_dir[0])
		ring_file_keep(p, seq, msg, len);
	ring_push(&p->ring, seq, msg, len);
}

bool publisher_catalog_due(struct publisher *p, bool changed)
{
	bool sub = __atomic_exchange_n(&p->new_subscriber, 0, __ATOMIC_ACQ_REL);

	if (changed || sub || ++p->since_catalog >= p->o.catalog_every) {
		p->since_catalog = 0;
		return true;
	}
	return false;
}

void publisher_counts(struct publisher *p, struct publisher_counts *c)
{
	pthread_mutex_lock(&p->lock);
	*c = p->n;
	pthread_mutex_unlock(&p->lock);
	c->subscribers = __atomic_load_n(&p->subscribers, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->ring.lock);
	c->ring_bytes = p->ring.bytes;
	pthread_mutex_unlock(&p->ring.lock);
}

/* ---- the replay server ------------------------------------------------------ */

/*
 * One answer: the deltas asked for that the ring holds, at most
 * PUBLISHER_REPLAY_MAX and what fits in one message (WIRE_MAX_MSG); the
 * requester asks again for the rest (status PARTIAL).
 */
static void replay_answer(struct publisher *p, const void *req, size_t len)
{
	struct wire_replay_req r;
	struct ring_entry *got;
	struct wire_blob *b;
	const char *why;
	uint64_t oldest = 0;
	char *out = NULL;
	size_t olen;
	int n, i, status;

	count(p, &p->n.replay_requests, 1);
	got = calloc(PUBLISHER_REPLAY_MAX, sizeof(*got));
	b = calloc(PUBLISHER_REPLAY_MAX, sizeof(*b));
	if (!got || !b)
		goto out;
	if (wire_decode_replay_req(req, len, &r, &why)) {
		pr_warn("replay: bad request: %s", why);
		n = -ESRCH;
	} else if (strcmp(r.box, p->box)) {
		n = -ESRCH;
	} else {
		n = ring_get(&p->ring, r.epoch, r.first, r.last, PUBLISHER_REPLAY_MAX, got, &oldest);
	}
	if (n < 0) {
		status = WIRE_REPLAY_NO_EPOCH;
		n = 0;
	} else {
		status = (oldest && oldest <= r.first && (uint64_t)n == r.last - r.first + 1) ?
			 WIRE_REPLAY_OK : WIRE_REPLAY_PARTIAL;
	}
	for (i = 0, olen = 32; i < n; i++) {
		olen += got[i].len + 5;
		if (olen > WIRE_MAX_MSG) {
			status = WIRE_REPLAY_PARTIAL;
			break;
		}
		b[i] = (struct wire_blob){ got[i].msg, got[i].len };
	}
	if (wire_encode_replay_rep(status, oldest, b, (uint32_t)i, &out, &olen) == 0) {
		if (nng_send(p->rep, out, olen, 0) == 0)
			count(p, &p->n.replay_sent, (uint64_t)i);
		free(out);
	}
	for (i = 0; i < n; i++)
		free(got[i].msg);
out:
	free(got);
	free(b);
}

static void *replay_thread(void *arg)
{
	struct publisher *p = arg;

	while (!p->rep_stop) {
		char *buf = NULL;
		size_t len = 0;
		int rc = nng_recv(p->rep, &buf, &len, NNG_FLAG_ALLOC);

		if (rc == NNG_ETIMEDOUT)
			continue;
		if (rc)
			break;
		replay_answer(p, buf, len);
		nng_free(buf, len);
	}
	return NULL;
}

/* ---- open / close ------------------------------------------------------------ */

/* A new subscriber learns every name before its first delta. */
static void on_pipe(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct publisher *p = arg;

	(void)pipe;
	if (ev == NNG_PIPE_EV_REM_POST) {
		__atomic_sub_fetch(&p->subscribers, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&p->subscribers, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&p->new_subscriber, 1, __ATOMIC_RELEASE);
}

static int open_pub(struct publisher *p)
{
	const struct publisher_opts *o = &p->o;
	int rc, i;

	rc = nng_pub0_open(&p->pub);
	if (rc) {
		pr_err("pub socket: %s", nng_strerror(rc));
		return -EIO;
	}
	p->pub_open = true;
	rc = nng_pipe_notify(p->pub, NNG_PIPE_EV_ADD_POST, on_pipe, p);
	rc = rc ?: nng_pipe_notify(p->pub, NNG_PIPE_EV_REM_POST, on_pipe, p);
	if (rc) {
		pr_err("pub socket: %s", nng_strerror(rc));
		return -EIO;
	}
	for (i = 0; i < o->nlisten; i++) {
		nng_listener l;

		if (tls_listen(p->pub, o->listen[i], o->tls, &l))
			return -EIO;
		if (o->warn_plain && !strncmp(o->listen[i], "tcp://", 6))
			pr_warn("%s is plain TCP: deltas travel unencrypted and any peer may "
				"subscribe (tls+tcp:// for production)", o->listen[i]);
	}
	for (i = 0; i < o->ndial; i++) {
		nng_dialer d;

		/* non-blocking: nng keeps redialling while the receiver is away */
		if (tls_dial(p->pub, o->dial[i], o->tls, NNG_FLAG_NONBLOCK, &d))
			return -EIO;
		if (o->warn_plain && !strncmp(o->dial[i], "tcp://", 6))
			pr_warn("%s is plain TCP: deltas travel unencrypted", o->dial[i]);
	}
	return 0;
}

static int open_replay(struct publisher *p)
{
	const struct publisher_opts *o = &p->o;
	int rc, i;

	rc = nng_rep0_open(&p->rep);
	if (rc) {
		pr_err("replay socket: %s", nng_strerror(rc));
		return -EIO;
	}
	p->rep_open = true;
	nng_socket_set_size(p->rep, NNG_OPT_RECVMAXSZ, 4096);
	nng_socket_set_ms(p->rep, NNG_OPT_RECVTIMEO, 200);
	nng_socket_set_ms(p->rep, NNG_OPT_SENDTIMEO, 1000);
	for (i = 0; i < o->nreplay; i++) {
		nng_listener l;

		if (tls_listen(p->rep, o->replay[i], o->tls, &l))
			return -EIO;
	}
	if (pthread_create(&p->rep_thread, NULL, replay_thread, p)) {
		nng_close(p->rep);
		p->rep_open = false;
		return -EAGAIN;
	}
	return 0;
}

int publisher_open(struct publisher **pp, const struct publisher_opts *o)
{
	struct publisher *p;
	int err;

	*pp = NULL;
	if (!wire_box_ok(o->box))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o = *o;
	snprintf(p->box, sizeof(p->box), "%s", o->box);
	p->o.box = p->box;
	if (o->ring_dir) {
		snprintf(p->ring_dir, sizeof(p->ring_dir), "%s", o->ring_dir);
		if (mkdir(p->ring_dir, 0700) && errno != EEXIST)
			pr_warn("replay ring directory %s: %s", p->ring_dir, strerror(errno));
	}
	p->o.ring_dir = NULL;
	pthread_mutex_init(&p->lock, NULL);
	err = ring_init(&p->ring, o->ring_len ? o->ring_len : 1, o->epoch);
	if (err) {
		free(p);
		return err;
	}
	p->ring_ok = true;
	err = open_pub(p);
	if (!err && o->nreplay)
		err = open_replay(p);
	if (err) {
		publisher_close(p, 0);
		return err;
	}
	*pp = p;
	return 0;
}

void publisher_close(struct publisher *p, int linger_ms)
{
	if (!p)
		return;
	if (p->rep_open) {
		p->rep_stop = 1;
		pthread_join(p->rep_thread, NULL);
		nng_close(p->rep);
	}
	if (p->pub_open) {
		if (linger_ms > 0)
			nng_msleep(linger_ms);	/* let the last messages leave */
		nng_close(p->pub);
	}
	if (p->ring_ok)
		ring_free(&p->ring);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

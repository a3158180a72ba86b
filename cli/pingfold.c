// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* pingfold: the command line over the aggregator's query API and views. */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include "common/cfgfile.h"
#include "common/jsonw.h"

#define DEF_SERVER	"tcp://127.0.0.1:7800"
#define DEF_VIEWS	"tcp://127.0.0.1:7801"

static const char usage[] =
"Usage: pingfold [OPTIONS] COMMAND [ARGS]\n"
"Latency of customers, sites and boxes, from a pingfold-aggregator.\n"
"\n"
"Commands:\n"
"  top [customers|sites]       worst first by a percentile, refreshing\n"
"  query customer|site|box ID  one entity over a window\n"
"  query fleet                 the whole fleet\n"
"  history customer|site|box ID, history fleet\n"
"                              its history from disk (--since, --until, --step)\n"
"  boxes                       boxes with their health\n"
"  customers | sites           what the aggregator knows\n"
"  watch [TOPIC]               the aggregator's view stream (topic prefix,\n"
"                              e.g. view/site/North; default everything)\n"
"\n"
"Options:\n"
"  -s, --server URL    query API (default " DEF_SERVER ")\n"
"  -V, --views URL     view stream for watch (default " DEF_VIEWS ")\n"
"  -w, --window W      10s, 1m, 5m (default), 15m, 1h\n"
"      --half H        access (default) or internet, for top\n"
"  -p, --percentile P  for top (default 95)\n"
"  -n, --count N       rows for top (default 10)\n"
"  -i, --every SECS    top refreshes every SECS (default 2)\n"
"      --once          top: print once and exit\n"
"  -j, --json          the aggregator's JSON answer, unchanged (implies --once)\n"
"      --since D       history: from D ago (24h, 7d; or unix seconds; default 1h)\n"
"      --until D       history: to D ago (default now)\n"
"      --step D        history: one row per D (5m, 1h; default the stored one)\n"
"  -h, --help\n"
"\n"
"Examples:\n"
"  pingfold top                      # worst 10 customers by access p95, 5 min\n"
"  pingfold top sites --half internet -p 99 -w 15m\n"
"  pingfold query customer 1001 -w 1h\n"
"  pingfold query site 'North/Tower 1' --json\n"
"  pingfold history customer 1001 --since 24h --step 1h\n"
"  pingfold history fleet --since 1h\n"
"  pingfold boxes\n"
"  pingfold watch view/site/\n";

struct opts {
	const char *server, *views, *window, *half, *pct;
	int count, every, once, json;
	const char *since, *until, *step;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* One request to the query API; the JSON answer, or NULL (error printed). */
static struct json_object *ask(const struct opts *o, const char **args, int n)
{
	struct json_object *ans = NULL, *err;
	struct json_tokener *tok;
	nng_socket req;
	struct jw w;
	char *in = NULL;
	size_t ilen = 0;
	int rc, i;

	jw_init(&w);
	jw_arr(&w);
	for (i = 0; i < n; i++)
		jw_str(&w, args[i]);
	jw_arr_end(&w);
	rc = nng_req0_open(&req);
	if (rc)
		goto out;
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 5000);
	nng_socket_set_ms(req, NNG_OPT_SENDTIMEO, 5000);
	nng_socket_set_size(req, NNG_OPT_RECVMAXSZ, 64 << 20);
	rc = nng_dial(req, o->server, NULL, 0);
	if (rc) {
		fprintf(stderr, "pingfold: cannot reach the aggregator at %s: %s\n", o->server,
			nng_strerror(rc));
		nng_close(req);
		jw_free(&w);
		return NULL;
	}
	rc = nng_send(req, w.buf, w.len, 0);
	rc = rc ?: nng_recv(req, &in, &ilen, NNG_FLAG_ALLOC);
	nng_close(req);
out:
	jw_free(&w);
	if (rc) {
		fprintf(stderr, "pingfold: aggregator at %s: %s\n", o->server, nng_strerror(rc));
		return NULL;
	}
	/* the answer is not NUL-terminated: parse exactly ilen bytes */
	tok = json_tokener_new();
	ans = tok && ilen <= INT_MAX ? json_tokener_parse_ex(tok, in, (int)ilen) : NULL;
	if (ans && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(ans);
		ans = NULL;
	}
	if (tok)
		json_tokener_free(tok);
	nng_free(in, ilen);
	if (!ans) {
		fprintf(stderr, "pingfold: the aggregator's answer is not JSON\n");
		return NULL;
	}
	if (json_object_object_get_ex(ans, "error", &err)) {
		fprintf(stderr, "pingfold: %s\n", json_object_get_string(err));
		json_object_put(ans);
		return NULL;
	}
	return ans;
}

static double num(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static void hist_row(const char *label, struct json_object *h)
{
	if (!num(h, "count")) {
		printf("  %-9s %10s\n", label, "0");
		return;
	}
	printf("  %-9s %10.0f %8.2f %8.2f %8.2f %8.2f %8.2f %9.2f\n", label, num(h, "count"),
	       num(h, "min_ms"), num(h, "p50_ms"), num(h, "p90_ms"), num(h, "p95_ms"),
	       num(h, "p99_ms"), num(h, "max_ms"));
}

static int cmd_query(const struct opts *o, int argc, char **argv)
{
	const char *args[3];
	struct json_object *ans, *halves, *h;
	int n = 0;

	if (argc < 1 || (strcmp(argv[0], "fleet") && argc < 2) ||
	    (strcmp(argv[0], "customer") && strcmp(argv[0], "site") && strcmp(argv[0], "box") &&
	     strcmp(argv[0], "fleet"))) {
		fprintf(stderr, "pingfold: query customer|site|box ID, or query fleet\n");
		return 2;
	}
	args[n++] = argv[0];
	if (strcmp(argv[0], "fleet"))
		args[n++] = argv[1];
	args[n++] = o->window;
	ans = ask(o, args, n);
	if (!ans)
		return 1;
	if (o->json) {
		print_json(ans);
	} else {
		printf("%s %s, last %s\n", argv[0], n == 3 ? argv[1] : "", str(ans, "window"));
		printf("  %-9s %10s %8s %8s %8s %8s %8s %9s\n", "half", "samples", "min ms",
		       "p50", "p90", "p95", "p99", "max");
		if (json_object_object_get_ex(ans, "halves", &halves)) {
			if (json_object_object_get_ex(halves, "access", &h))
				hist_row("access", h);
			if (json_object_object_get_ex(halves, "internet", &h))
				hist_row("internet", h);
		}
	}
	json_object_put(ans);
	return 0;
}

static void half_cells(struct json_object *pt, const char *half)
{
	struct json_object *h;

	if (!json_object_object_get_ex(pt, half, &h) || !num(h, "count")) {
		printf(" %9s %8s %8s %8s", "0", "-", "-", "-");
		return;
	}
	printf(" %9.0f %8.2f %8.2f %8.2f", num(h, "count"), num(h, "p50_ms"), num(h, "p95_ms"),
	       num(h, "p99_ms"));
}

/* history customer|site|box ID, history fleet */
static int cmd_history(const struct opts *o, int argc, char **argv)
{
	const char *args[7] = { "history" };
	struct json_object *ans, *pts;
	int n = 1, fleet;
	size_t i, np;

	if (argc < 1 || (strcmp(argv[0], "customer") && strcmp(argv[0], "site") &&
			 strcmp(argv[0], "box") && strcmp(argv[0], "fleet"))) {
		fprintf(stderr, "pingfold: history customer|site|box ID, or history fleet\n");
		return 2;
	}
	fleet = !strcmp(argv[0], "fleet");
	if (!fleet && argc < 2) {
		fprintf(stderr, "pingfold: history %s: which one?\n", argv[0]);
		return 2;
	}
	args[n++] = argv[0];
	if (!fleet)
		args[n++] = argv[1];
	args[n++] = o->since ? o->since : "1h";
	args[n++] = o->until ? o->until : "0s";
	if (o->step)
		args[n++] = o->step;
	ans = ask(o, args, n);
	if (!ans)
		return 1;
	if (o->json) {
		print_json(ans);
		json_object_put(ans);
		return 0;
	}
	printf("%s %s: history, one row per %.0f s (stored per %.0f s)\n", argv[0],
	       fleet ? "" : argv[1], num(ans, "step_s"), num(ans, "res_s"));
	printf("  %-19s %9s %8s %8s %8s %9s %8s %8s %8s\n", "time (UTC)", "access", "p50 ms",
	       "p95", "p99", "internet", "p50 ms", "p95", "p99");
	np = json_object_object_get_ex(ans, "points", &pts) ? json_object_array_length(pts) : 0;
	for (i = 0; i < np; i++) {
		struct json_object *pt = json_object_array_get_idx(pts, i);
		time_t t = (time_t)num(pt, "t");
		char when[32];
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
		printf("  %-19s", when);
		half_cells(pt, "access");
		half_cells(pt, "internet");
		printf("\n");
	}
	if (!np)
		printf("  (nothing in this range)\n");
	json_object_put(ans);
	return 0;
}

static int top_once(const struct opts *o, const char *what)
{
	char pct[16], cnt[16];
	const char *args[] = { "top", what, o->half, pct, cnt, o->window };
	struct json_object *ans, *items;
	bool customers = !strcmp(what, "customer");
	size_t i, n;

	snprintf(pct, sizeof(pct), "p%s", o->pct);
	snprintf(cnt, sizeof(cnt), "%d", o->count);
	ans = ask(o, args, 6);
	if (!ans)
		return 1;
	if (o->json) {
		print_json(ans);
		json_object_put(ans);
		return 0;
	}
	printf("worst %ss by %s p%s over %s\n", what, o->half, o->pct, str(ans, "window"));
	if (customers)
		printf("  %-4s %-20s %-24s %12s %10s\n", "#", what, "name", "ms", "samples");
	else
		printf("  %-4s %-45s %12s %10s\n", "#", what, "ms", "samples");
	if (json_object_object_get_ex(ans, "items", &items)) {
		n = json_object_array_length(items);
		for (i = 0; i < n; i++) {
			struct json_object *it = json_object_array_get_idx(items, i);

			/* a customer's Circuit Name beside its id, where a catalog has one */
			if (customers)
				printf("  %-4zu %-20.20s %-24.24s %12.2f %10.0f\n", i + 1,
				       str(it, "name"), str(it, "title"), num(it, "value_ms"),
				       num(it, "count"));
			else
				printf("  %-4zu %-45.45s %12.2f %10.0f\n", i + 1, str(it, "name"),
				       num(it, "value_ms"), num(it, "count"));
		}
		if (!n)
			printf("  (no samples yet)\n");
	}
	json_object_put(ans);
	fflush(stdout);
	return 0;
}

static int cmd_top(const struct opts *o, int argc, char **argv)
{
	const char *what = "customer";
	int rc;

	if (argc >= 1) {
		if (!strcmp(argv[0], "customers") || !strcmp(argv[0], "customer"))
			what = "customer";
		else if (!strcmp(argv[0], "sites") || !strcmp(argv[0], "site"))
			what = "site";
		else {
			fprintf(stderr, "pingfold: top customers or top sites, not '%s'\n", argv[0]);
			return 2;
		}
	}
	for (;;) {
		if (!o->once && !o->json && isatty(1))
			printf("\033[H\033[2J");
		rc = top_once(o, what);
		if (rc || o->once || o->json || stop)
			return rc;
		sleep((unsigned)o->every);
		if (stop)
			return 0;
	}
}

static int cmd_boxes(const struct opts *o)
{
	const char *args[] = { "boxes" };
	struct json_object *ans = ask(o, args, 1), *boxes;
	size_t i, n;

	if (!ans)
		return 1;
	if (o->json) {
		print_json(ans);
		json_object_put(ans);
		return 0;
	}
	printf("  %-20s %-6s %10s %9s %8s %6s %9s %6s %6s %6s\n", "box", "health", "last seq",
	       "seen ago", "deltas", "gaps", "recovered", "lost", "reatt", "blind");
	if (json_object_object_get_ex(ans, "boxes", &boxes)) {
		n = json_object_array_length(boxes);
		for (i = 0; i < n; i++) {
			struct json_object *b = json_object_array_get_idx(boxes, i), *st;
			bool stale = json_object_object_get_ex(b, "stale", &st) &&
				     json_object_get_boolean(st);

			struct json_object *hs = NULL;
			double reatt = 0, blind = 0, now_blind = 0;

			/* the agent's hook health (docs/operations.md, "A LibreQoS box") */
			if (json_object_object_get_ex(b, "stats", &hs)) {
				reatt = num(hs, "hook_reattached");
				blind = num(hs, "hook_blind_intervals");
				now_blind = num(hs, "hook_missing") + num(hs, "hook_not_first") +
					    num(hs, "hook_not_running");
			}
			printf("  %-20s %-6s %10.0f %8.1fs %8.0f %6.0f %9.0f %6.0f %6.0f %6.0f\n",
			       str(b, "box"), stale ? "STALE" : now_blind > 0 ? "BLIND" : "ok",
			       num(b, "last_seq"), num(b, "last_seen_s_ago"), num(b, "deltas"),
			       num(b, "gaps"), num(b, "recovered"), num(b, "lost"), reatt, blind);
		}
	}
	json_object_put(ans);
	return 0;
}

static int cmd_list(const struct opts *o, const char *what)
{
	const char *args[] = { what };
	struct json_object *ans = ask(o, args, 1), *arr;
	size_t i, n;

	if (!ans)
		return 1;
	if (o->json) {
		print_json(ans);
	} else if (json_object_object_get_ex(ans, what, &arr)) {
		n = json_object_array_length(arr);
		for (i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(arr, i);

			if (json_object_is_type(e, json_type_string))
				printf("%s\n", json_object_get_string(e));
			else
				printf("%-20s %-30s %s\n", str(e, "id"), str(e, "site"), str(e, "name"));
		}
	}
	json_object_put(ans);
	return 0;
}

static int cmd_watch(const struct opts *o, int argc, char **argv)
{
	const char *topic = argc ? argv[0] : "";
	nng_socket sub;
	nng_aio *aio;
	int rc, got = 0, waited = 0;

	rc = nng_sub0_open(&sub);
	rc = rc ?: nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, topic, strlen(topic));
	rc = rc ?: nng_socket_set_size(sub, NNG_OPT_RECVMAXSZ, 16 << 20);
	/* non-blocking: watching may start before the aggregator does */
	rc = rc ?: nng_dial(sub, o->views, NULL, NNG_FLAG_NONBLOCK);
	if (rc) {
		fprintf(stderr, "pingfold: view stream %s: %s\n", o->views, nng_strerror(rc));
		return 1;
	}
	if (nng_aio_alloc(&aio, NULL, NULL))
		return 1;
	while (!stop) {
		if (!got && ++waited == 6)
			fprintf(stderr, "pingfold: nothing from %s yet (is the aggregator "
				"running with --views?)\n", o->views);
		nng_msg *m;
		const char *body;
		size_t len, tl;

		nng_aio_set_timeout(aio, 500);
		nng_recv_aio(sub, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio))
			continue;
		m = nng_aio_get_msg(aio);
		got = 1;
		body = nng_msg_body(m);
		len = nng_msg_len(m);
		tl = strnlen(body, len);
		if (tl < len)
			printf("%s %.*s\n", body, (int)(len - tl - 1), body + tl + 1);
		fflush(stdout);
		nng_msg_free(m);
	}
	nng_aio_free(aio);
	nng_close(sub);
	return 0;
}

static int parse_int(const char *opt, const char *s, long min, long max, int *out)
{
	struct cfg_err e;
	uint64_t v;

	if (cfg_u64(opt, s, (uint64_t)min, (uint64_t)max, &v, &e)) {
		fprintf(stderr, "pingfold: %s\n", e.msg);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' }, { "views", required_argument, NULL, 'V' },
		{ "window", required_argument, NULL, 'w' }, { "half", required_argument, NULL, 1 },
		{ "percentile", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' }, { "every", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, 2 }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { "since", required_argument, NULL, 3 },
		{ "until", required_argument, NULL, 4 }, { "step", required_argument, NULL, 5 },
		{ 0 }
	};
	struct opts o = { DEF_SERVER, DEF_VIEWS, "5m", "access", "95", 10, 2, 0, 0, NULL, NULL, NULL };
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "s:V:w:p:n:i:jh", lo, NULL)) != -1) {
		switch (c) {
		case 's': o.server = optarg; break;
		case 'V': o.views = optarg; break;
		case 'w': o.window = optarg; break;
		case 1:
			if (strcmp(optarg, "access") && strcmp(optarg, "internet")) {
				fprintf(stderr, "pingfold: --half access or internet\n");
				return 2;
			}
			o.half = optarg;
			break;
		case 'p':
			strtod(optarg, &end);
			if (*end || end == optarg) {
				fprintf(stderr, "pingfold: --percentile: '%s' is not a number\n", optarg);
				return 2;
			}
			o.pct = optarg;
			break;
		case 'n':
			if (parse_int("--count", optarg, 1, 1000, &o.count))
				return 2;
			break;
		case 'i':
			if (parse_int("--every", optarg, 1, 3600, &o.every))
				return 2;
			break;
		case 2: o.once = 1; break;
		case 3: o.since = optarg; break;
		case 4: o.until = optarg; break;
		case 5: o.step = optarg; break;
		case 'j': o.json = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs("Try 'pingfold --help'.\n", stderr); return 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	argv += optind;
	argc -= optind;
	if (!strcmp(argv[0], "top"))
		return cmd_top(&o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "query"))
		return cmd_query(&o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "history"))
		return cmd_history(&o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "boxes"))
		return cmd_boxes(&o);
	if (!strcmp(argv[0], "customers") || !strcmp(argv[0], "sites"))
		return cmd_list(&o, argv[0]);
	if (!strcmp(argv[0], "watch"))
		return cmd_watch(&o, argc - 1, argv + 1);
	fprintf(stderr, "pingfold: unknown command '%s'\n", argv[0]);
	return 2;
}

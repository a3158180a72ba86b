// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* aggregator/query.c: the typed request, its errors, and the JSON edge. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include "aggregator/query.h"

static int parse(struct query *q, char *why, int n, ...)
{
	const char *a[QUERY_ARGS_MAX + 2];
	va_list ap;
	int i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		a[i] = va_arg(ap, const char *);
	va_end(ap);
	return query_parse(a, n, q, why, 300);
}

Test(query, parse_defaults_and_words)
{
	struct query q;
	char why[300];

	cr_assert_eq(parse(&q, why, 2, "customer", "c1"), 0);
	cr_assert_eq(q.kind, QUERY_CUSTOMER);
	cr_assert_str_eq(q.name, "c1");
	cr_assert_eq(q.win, STORE_W5M);
	cr_assert_eq(parse(&q, why, 2, "fleet", "1h"), 0);
	cr_assert_eq(q.win, STORE_W1H);
	cr_assert_eq(parse(&q, why, 6, "top", "site", "internet", "p99", "25", "15m"), 0);
	cr_assert_eq(q.kind, QUERY_TOP);
	cr_assert_eq(q.of, STORE_SITE);
	cr_assert_eq(q.half, PF_HALF_INTERNET);
	cr_assert_float_eq(q.q, 0.99, 1e-12);
	cr_assert_eq(q.n, 25);
	cr_assert_eq(q.win, STORE_W15M);
	cr_assert_eq(parse(&q, why, 2, "top", "customer"), 0);
	cr_assert(q.n == 10 && q.half == PF_HALF_ACCESS && q.q == 0.95);
	cr_assert_eq(parse(&q, why, 1, "customers"), 0);
	cr_assert_eq(q.kind, QUERY_CUSTOMERS);
}

Test(query, parse_errors_say_what)
{
	struct query q;
	char why[300];

	cr_assert_eq(parse(&q, why, 1, "nonsense"), -EINVAL);
	cr_assert_str_eq(why, "unknown request 'nonsense'");
	cr_assert_eq(parse(&q, why, 1, "site"), -EINVAL);
	cr_assert_str_eq(why, "site: which one?");
	cr_assert_eq(parse(&q, why, 3, "box", "b", "2d"), -EINVAL);
	cr_assert_str_eq(why, "unknown window '2d' (10s, 1m, 5m, 15m, 1h)");
	cr_assert_eq(parse(&q, why, 3, "top", "customer", "1001"), -EINVAL);
	cr_assert_str_eq(why, "top: N must be 1..1000, not '1001'");
	cr_assert_eq(parse(&q, why, 3, "top", "customer", "p0"), -EINVAL);
	cr_assert_eq(parse(&q, why, 3, "top", "box"), -EINVAL);
	cr_assert_str_eq(why, "top: customer or site");
	cr_assert_eq(parse(&q, why, 9, "top", "customer", "a", "a", "a", "a", "a", "a", "a"),
		     -EINVAL);
}

Test(query, run_returns_enoent_for_an_unknown_entity)
{
	struct store_opts o;
	struct store *s;
	struct query q;
	char why[300];
	struct jw w;

	store_opts_default(&o);
	cr_assert_eq(store_open(&s, &o), 0);
	cr_assert_eq(parse(&q, why, 2, "site", "Nowhere"), 0);
	jw_init(&w);
	cr_assert_eq(query_run(s, NULL, NULL, &q, 1700000000ULL * 1000000000ULL, &w), -ENOENT);
	cr_assert_eq(strncmp(w.buf, "{\"error\":\"no such site\"}", w.len), 0, "%.*s", (int)w.len,
		     w.buf);
	jw_free(&w);
	jw_init(&w);
	cr_assert_eq(parse(&q, why, 1, "fleet"), 0);
	cr_assert_eq(query_run(s, NULL, NULL, &q, 1700000000ULL * 1000000000ULL, &w), 0);
	cr_assert(strstr(w.buf, "\"kind\":\"fleet\"") && !strstr(w.buf, "\"name\""));
	jw_free(&w);
	store_close(s);
}

Test(query, the_json_edge)
{
	static const char *const bad[] = { "{}", "[]", "[1]", "[\"fleet\"", "" };
	struct store_opts o;
	struct store *s;
	struct jw w;
	size_t i;

	store_opts_default(&o);
	cr_assert_eq(store_open(&s, &o), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		jw_init(&w);
		cr_assert_eq(query_answer(s, NULL, NULL, bad[i], strlen(bad[i]), 0, &w), -EINVAL, "%s",
			     bad[i]);
		cr_assert(strstr(w.buf, "\"error\""));
		jw_free(&w);
	}
	jw_init(&w);
	cr_assert_eq(query_answer(s, NULL, NULL, "[\"sites\"]", 9, 0, &w), 0);
	cr_assert_eq(strncmp(w.buf, "{\"sites\":[]}", w.len), 0);
	jw_free(&w);
	store_close(s);
}

Test(query, parse_heatmap)
{
	struct query q;
	char why[300];

	cr_assert_eq(parse(&q, why, 9, "heatmap", "customers", "North", "24h", "0s", "15m",
			   "internet", "p99", "worst=40"), 0, "%s", why);
	cr_assert_eq(q.kind, QUERY_HEATMAP);
	cr_assert_eq(q.ekind, STORE_E_CUSTOMER);
	cr_assert_str_eq(q.name, "North");
	cr_assert_str_eq(q.from, "24h");
	cr_assert_str_eq(q.to, "0s");
	cr_assert_str_eq(q.step, "15m");
	cr_assert_eq(q.half, PF_HALF_INTERNET);
	cr_assert_float_eq(q.q, 0.99, 1e-12);
	cr_assert_eq(q.worst, 40);
	cr_assert_eq(parse(&q, why, 3, "heatmap", "sites", ""), 0);
	cr_assert_eq(q.worst, 0);
	cr_assert_eq(parse(&q, why, 4, "heatmap", "sites", "", "worst=0"), -EINVAL);
	cr_assert_str_eq(why, "heatmap: worst=N with N 1..10000, not 'worst=0'");
	cr_assert_eq(parse(&q, why, 4, "heatmap", "sites", "", "worst=9x"), -EINVAL);
	cr_assert_eq(parse(&q, why, 4, "heatmap", "sites", "", "worst=10001"), -EINVAL);
	cr_assert_eq(parse(&q, why, 3, "heatmap", "boxes", ""), -EINVAL);
}

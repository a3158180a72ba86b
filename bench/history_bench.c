// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Durable history on disk (aggregator/history.c, SQLite in WAL mode):
 *   1. one day of points as the store gives them, for CUSTOMERS customers
 *      (both halves per five minutes) in SITES sites (per minute), plus
 *      the fleet: the writer thread's CPU per point, the file's growth per
 *      1,000 customers per day, and what that makes at 100,000 customers
 *      (as a share of one core);
 *   2. seven days of hourly customer points before that day, then reads:
 *      one customer over 7 days (hourly) and over 24 h (five minutes), a
 *      heatmap of a site's customers and of all sites over 24 h (the query
 *      API's own code), each the median of 5 runs, against the baseline
 *      of reading the same rows with a bare SELECT of the blobs.
 *
 * usage: history_bench [CUSTOMERS [SITES]]   (default 1000 20)
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "aggregator/history.h"
#include "aggregator/query.h"
#include "bench/synth.h"
#include "tests/lib/points.h"

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void put(struct store_points *p, uint8_t kind, const char *name, const char *site,
		uint8_t half, uint32_t res, uint64_t start, const struct hist *h)
{
	if (pts_add(p, kind, name, site, half, res, start, h)) {
		fprintf(stderr, "history_bench: out of memory\n");
		exit(1);
	}
}

/* A half's histogram as the store would give it: a period of a customer. */
static void draw(struct hist *h, uint32_t who, unsigned half, unsigned periods)
{
	struct hist_sparse sp;
	unsigned k;

	hist_init(h);
	for (k = 0; k < periods; k++) {
		syn_hist(&sp, who, half);
		hist_merge_sparse(h, &sp);
	}
}

static double file_mb(const char *dir)
{
	char p[512];
	struct stat sb;
	double t = 0;

	snprintf(p, sizeof(p), "%s/history.db", dir);
	if (!stat(p, &sb))
		t += (double)sb.st_size;
	snprintf(p, sizeof(p), "%s/history.db-wal", dir);
	if (!stat(p, &sb))
		t += (double)sb.st_size;
	return t / 1e6;
}

/* Median wall ms of 5 runs of a query through the query API's code. */
static double query_ms(struct history *h, const char *const *words, int n, size_t *bytes)
{
	double v[5];
	struct query q;
	char why[200];
	int r;

	if (query_parse(words, n, &q, why, sizeof(why))) {
		fprintf(stderr, "history_bench: %s\n", why);
		exit(1);
	}
	for (r = 0; r < 5; r++) {
		struct jw w;
		double t0 = wall_s();

		jw_init(&w);
		if (query_run(NULL, NULL, h, &q, (uint64_t)time(NULL) * 1000000000ULL, &w)) {
			fprintf(stderr, "history_bench: query failed: %.*s\n", (int)w.len, w.buf);
			exit(1);
		}
		v[r] = (wall_s() - t0) * 1e3;
		*bytes = w.len;
		jw_free(&w);
	}
	return syn_median(v, 5);
}

/* Baseline: the same rows of one entity by a bare SELECT of their blobs. */
static double select_ms(const char *dir, const char *name, uint32_t res, uint64_t from,
			uint64_t to, size_t *rows)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	double v[5];
	int r;

	snprintf(path, sizeof(path), "%s/history.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ||
	    sqlite3_prepare_v2(db, "SELECT p.h FROM point p JOIN entity e ON e.id = p.entity "
			       "WHERE e.kind = 3 AND e.name = ? AND p.res = ? AND p.t >= ? AND "
			       "p.t < ?", -1, &st, NULL)) {
		fprintf(stderr, "history_bench: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	for (r = 0; r < 5; r++) {
		double t0 = wall_s();
		size_t bytes = 0;

		*rows = 0;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)res);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)from);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)to);
		while (sqlite3_step(st) == SQLITE_ROW) {
			bytes += (size_t)sqlite3_column_bytes(st, 0);
			(*rows)++;
		}
		sqlite3_reset(st);
		v[r] = (wall_s() - t0) * 1e3 + (double)(bytes & 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return syn_median(v, 5);
}

int main(int argc, char **argv)
{
	long custs = syn_arg("history_bench", argc, argv, 1, 1000);
	long sites = syn_arg("history_bench", argc, argv, 2, 20), c, k;
	uint64_t now = (uint64_t)time(NULL), day0 = now - now % 3600 - 86400, t;
	char dir[] = "/tmp/pf-history-bench-XXXXXX", name[64], site[64], err[512];
	struct history_stats st;
	struct history *h;
	struct hist x;
	double mb0, mb1, w0;
	unsigned half;

	if (!mkdtemp(dir) || history_open(&h, dir, NULL, err, sizeof(err))) {
		fprintf(stderr, "history_bench: %s\n", err);
		return 1;
	}
	printf("history_bench: %ld customers in %ld sites, one day per five minutes (and per "
	       "minute for sites), seven days per hour before it; %s\n", custs, sites, dir);
	/* seven days of hourly customer points before the day */
	for (t = day0 - 7 * 86400; t < day0; t += 3600) {
		struct store_points *p = calloc(1, sizeof(*p));

		for (c = 0; c < custs; c++) {
			snprintf(name, sizeof(name), "c%ld", c);
			snprintf(site, sizeof(site), "Region %ld/AP %ld", c % sites % 4, c % sites);
			for (half = 0; half < PF_NHALVES; half++) {
				draw(&x, (uint32_t)c, half, 2);
				put(p, STORE_E_CUSTOMER, name, site, (uint8_t)half, 3600, t, &x);
			}
		}
		history_put(h, p);
		history_flush(h, 600000);
	}
	history_flush(h, 600000);
	history_get_stats(h, &st);
	mb0 = file_mb(dir);
	w0 = (double)st.write_ns;
	/* one day as the store gives it: sites every minute, customers every five */
	for (t = day0; t < day0 + 86400; t += 60) {
		struct store_points *p = calloc(1, sizeof(*p));

		for (k = 0; k < sites; k++) {
			snprintf(site, sizeof(site), "Region %ld/AP %ld", k % 4, k);
			for (half = 0; half < PF_NHALVES; half++) {
				draw(&x, (uint32_t)k, half, 6);
				put(p, STORE_E_SITE, site, "", (uint8_t)half, 60, t, &x);
			}
		}
		for (half = 0; half < PF_NHALVES; half++) {
			draw(&x, 7, half, 6);
			put(p, STORE_E_FLEET, "", "", (uint8_t)half, 60, t, &x);
		}
		history_put(h, p);
		if (t % 300 == 240) {	/* the five minutes close with their last minute */
			p = calloc(1, sizeof(*p));
			for (c = 0; c < custs; c++) {
				snprintf(name, sizeof(name), "c%ld", c);
				snprintf(site, sizeof(site), "Region %ld/AP %ld", c % sites % 4,
					 c % sites);
				for (half = 0; half < PF_NHALVES; half++) {
					draw(&x, (uint32_t)c, half, 3);
					put(p, STORE_E_CUSTOMER, name, site, (uint8_t)half, 300,
					    t - 240, &x);
				}
			}
			history_put(h, p);
		}
		history_flush(h, 600000);
	}
	history_get_stats(h, &st);
	mb1 = file_mb(dir);
	{
		double per_pt = ((double)st.write_ns - w0) /
				(double)(st.points - (uint64_t)(7 * 24 * custs * 2));
		double cust_pts = 288.0 * 2 * (double)custs, site_pts = 1440.0 * 2 * (sites + 1);
		double day_ns = per_pt * (cust_pts + site_pts);
		double at100k = per_pt * (288.0 * 2 * 100000 + site_pts) / 86400e9 * 100;

		printf("writing: %.2f us of the writer's CPU per point (%llu points, %llu hourly "
		       "sums, %llu pruned, %llu errors)\n", per_pt / 1e3,
		       (unsigned long long)st.points, (unsigned long long)st.rollups,
		       (unsigned long long)st.pruned, (unsigned long long)st.errors);
		printf("one day: %.1f s of CPU for %ld customers; at 100,000 customers %.3f%% of "
		       "one core (target <= 2%%)\n", day_ns / 1e9, custs, at100k);
		printf("disk: %.1f MB per 1,000 customers per day (five minutes, hourly sums and "
		       "their sites); the file is %.1f MB\n", (mb1 - mb0) * 1000.0 / (double)custs,
		       mb1);
	}
	{
		char from7[32], from1[32];
		const char *w7[] = { "history", "customer", "c17", from7, "0s" };
		const char *w1[] = { "history", "customer", "c17", from1, "0s" };
		const char *hm[] = { "heatmap", "customers", "Region 1/AP 5", from1, "0s" };
		const char *hs[] = { "heatmap", "sites", "", from1, "0s" };
		double b7, b1, q7, q1, m1, m2;
		size_t r7, r1, by;

		snprintf(from7, sizeof(from7), "%llu", (unsigned long long)(day0 - 6 * 86400));
		snprintf(from1, sizeof(from1), "%llu", (unsigned long long)day0);
		b7 = select_ms(dir, "c17", 3600, day0 - 6 * 86400, now, &r7);
		b1 = select_ms(dir, "c17", 300, day0, now, &r1);
		q7 = query_ms(h, w7, 5, &by);
		printf("one customer over 7 days (%zu hourly points): %.2f ms (%.2fx the bare "
		       "SELECT, %.2f ms; target <= 50 ms), %zu bytes of JSON\n", r7 / 2, q7,
		       q7 / b7, b7, by);
		q1 = query_ms(h, w1, 5, &by);
		printf("one customer over 24 h (%zu five-minute points): %.2f ms (%.2fx the bare "
		       "SELECT, %.2f ms)\n", r1 / 2, q1, q1 / b1, b1);
		m1 = query_ms(h, hm, 5, &by);
		printf("heatmap of a site's %ld customers over 24 h: %.1f ms (target <= 200 ms), "
		       "%zu bytes\n", custs / sites, m1, by);
		m2 = query_ms(h, hs, 5, &by);
		printf("heatmap of all %ld sites over 24 h: %.1f ms (target <= 200 ms), %zu bytes\n",
		       sites, m2, by);
	}
	history_close(h);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	if (system(err))
		fprintf(stderr, "history_bench: could not remove %s\n", dir);
	return 0;
}

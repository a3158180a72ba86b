// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Tests of aggregator/history.c on a real SQLite file: points in and out
 * exact, a point given again replaces the one before, hourly customer
 * points summed from their five minutes, retention, a foreign or damaged
 * file refused and left as it was, and a crash at every write the store
 * makes (a VFS shim that ends the process at its Nth write or sync):
 * the file opens again, what was committed is all there, the batch in
 * flight is there whole or not at all, and the next open says so.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "aggregator/history.h"
#include "aggregator/query.h"
#include "common/hblob.h"
#include "tests/lib/points.h"
#include "tests/lib/rng.h"

#define MS		1000000ULL

static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pf-history-XXXXXX");
	cr_assert(mkdtemp(dir));
}

static void rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* A histogram of n samples around base. */
static void synth(struct hist *h, uint64_t base, unsigned n)
{
	unsigned i;

	hist_init(h);
	for (i = 0; i < n; i++)
		hist_add(h, base + rnd() % (base / 2 + 1));
}

static void add_point(struct store_points *p, uint8_t kind, const char *name, const char *site,
		      uint8_t half, uint32_t res, uint64_t start, const struct hist *h)
{
	cr_assert_eq(pts_add(p, kind, name, site, half, res, start, h), 0);
}

static struct store_points *points_new(void)
{
	struct store_points *p = calloc(1, sizeof(*p));

	cr_assert(p);
	return p;
}

static struct history *open_ok(void)
{
	struct history *h;
	char err[512];

	cr_assert_eq(history_open(&h, dir, NULL, err, sizeof(err)), 0, "%s", err);
	return h;
}

static void check_equal(const struct hist *a, const struct hist *b, const char *what)
{
	cr_assert(hist_equal(a, b), "%s: count %llu/%llu sum %llu/%llu", what,
		  (unsigned long long)a->count, (unsigned long long)b->count,
		  (unsigned long long)a->sum, (unsigned long long)b->sum);
}

/* Now, rounded down to an hour, minus two hours: every period closed. */
static uint64_t base_hour(void)
{
	uint64_t t = (uint64_t)time(NULL);

	return t - t % 3600 - 7200;
}

Test(history, points_in_and_out_exact, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct history *h = open_ok();
	struct store_points *p = points_new();
	struct hist want[3][PF_NHALVES], again;
	struct history_pt *v;
	struct history_stats st;
	uint64_t t0 = base_hour();
	uint32_t res, step;
	size_t n, i;
	char **names;

	for (i = 0; i < 3; i++) {
		synth(&want[i][0], 5 * MS, 50);
		synth(&want[i][1], 40 * MS, 30);
		add_point(p, STORE_E_SITE, "North/Tower 1", "", 0, 60, t0 + 60 * i, &want[i][0]);
		add_point(p, STORE_E_SITE, "North/Tower 1", "", 1, 60, t0 + 60 * i, &want[i][1]);
	}
	add_point(p, STORE_E_SITE, "North", "", 0, 60, t0, &want[0][0]);
	add_point(p, STORE_E_SITE, "South", "", 0, 60, t0, &want[0][0]);
	add_point(p, STORE_E_CUSTOMER, "1001", "North/Tower 1", 0, 300, t0, &want[0][0]);
	add_point(p, STORE_E_CUSTOMER, "1002", "South", 0, 300, t0, &want[0][0]);
	history_put(h, p);
	cr_assert_eq(history_flush(h, 5000), 0);
	cr_assert_eq(history_read(h, STORE_E_SITE, "North/Tower 1", t0, t0 + 180, 0, &res, &step,
				  &v, &n), 0);
	cr_assert_eq(res, 60);
	cr_assert_eq(step, 60);
	cr_assert_eq(n, 3);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(v[i].t_s, t0 + 60 * i);
		check_equal(&v[i].h[0], &want[i][0], "access");
		check_equal(&v[i].h[1], &want[i][1], "internet");
	}
	free(v);
	/* steps of 3 minutes merge the three */
	cr_assert_eq(history_read(h, STORE_E_SITE, "North/Tower 1", t0, t0 + 180, 180, &res, &step,
				  &v, &n), 0);
	cr_assert_eq(n, 1);
	hist_init(&again);
	for (i = 0; i < 3; i++)
		hist_merge(&again, &want[i][1]);
	check_equal(&v[0].h[1], &again, "merged internet");
	free(v);
	/* a point given again (a replayed period) replaces the one before */
	p = points_new();
	synth(&again, 9 * MS, 77);
	add_point(p, STORE_E_SITE, "North/Tower 1", "", 0, 60, t0 + 60, &again);
	history_put(h, p);
	cr_assert_eq(history_flush(h, 5000), 0);
	cr_assert_eq(history_read(h, STORE_E_SITE, "North/Tower 1", t0 + 60, t0 + 120, 0, &res,
				  &step, &v, &n), 0);
	cr_assert_eq(n, 1);
	check_equal(&v[0].h[0], &again, "replaced");
	free(v);
	/* names for heatmaps: sites under a path; customers by their site */
	cr_assert_eq(history_names(h, STORE_E_SITE, "North", &names, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(names[0], "North");
	cr_assert_str_eq(names[1], "North/Tower 1");
	while (n)
		free(names[--n]);
	free(names);
	cr_assert_eq(history_names(h, STORE_E_CUSTOMER, "North", &names, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(names[0], "1001");
	free(names[0]);
	free(names);
	cr_assert_eq(history_read(h, STORE_E_SITE, "Nowhere", t0, t0 + 60, 0, &res, &step, &v, &n),
		     0);
	cr_assert_eq(n, 0);
	free(v);
	history_get_stats(h, &st);
	cr_assert_eq(st.points, 11);
	cr_assert_eq(st.errors, 0);
	history_close(h);
	/* and after a restart */
	h = open_ok();
	cr_assert_eq(history_read(h, STORE_E_SITE, "North/Tower 1", t0, t0 + 60, 0, &res, &step,
				  &v, &n), 0);
	cr_assert_eq(n, 1);
	check_equal(&v[0].h[1], &want[0][1], "after a restart");
	free(v);
	history_close(h);
}

Test(history, hourly_customer_points, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct history_opts o;
	struct history *h;
	struct store_points *p = points_new();
	struct hist five, sum;
	struct history_pt *v;
	struct history_stats st;
	uint64_t t0 = base_hour() - 3 * 86400;	/* older than the five minutes are read */
	uint32_t res, step, k;
	size_t n;
	char err[256];

	history_opts_default(&o);
	o.customer_5m_hours = 1000;		/* kept, but read per hour: see below */
	cr_assert_eq(history_open(&h, dir, &o, err, sizeof(err)), 0, "%s", err);
	hist_init(&sum);
	for (k = 0; k < 12; k++) {
		synth(&five, (2 + k) * MS, 10 + k);
		hist_merge(&sum, &five);
		add_point(p, STORE_E_CUSTOMER, "c1", "", 0, 300, t0 + 300 * k, &five);
		if (k == 10) {		/* the hour is not complete yet */
			history_put(h, p);
			cr_assert_eq(history_flush(h, 5000), 0);
			history_get_stats(h, &st);
			cr_assert_eq(st.rollups, 0);
			p = points_new();
		}
	}
	history_put(h, p);
	cr_assert_eq(history_flush(h, 5000), 0);
	history_get_stats(h, &st);
	cr_assert_eq(st.rollups, 1);
	history_close(h);
	history_opts_default(&o);		/* 48 h: three days ago is read per hour */
	cr_assert_eq(history_open(&h, dir, &o, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(history_read(h, STORE_E_CUSTOMER, "c1", t0, t0 + 3600, 0, &res, &step, &v,
				  &n), 0);
	cr_assert_eq(res, 3600);
	cr_assert_eq(n, 1);
	check_equal(&v[0].h[0], &sum, "the hour");
	free(v);
	history_close(h);
}

/* The answer to a request of words, parsed back. */
static struct json_object *ask_json(struct history *h, const char *const *a, int n)
{
	struct json_object *o;
	struct query q;
	char why[300];
	struct jw w;

	cr_assert_eq(query_parse(a, n, &q, why, sizeof(why)), 0, "%s", why);
	jw_init(&w);
	cr_assert_eq(query_run(NULL, NULL, h, &q, (uint64_t)time(NULL) * 1000000000ULL, &w), 0,
		     "%s", w.buf);
	o = json_tokener_parse(w.buf);
	cr_assert(o, "not JSON: %s", w.buf);
	jw_free(&w);
	return o;
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v;

	cr_assert(json_object_object_get_ex(o, key, &v), "no %s", key);
	return v;
}

/*
 * A heatmap of customers (kept per five minutes) asked per minute from a
 * time that is no multiple of five minutes: each row starts on its own
 * step, its cells are its points' p95; worst=1 keeps the row with the
 * highest cell; a row whose points have no sample of the half counts
 * but has no value.
 */
Test(history, heatmap_rows_aligned_and_worst_first, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct history *h = open_ok();
	struct store_points *p = points_new();
	struct hist a1, a2, i3;
	struct json_object *o, *rows, *r, *v;
	uint64_t t0 = base_hour();
	char from[24], to[24];
	double want;

	synth(&a1, 5 * MS, 40);
	synth(&a2, 80 * MS, 40);
	synth(&i3, 30 * MS, 40);
	add_point(p, STORE_E_CUSTOMER, "c1", "S", 0, 300, t0 + 300, &a1);
	add_point(p, STORE_E_CUSTOMER, "c2", "S", 0, 300, t0 + 300, &a2);
	add_point(p, STORE_E_CUSTOMER, "c3", "S", 1, 300, t0 + 600, &i3);
	add_point(p, STORE_E_CUSTOMER, "x9", "T", 0, 300, t0 + 300, &a2);
	history_put(h, p);
	cr_assert_eq(history_flush(h, 5000), 0);
	snprintf(from, sizeof(from), "%llu", (unsigned long long)(t0 + 120));
	snprintf(to, sizeof(to), "%llu", (unsigned long long)(t0 + 900));

	o = ask_json(h, (const char *[]){ "heatmap", "customers", "S", from, to, "60", "access",
					  "p95" }, 8);
	cr_assert_eq(json_object_get_int64(jget(o, "rows_total")), 3);
	rows = jget(o, "rows");
	cr_assert_eq(json_object_array_length(rows), 3);
	r = json_object_array_get_idx(rows, 0);		/* by name without worst= */
	cr_assert_str_eq(json_object_get_string(jget(r, "name")), "c1");
	cr_assert_eq((uint64_t)json_object_get_int64(jget(r, "from")), t0);
	cr_assert_eq(json_object_get_int64(jget(r, "step_s")), 300);
	v = jget(r, "values");
	cr_assert_eq(json_object_array_length(v), 3);
	cr_assert(json_object_is_type(json_object_array_get_idx(v, 0), json_type_null));
	want = hist_quantile(&a1, 0.95) / 1e6;
	cr_assert(fabs(json_object_get_double(json_object_array_get_idx(v, 1)) - want) <= want * 1e-5,
		  "c1's cell is its p95 (%g)", want);
	r = json_object_array_get_idx(rows, 2);
	cr_assert_str_eq(json_object_get_string(jget(r, "name")), "c3");
	v = jget(r, "values");
	cr_assert(json_object_is_type(json_object_array_get_idx(v, 2), json_type_null),
		  "c3 has no access sample");
	json_object_put(o);

	o = ask_json(h, (const char *[]){ "heatmap", "customers", "S", from, to, "60", "access",
					  "p95", "worst=1" }, 9);
	cr_assert_eq(json_object_get_int64(jget(o, "rows_total")), 3);
	rows = jget(o, "rows");
	cr_assert_eq(json_object_array_length(rows), 1);
	cr_assert_str_eq(json_object_get_string(jget(json_object_array_get_idx(rows, 0), "name")),
			 "c2");
	json_object_put(o);
	history_close(h);
}

Test(history, old_points_pruned, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct history *h = open_ok();
	struct store_points *p = points_new();
	struct history_pt *v;
	struct hist x;
	uint64_t t0 = base_hour() - 40 * 86400;
	uint32_t res, step;
	size_t n;

	synth(&x, 3 * MS, 5);
	add_point(p, STORE_E_FLEET, "", "", 0, 60, t0, &x);
	add_point(p, STORE_E_FLEET, "", "", 0, 60, t0 + 10 * 86400, &x);
	history_put(h, p);
	cr_assert_eq(history_flush(h, 5000), 0);
	cr_assert_eq(history_read(h, STORE_E_FLEET, "", t0, t0 + 11 * 86400, 60, &res, &step, &v,
				  &n), 0);
	cr_assert_eq(n, 2);
	free(v);
	/* a point 31 days after the first: the first is older than 30 days */
	p = points_new();
	add_point(p, STORE_E_FLEET, "", "", 0, 60, t0 + 31 * 86400, &x);
	history_put(h, p);
	cr_assert_eq(history_flush(h, 5000), 0);
	cr_assert_eq(history_read(h, STORE_E_FLEET, "", t0, t0 + 32 * 86400, 0, &res, &step, &v,
				  &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(v[0].t_s, t0 + 10 * 86400 - (t0 + 10 * 86400) % step);	/* steps on multiples */
	free(v);
	history_close(h);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	cr_assert(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

Test(history, foreign_or_damaged_file_refused_untouched, .init = mkdir_tmp, .fini = rm_tmp)
{
	static char junk[8192], back[8192];
	struct history *h;
	char path[128], err[512];
	sqlite3 *db;
	size_t i;

	snprintf(path, sizeof(path), "%s/history.db", dir);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)rnd();
	write_file(path, junk, sizeof(junk));
	cr_assert_neq(history_open(&h, dir, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, path), "the error names the file: %s", err);
	cr_assert(strstr(err, "left as it is"), "%s", err);
	cr_assert_eq(read_file(path, back, sizeof(back)), sizeof(junk));
	cr_assert_eq(memcmp(junk, back, sizeof(junk)), 0, "the file was changed");
	/* an SQLite database of something else */
	unlink(path);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "CREATE TABLE invoices(n INTEGER); INSERT INTO invoices "
				  "VALUES(42)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_neq(history_open(&h, dir, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "not a pingfold history"), "%s", err);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "SELECT n FROM invoices", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "SELECT * FROM point", NULL, NULL, NULL), SQLITE_ERROR,
		     "tables were added to it");
	sqlite3_close(db);
	/* a directory that cannot be made */
	cr_assert_neq(history_open(&h, "/proc/pingfold-no/such", NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "/proc/pingfold-no/such"), "%s", err);
}

/* ---- crash at every write: a VFS shim ----------------------------------- */

static sqlite3_vfs shim, *real;
static int crash_at;		/* the Nth write or sync ends the process; 0: never */
static int io_count;

static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off);
static int shim_sync(sqlite3_file *f, int flags);

struct shim_file {
	sqlite3_file base;		/* its methods: ours */
	sqlite3_file *real;		/* the real file, after us */
};
static sqlite3_io_methods shim_io;

static void io_step(void)
{
	if (crash_at && ++io_count == crash_at)
		_exit(77);
}

static int shim_close(sqlite3_file *f)
{
	struct shim_file *s = (struct shim_file *)f;
	int rc = s->real->pMethods ? s->real->pMethods->xClose(s->real) : SQLITE_OK;

	free(s->real);
	return rc;
}

static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
	struct shim_file *s = (struct shim_file *)f;

	return s->real->pMethods->xRead(s->real, b, n, off);
}

static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	struct shim_file *s = (struct shim_file *)f;

	io_step();
	return s->real->pMethods->xWrite(s->real, b, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct shim_file *s = (struct shim_file *)f;

	io_step();
	return s->real->pMethods->xTruncate(s->real, size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
	struct shim_file *s = (struct shim_file *)f;

	io_step();
	return s->real->pMethods->xSync(s->real, flags);
}

#define PASS(name, args, call)							\
	static int shim_##name args							\
	{									\
		struct shim_file *s = (struct shim_file *)f;			\
		return s->real->pMethods->call;					\
	}
PASS(size, (sqlite3_file *f, sqlite3_int64 *p), xFileSize(s->real, p))
PASS(lock, (sqlite3_file *f, int l), xLock(s->real, l))
PASS(unlock, (sqlite3_file *f, int l), xUnlock(s->real, l))
PASS(check, (sqlite3_file *f, int *r), xCheckReservedLock(s->real, r))
PASS(fctl, (sqlite3_file *f, int op, void *a), xFileControl(s->real, op, a))
PASS(sector, (sqlite3_file *f), xSectorSize(s->real))
PASS(dev, (sqlite3_file *f), xDeviceCharacteristics(s->real))
PASS(shmmap, (sqlite3_file *f, int i, int sz, int e, void volatile **p),
     xShmMap(s->real, i, sz, e, p))
PASS(shmlock, (sqlite3_file *f, int o, int n, int fl), xShmLock(s->real, o, n, fl))
PASS(shmunmap, (sqlite3_file *f, int d), xShmUnmap(s->real, d))

static void shim_barrier(sqlite3_file *f)
{
	struct shim_file *s = (struct shim_file *)f;

	s->real->pMethods->xShmBarrier(s->real);
}

static int shim_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct shim_file *s = (struct shim_file *)f;
	int rc;

	(void)v;
	s->real = calloc(1, (size_t)real->szOsFile);
	if (!s->real)
		return SQLITE_NOMEM;
	rc = real->xOpen(real, name, s->real, flags, out);
	if (rc != SQLITE_OK) {
		free(s->real);
		s->real = NULL;
		f->pMethods = NULL;
		return rc;
	}
	shim_io = (sqlite3_io_methods){
		.iVersion = 2, .xClose = shim_close, .xRead = shim_read, .xWrite = shim_write,
		.xTruncate = shim_truncate, .xSync = shim_sync, .xFileSize = shim_size,
		.xLock = shim_lock, .xUnlock = shim_unlock, .xCheckReservedLock = shim_check,
		.xFileControl = shim_fctl, .xSectorSize = shim_sector,
		.xDeviceCharacteristics = shim_dev, .xShmMap = shim_shmmap,
		.xShmLock = shim_shmlock, .xShmBarrier = shim_barrier, .xShmUnmap = shim_shmunmap,
	};
	f->pMethods = &shim_io;
	return SQLITE_OK;
}

static void shim_install(void)
{
	real = sqlite3_vfs_find(NULL);
	shim = *real;
	shim.zName = "pf-crash";
	shim.szOsFile = (int)sizeof(struct shim_file);
	shim.xOpen = shim_open;
	cr_assert_eq(sqlite3_vfs_register(&shim, 1), SQLITE_OK);
}

/* Batch B: 40 customer points at t (a recognisable set). */
static struct store_points *batch(uint64_t t, unsigned salt)
{
	struct store_points *p = points_new();
	char name[16];
	struct hist x;
	unsigned i;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "c%u", i);
		hist_init(&x);
		hist_add_n(&x, (1 + i) * MS, 1 + salt);
		add_point(p, STORE_E_CUSTOMER, name, "S", 0, 300, t, &x);
	}
	return p;
}

/* How many of batch(t)'s points are there, each exactly as written. */
static unsigned count_batch(struct history *h, uint64_t t, unsigned salt)
{
	struct history_pt *v;
	uint32_t res, step;
	unsigned i, found = 0;
	char name[16];
	size_t n;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "c%u", i);
		cr_assert_eq(history_read(h, STORE_E_CUSTOMER, name, t, t + 300, 0, &res, &step, &v,
					  &n), 0);
		if (n) {
			cr_assert_eq(v[0].h[0].count, 1 + salt, "a point half written");
			found++;
		}
		free(v);
	}
	return found;
}

Test(history, crash_at_every_write_leaves_a_readable_store, .init = mkdir_tmp, .fini = rm_tmp,
     .timeout = 120)
{
	uint64_t t0 = base_hour();
	int at, crashes = 0;
	bool finished = false;

	shim_install();
	for (at = 1; !finished && at < 400; at++) {
		struct history_stats st;
		struct history *h;
		pid_t pid;
		int status;
		unsigned a, b;

		rm_tmp();
		cr_assert_eq(mkdir(dir, 0700), 0);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			char err[256];

			/* batch A committed; then batch B, crashing at write N of it */
			if (history_open(&h, dir, NULL, err, sizeof(err)))
				_exit(2);
			history_put(h, batch(t0, 1));
			if (history_flush(h, 10000))
				_exit(3);
			io_count = 0;
			crash_at = at;
			history_put(h, batch(t0 + 300, 2));
			if (history_flush(h, 10000))
				_exit(3);
			crash_at = 0;
			history_close(h);
			_exit(0);
		}
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status), "the writer died of a signal");
		cr_assert(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77,
			  "the writer failed (%d) before the crash", WEXITSTATUS(status));
		finished = WEXITSTATUS(status) == 0;
		crashes += !finished;
		h = open_ok();
		a = count_batch(h, t0, 1);
		b = count_batch(h, t0 + 300, 2);
		cr_assert_eq(a, 40, "crash at write %d: batch A lost %u points", at, 40 - a);
		cr_assert(b == 0 || b == 40, "crash at write %d: batch B half there (%u)", at, b);
		history_get_stats(h, &st);
		cr_assert_eq(st.lost_at_open, b == 0 && !finished,
			     "crash at write %d: the open says lost %u, batch B has %u points", at,
			     st.lost_at_open, b);
		history_close(h);
	}
	cr_assert(finished, "the batch never finished (more than 400 writes?)");
	cr_assert_geq(crashes, 3, "only %d crash points", crashes);
	cr_log_info("%d crash points, every one left a readable store", crashes);
}

/*
 * A restart: points and the frontier of their batch written; a new store
 * gets them back (history_restore): its 1 h window holds them, and a box's
 * delta the history holds already (seq at or below its hi, before the
 * frontier) adds nothing again, while one it does not hold does.
 */
Test(history, restore_puts_points_and_frontier_back, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct history *h = open_ok();
	struct store_points *p = points_new();
	struct store_opts o;
	struct store *s;
	struct hist x, got[PF_NHALVES];
	struct wire_delta d;
	struct wire_catalog c;
	struct hist_sparse sp;
	uint64_t now = (uint64_t)time(NULL), F = now - now % 300 - 600, gf, gl;
	size_t n;

	synth(&x, 4 * MS, 20);
	add_point(p, STORE_E_CUSTOMER, "k1", "S1", 0, 300, F, &x);
	add_point(p, STORE_E_SITE, "S1", "", 0, 60, F + 60, &x);
	add_point(p, STORE_E_FLEET, "", "", 0, 60, F + 60, &x);
	p->cust_s = F + 600;		/* both five minutes closed */
	p->roll_s = now - now % 60;
	p->boxes = calloc(1, sizeof(*p->boxes));
	p->nboxes = 1;
	snprintf(p->boxes[0].box, sizeof(p->boxes[0].box), "bx");
	p->boxes[0].epoch = 7;
	p->boxes[0].hi = 40;
	history_put(h, p);
	cr_assert_eq(history_flush(h, 5000), 0);
	store_opts_default(&o);
	cr_assert_eq(store_open(&s, &o), 0);
	cr_assert_eq(history_restore(h, s, now * 1000000000ULL, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(store_customer(s, "k1", STORE_W1H, now * 1000000000ULL, got), 0);
	check_equal(&got[0], &x, "k1 restored");
	cr_assert_eq(store_fleet(s, STORE_W1H, now * 1000000000ULL, got), 0);
	check_equal(&got[0], &x, "fleet restored");
	/* the box names k1 (key 0); a replay of seq 40 at F + 10 s: held already */
	wire_catalog_init(&c);
	snprintf(c.box, sizeof(c.box), "bx");
	c.epoch = 7;
	cr_assert_eq(wire_catalog_add(&c, 0, "k1", "", "S1"), 0);
	cr_assert_eq(store_add_catalog(s, &c, now * 1000000000ULL), 0);
	wire_catalog_free(&c);
	wire_delta_init(&d);
	snprintf(d.box, sizeof(d.box), "bx");
	d.epoch = 7;
	d.seq = 40;
	d.end_ns = (F + 10) * 1000000000ULL;
	d.start_ns = d.end_ns - 1000000000ULL;
	hist_to_sparse(&x, &sp);
	cr_assert_eq(wire_delta_add(&d, 0, 0, &sp), 0);
	cr_assert_geq(store_add_delta(s, &d, now * 1000000000ULL, &gf, &gl), 0);
	cr_assert_eq(store_customer(s, "k1", STORE_W1H, now * 1000000000ULL, got), 0);
	cr_assert_eq(got[0].count, x.count, "a delta the history holds was merged again");
	/* seq 41 at the same time: the history does not hold it */
	d.seq = 41;
	cr_assert_geq(store_add_delta(s, &d, now * 1000000000ULL, &gf, &gl), 0);
	cr_assert_eq(store_customer(s, "k1", STORE_W1H, now * 1000000000ULL, got), 0);
	cr_assert_eq(got[0].count, 2 * x.count, "a delta the history does not hold was left out");
	wire_delta_free(&d);
	store_close(s);
	history_close(h);
}

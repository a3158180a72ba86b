// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Durable history in SQLite (see history.h). Schema (version 1):
 *   meta(k, v)                      format = pingfold-history, version = 1
 *   entity(id, kind, name, site)    kind: enum store_ekind; site: a customer's
 *   point(entity, res, t, half, h)  res 60 / 300 / 3600 s, t its start, h a blob
 *   boxseq(box, epoch, hi)          with meta front_cust, front_roll: the frontier
 *                                   of the last batch (store_points), for a restart
 * point's key is (entity, res, t, half) (WITHOUT ROWID: an entity's range
 * is one index walk); an index on (res, t) serves pruning.
 *
 * One writer thread owns the write connection and a cache of entity ids;
 * readers (queries) use a connection of their own, under a mutex, so a
 * query never waits for a write (WAL) nor a write for a query.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "aggregator/history.h"
#include "common/hblob.h"
#include "common/log.h"
#include "common/sys.h"

#define FORMAT		"pingfold-history"
#define VERSION		"1"
#define BUSY_MS		5000		/* a connection waits this long for a lock */
#define STEPS_MAX	2000

struct qitem {
	struct qitem *next;
	struct store_points *pts;
	size_t bytes;
};

struct ent {				/* entity id cache (writer thread) */
	char *name;			/* NULL: empty */
	char *site;			/* a customer's, as last written */
	uint32_t id;
	uint8_t kind;
};

struct rollup {				/* an hour of a customer-half to sum */
	uint32_t entity;
	uint8_t half;
	uint64_t hour;
};

struct history {
	struct history_opts o;
	char path[4096], marker[4200];
	sqlite3 *wdb, *rdb;
	pthread_mutex_t rlock;		/* the read connection */
	/* the queue */
	pthread_mutex_t lock;
	pthread_cond_t cond, idle;
	struct qitem *head, *tail;
	bool stop, busy;
	pthread_t thread;
	struct history_stats st;	/* under lock */
	/* writer thread only */
	sqlite3_stmt *ins_point, *ins_ent, *get_ent, *set_site, *sum_hour;
	struct ent *ents;
	uint32_t nent, cap_ent;
	uint64_t max_t300;		/* newest five minutes written */
	uint64_t batch_seq;		/* of the last batch committed (meta last_batch) */
	uint64_t last_prune;
	struct rollup *ru;
	size_t nru, cap_ru;
};

void history_opts_default(struct history_opts *o)
{
	o->minute_days = 30;
	o->customer_5m_hours = 48;
	o->customer_1h_days = 30;
	o->queue_max = 256u << 20;
}

static void set_error(struct history *h, const char *what, sqlite3 *db)
{
	pthread_mutex_lock(&h->lock);
	snprintf(h->st.last_error, sizeof(h->st.last_error), "%.120s: %.40s: %.80s", h->path, what,
		 db ? sqlite3_errmsg(db) : "out of memory");
	h->st.errors++;
	pthread_mutex_unlock(&h->lock);
	pr_err("history: %s: %s: %s", h->path, what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* ---- opening -------------------------------------------------------------- */

static const char *const schema =
	"CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
	"CREATE TABLE entity(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, name TEXT NOT NULL,"
	" site TEXT NOT NULL DEFAULT '', UNIQUE(kind, name));"
	"CREATE TABLE point(entity INTEGER NOT NULL, res INTEGER NOT NULL, t INTEGER NOT NULL,"
	" half INTEGER NOT NULL, h BLOB NOT NULL, PRIMARY KEY(entity, res, t, half)) WITHOUT ROWID;"
	"CREATE INDEX point_age ON point(res, t);"
	"CREATE TABLE boxseq(box TEXT PRIMARY KEY, epoch INTEGER NOT NULL, hi INTEGER NOT NULL);"
	"INSERT INTO meta VALUES('format', '" FORMAT "'), ('version', '" VERSION "');";

/*
 * Checks that db is a pingfold history of our version: 0, or -EINVAL
 * with why (a foreign or damaged file), -ENOENT when it is empty.
 */
static int check_format(sqlite3 *db, char *why, size_t n)
{
	sqlite3_stmt *st = NULL;
	const char *fmt = NULL, *ver = NULL;
	char f[64] = "", v[16] = "";
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0) {
		sqlite3_finalize(st);
		return -ENOENT;
	}
	if (rc != SQLITE_OK) {
		snprintf(why, n, "not an SQLite database, or a damaged one (%s)", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -EINVAL;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT k, v FROM meta WHERE k IN ('format', 'version')", -1,
			       &st, NULL) != SQLITE_OK) {
		snprintf(why, n, "an SQLite database that is not a pingfold history (%s)",
			 sqlite3_errmsg(db));
		return -EINVAL;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *val = (const char *)sqlite3_column_text(st, 1);

		if (k && val && !strcmp(k, "format"))
			snprintf(f, sizeof(f), "%s", val), fmt = f;
		else if (k && val && !strcmp(k, "version"))
			snprintf(v, sizeof(v), "%s", val), ver = v;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(why, n, "damaged (%s)", sqlite3_errmsg(db));
		return -EINVAL;
	}
	if (!fmt || strcmp(fmt, FORMAT)) {
		snprintf(why, n, "an SQLite database that is not a pingfold history (format '%s')",
			 fmt ? fmt : "none");
		return -EINVAL;
	}
	if (!ver || strcmp(ver, VERSION)) {
		snprintf(why, n, "a pingfold history of version %s (this is %s)", ver ? ver : "?",
			 VERSION);
		return -EINVAL;
	}
	return 0;
}

/* A number kept in meta; 0 when absent. */
static uint64_t meta_u64(sqlite3 *db, const char *k)
{
	sqlite3_stmt *st;
	uint64_t v = 0;

	if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int prepare(struct history *h)
{
	return sqlite3_prepare_v2(h->wdb, "INSERT OR REPLACE INTO point VALUES(?, ?, ?, ?, ?)", -1,
				  &h->ins_point, NULL) ||
	       sqlite3_prepare_v2(h->wdb, "INSERT INTO entity(kind, name, site) VALUES(?, ?, ?)",
				  -1, &h->ins_ent, NULL) ||
	       sqlite3_prepare_v2(h->wdb, "SELECT id FROM entity WHERE kind = ? AND name = ?", -1,
				  &h->get_ent, NULL) ||
	       sqlite3_prepare_v2(h->wdb, "UPDATE entity SET site = ? WHERE id = ? AND site != ?",
				  -1, &h->set_site, NULL) ||
	       sqlite3_prepare_v2(h->wdb, "SELECT h FROM point WHERE entity = ? AND res = 300 AND "
				  "t >= ? AND t < ? AND half = ?", -1, &h->sum_hour, NULL);
}

static void *writer(void *arg);

int history_open(struct history **hp, const char *dir, const struct history_opts *o,
		 char *err, size_t errlen)
{
	struct history *h;
	char why[512];
	struct stat sb;
	int rc, fd;

	*hp = NULL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "history: out of memory");
		return -ENOMEM;
	}
	if (o)
		h->o = *o;
	else
		history_opts_default(&h->o);
	snprintf(h->path, sizeof(h->path), "%s/history.db", dir);
	snprintf(h->marker, sizeof(h->marker), "%s/history.writing", dir);
	if (mkdir(dir, 0750) && errno != EEXIST) {
		snprintf(err, errlen, "history: cannot create %s: %s", dir, strerror(errno));
		free(h);
		return -errno;
	}
	/* a file we did not make is read before anything is written to it */
	if (!stat(h->path, &sb) && sb.st_size > 0) {
		sqlite3 *db = NULL;

		rc = sqlite3_open_v2(h->path, &db, SQLITE_OPEN_READONLY, NULL);
		rc = rc ?: check_format(db, why, sizeof(why));
		if (rc && rc != -ENOENT) {
			snprintf(err, errlen, "history: %s: %s; it is left as it is (move it away "
				 "or choose another --history-dir)", h->path,
				 rc > 0 ? sqlite3_errstr(rc) : why);
			sqlite3_close(db);
			free(h);
			return -EINVAL;
		}
		sqlite3_close(db);
	}
	rc = sqlite3_open_v2(h->path, &h->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(h->wdb, BUSY_MS);
		rc = exec(h->wdb, "PRAGMA journal_mode=WAL") ?:
		     exec(h->wdb, "PRAGMA synchronous=FULL");
	}
	if (rc == SQLITE_OK && check_format(h->wdb, why, sizeof(why)) == -ENOENT)
		rc = exec(h->wdb, "BEGIN IMMEDIATE") ?: exec(h->wdb, schema) ?:
		     exec(h->wdb, "COMMIT");
	if (rc == SQLITE_OK && check_format(h->wdb, why, sizeof(why)))
		rc = SQLITE_NOTADB;
	rc = rc ?: prepare(h);
	rc = rc ?: sqlite3_open_v2(h->path, &h->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
				   NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "history: %s: %s", h->path,
			 h->wdb ? sqlite3_errmsg(h->wdb) : sqlite3_errstr(rc));
		history_close(h);
		return -EIO;
	}
	sqlite3_busy_timeout(h->rdb, BUSY_MS);
	h->batch_seq = meta_u64(h->wdb, "last_batch");
	/* a batch was being written when the process died: committed, or lost whole */
	fd = open(h->marker, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char what[256] = "";
		ssize_t r = read(fd, what, sizeof(what) - 1);
		unsigned long long seq = 0;

		close(fd);
		what[r > 0 ? r : 0] = '\0';
		what[strcspn(what, "\n")] = '\0';
		if (sscanf(what, "batch %llu", &seq) == 1 && seq == h->batch_seq) {
			pr_info("history: %s: the last run stopped right after writing %s; "
				"it is all there", h->path, what);
		} else {
			h->st.lost_at_open = 1;
			pr_warn("history: %s: the last run stopped while writing %s: those "
				"points are not in the history (the file is whole)", h->path,
				what[0] ? what : "a batch");
		}
		unlink(h->marker);
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->rlock, NULL);
	pthread_cond_init(&h->cond, NULL);
	pthread_cond_init(&h->idle, NULL);
	if (pthread_create(&h->thread, NULL, writer, h)) {
		snprintf(err, errlen, "history: cannot start its writer thread");
		h->thread = 0;
		history_close(h);
		return -ENOMEM;
	}
	*hp = h;
	return 0;
}

void history_close(struct history *h)
{
	struct qitem *q;
	uint32_t i;

	if (!h)
		return;
	if (h->thread) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
		pthread_mutex_destroy(&h->lock);
		pthread_mutex_destroy(&h->rlock);
		pthread_cond_destroy(&h->cond);
		pthread_cond_destroy(&h->idle);
	}
	while ((q = h->head)) {
		h->head = q->next;
		store_points_free(q->pts);
		free(q);
	}
	sqlite3_finalize(h->ins_point);
	sqlite3_finalize(h->ins_ent);
	sqlite3_finalize(h->get_ent);
	sqlite3_finalize(h->set_site);
	sqlite3_finalize(h->sum_hour);
	sqlite3_close(h->rdb);
	sqlite3_close(h->wdb);
	for (i = 0; i < h->cap_ent; i++) {
		free(h->ents[i].name);
		free(h->ents[i].site);
	}
	free(h->ents);
	free(h->ru);
	free(h);
}

/* ---- the queue -------------------------------------------------------------- */

void history_put(struct history *h, struct store_points *pts)
{
	struct qitem *q = calloc(1, sizeof(*q));
	size_t bytes = pts->len + pts->n * sizeof(*pts->p);

	pthread_mutex_lock(&h->lock);
	if (!q || h->st.queued + bytes > h->o.queue_max) {
		h->st.dropped += pts->n;
		pthread_mutex_unlock(&h->lock);
		pr_err("history: %s: %zu points dropped: %s", h->path, pts->n,
		       q ? "the queue is full (the disk is slower than the points come)" :
			   "out of memory");
		free(q);
		store_points_free(pts);
		return;
	}
	q->pts = pts;
	q->bytes = bytes;
	if (h->tail)
		h->tail->next = q;
	else
		h->head = q;
	h->tail = q;
	h->st.queued += bytes;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

void history_on_points(void *arg, struct store_points *pts)
{
	history_put(arg, pts);
}

int history_flush(struct history *h, int timeout_ms)
{
	struct timespec ts = sys_deadline(timeout_ms);
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	while ((h->head || h->busy) && rc == 0)
		rc = pthread_cond_timedwait(&h->idle, &h->lock, &ts);
	pthread_mutex_unlock(&h->lock);
	return rc ? -ETIMEDOUT : 0;
}

void history_get_stats(struct history *h, struct history_stats *st)
{
	pthread_mutex_lock(&h->lock);
	*st = h->st;
	pthread_mutex_unlock(&h->lock);
}

/* ---- writing (writer thread) ----------------------------------------------- */

static uint32_t ent_hash(uint8_t kind, const char *name)
{
	uint64_t x = 0xcbf29ce484222325ULL ^ kind;

	while (*name) {
		x ^= (unsigned char)*name++;
		x *= 0x100000001b3ULL;
	}
	return (uint32_t)(x ^ (x >> 32));
}

static struct ent *ent_slot(struct history *h, uint8_t kind, const char *name)
{
	uint32_t i;

	for (i = ent_hash(kind, name) & (h->cap_ent - 1); h->ents[i].name;
	     i = (i + 1) & (h->cap_ent - 1))
		if (h->ents[i].kind == kind && !strcmp(h->ents[i].name, name))
			break;
	return &h->ents[i];
}

/* The id of an entity, made on first sight; 0 on error. */
static uint32_t ent_id(struct history *h, uint8_t kind, const char *name, const char *site)
{
	struct ent *e;
	int rc;

	if ((h->nent + 1) * 2 > h->cap_ent) {
		struct ent *old = h->ents;
		uint32_t ocap = h->cap_ent, i;

		h->cap_ent = ocap ? ocap * 2 : 1024;
		h->ents = calloc(h->cap_ent, sizeof(*h->ents));
		if (!h->ents) {
			h->ents = old;
			h->cap_ent = ocap;
			return 0;
		}
		for (i = 0; i < ocap; i++)
			if (old[i].name)
				*ent_slot(h, old[i].kind, old[i].name) = old[i];
		free(old);
	}
	e = ent_slot(h, kind, name);
	if (e->name) {
		if (kind == STORE_E_CUSTOMER && strcmp(e->site ? e->site : "", site)) {
			char *ns = strdup(site);	/* it moved */

			if (!ns)
				return 0;
			sqlite3_bind_text(h->set_site, 1, site, -1, SQLITE_STATIC);
			sqlite3_bind_int64(h->set_site, 2, e->id);
			sqlite3_bind_text(h->set_site, 3, site, -1, SQLITE_STATIC);
			sqlite3_step(h->set_site);
			sqlite3_reset(h->set_site);
			free(e->site);
			e->site = ns;
		}
		return e->id;
	}
	sqlite3_bind_int(h->get_ent, 1, kind);
	sqlite3_bind_text(h->get_ent, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(h->get_ent);
	if (rc == SQLITE_ROW) {
		e->id = (uint32_t)sqlite3_column_int64(h->get_ent, 0);
	} else if (rc == SQLITE_DONE) {
		sqlite3_bind_int(h->ins_ent, 1, kind);
		sqlite3_bind_text(h->ins_ent, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(h->ins_ent, 3, site, -1, SQLITE_STATIC);
		rc = sqlite3_step(h->ins_ent);
		sqlite3_reset(h->ins_ent);
		e->id = rc == SQLITE_DONE ? (uint32_t)sqlite3_last_insert_rowid(h->wdb) : 0;
	}
	sqlite3_reset(h->get_ent);
	if (!e->id)
		return 0;
	e->name = strdup(name);
	e->site = NULL;
	e->kind = kind;
	if (!e->name)
		return 0;
	h->nent++;
	return e->id;
}

static int ru_cmp(const void *a, const void *b)
{
	const struct rollup *x = a, *y = b;

	if (x->entity != y->entity)
		return x->entity < y->entity ? -1 : 1;
	if (x->half != y->half)
		return x->half - y->half;
	return x->hour < y->hour ? -1 : x->hour > y->hour;
}

/* Sums the hours noted in h->ru from their five minutes into hourly points. */
static int rollups(struct history *h, uint64_t *written)
{
	struct hist *sum = malloc(sizeof(*sum));
	uint8_t blob[HBLOB_MAX];
	size_t i;
	int rc = SQLITE_OK;

	if (!h->nru) {
		free(sum);
		return SQLITE_OK;
	}
	if (!sum)
		return SQLITE_NOMEM;
	qsort(h->ru, h->nru, sizeof(*h->ru), ru_cmp);
	for (i = 0; i < h->nru && rc == SQLITE_OK; i++) {
		const struct rollup *r = &h->ru[i];
		size_t len;

		if (i && !ru_cmp(r, r - 1))
			continue;
		hist_init(sum);
		sqlite3_bind_int64(h->sum_hour, 1, r->entity);
		sqlite3_bind_int64(h->sum_hour, 2, (sqlite3_int64)r->hour);
		sqlite3_bind_int64(h->sum_hour, 3, (sqlite3_int64)r->hour + 3600);
		sqlite3_bind_int(h->sum_hour, 4, r->half);
		while ((rc = sqlite3_step(h->sum_hour)) == SQLITE_ROW)
			hblob_add(sum, sqlite3_column_blob(h->sum_hour, 0),
				  (size_t)sqlite3_column_bytes(h->sum_hour, 0));
		sqlite3_reset(h->sum_hour);
		if (rc != SQLITE_DONE)
			break;
		rc = SQLITE_OK;
		if (!sum->count)
			continue;
		len = hblob_encode(blob, sum);
		sqlite3_bind_int64(h->ins_point, 1, r->entity);
		sqlite3_bind_int(h->ins_point, 2, 3600);
		sqlite3_bind_int64(h->ins_point, 3, (sqlite3_int64)r->hour);
		sqlite3_bind_int(h->ins_point, 4, r->half);
		sqlite3_bind_blob(h->ins_point, 5, blob, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(h->ins_point);
		sqlite3_reset(h->ins_point);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		(*written)++;
	}
	h->nru = 0;
	free(sum);
	return rc;
}

/* Removes points older than their kind keeps, at most once per 10 minutes of data. */
static int prune(struct history *h, uint64_t now_s, uint64_t *pruned)
{
	static const char *const sql = "DELETE FROM point WHERE res = ? AND t < ?";
	const uint64_t keep[3][2] = {
		{ 60, (uint64_t)h->o.minute_days * 86400 },
		{ 300, (uint64_t)h->o.customer_5m_hours * 3600 },
		{ 3600, (uint64_t)h->o.customer_1h_days * 86400 },
	};
	sqlite3_stmt *st;
	int rc = SQLITE_OK, k;

	if (now_s < h->last_prune + 600)
		return SQLITE_OK;
	h->last_prune = now_s;
	if (sqlite3_prepare_v2(h->wdb, sql, -1, &st, NULL) != SQLITE_OK)
		return sqlite3_errcode(h->wdb);
	for (k = 0; k < 3 && rc == SQLITE_OK; k++) {
		if (now_s <= keep[k][1])
			continue;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)keep[k][0]);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(now_s - keep[k][1]));
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		*pruned += (uint64_t)sqlite3_changes(h->wdb);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* The batch's frontier and the boxes' sequences (in its transaction). */
static int write_frontier(struct history *h, const struct store_points *pts)
{
	sqlite3_stmt *st;
	char sql[160];
	size_t i;
	int rc;

	if (!pts->cust_s)
		return SQLITE_OK;
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES('front_cust', '%llu'), "
		 "('front_roll', '%llu')", (unsigned long long)pts->cust_s,
		 (unsigned long long)pts->roll_s);
	rc = exec(h->wdb, sql);
	if (rc != SQLITE_OK || sqlite3_prepare_v2(h->wdb, "INSERT OR REPLACE INTO boxseq "
						  "VALUES(?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return rc ?: sqlite3_errcode(h->wdb);
	for (i = 0; i < pts->nboxes && rc == SQLITE_OK; i++) {
		sqlite3_bind_text(st, 1, pts->boxes[i].box, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)pts->boxes[i].epoch);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)pts->boxes[i].hi);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* One batch in one transaction: points, the hours they complete, pruning. */
static int write_batch(struct history *h, const struct store_points *pts, uint64_t *rolled,
		       uint64_t *pruned)
{
	uint64_t newest = 0;
	char what[128];
	size_t i;
	int rc, fd;

	if (!pts->n)
		return SQLITE_OK;
	snprintf(what, sizeof(what), "batch %llu (%zu points of the period at %llu, res %u s)\n",
		 (unsigned long long)h->batch_seq + 1, pts->n,
		 (unsigned long long)pts->p[0].start_s, pts->p[0].res_s);
	fd = open(h->marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd >= 0) {
		if (write(fd, what, strlen(what)) < 0)
			pr_warn("history: %s: %s", h->marker, strerror(errno));
		close(fd);
	}
	rc = exec(h->wdb, "BEGIN IMMEDIATE");
	for (i = 0; i < pts->n && rc == SQLITE_OK; i++) {
		const struct store_point *p = &pts->p[i];
		uint32_t id = ent_id(h, p->kind, pts->buf + p->name, pts->buf + p->site);

		if (!id) {
			rc = sqlite3_errcode(h->wdb) ?: SQLITE_NOMEM;
			break;
		}
		sqlite3_bind_int64(h->ins_point, 1, id);
		sqlite3_bind_int(h->ins_point, 2, (int)p->res_s);
		sqlite3_bind_int64(h->ins_point, 3, (sqlite3_int64)p->start_s);
		sqlite3_bind_int(h->ins_point, 4, p->half);
		sqlite3_bind_blob(h->ins_point, 5, pts->buf + p->blob, (int)p->len, SQLITE_STATIC);
		rc = sqlite3_step(h->ins_point);
		sqlite3_reset(h->ins_point);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		if (p->start_s > newest)
			newest = p->start_s;
		if (p->res_s == 300 && p->start_s > h->max_t300)
			h->max_t300 = p->start_s;
	}
	/* hours of customers complete now (their last five minutes are in) */
	for (i = 0; i < pts->n && rc == SQLITE_OK; i++) {
		const struct store_point *p = &pts->p[i];
		uint64_t hour = p->start_s - p->start_s % 3600;

		if (p->res_s != 300 || hour + 3300 > h->max_t300)
			continue;
		if (h->nru == h->cap_ru) {
			size_t cap = h->cap_ru ? h->cap_ru * 2 : 4096;
			struct rollup *n = realloc(h->ru, cap * sizeof(*n));

			if (!n) {
				rc = SQLITE_NOMEM;
				break;
			}
			h->ru = n;
			h->cap_ru = cap;
		}
		h->ru[h->nru++] = (struct rollup){ ent_id(h, p->kind, pts->buf + p->name,
							 pts->buf + p->site),
						  p->half, hour };
	}
	rc = rc ?: rollups(h, rolled);
	rc = rc ?: prune(h, newest, pruned);
	rc = rc ?: write_frontier(h, pts);
	if (rc == SQLITE_OK) {
		char sql[96];

		snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES('last_batch', '%llu')",
			 (unsigned long long)h->batch_seq + 1);
		rc = exec(h->wdb, sql);
	}
	rc = rc ?: exec(h->wdb, "COMMIT");
	if (rc == SQLITE_OK)
		h->batch_seq++;
	if (rc != SQLITE_OK) {
		set_error(h, "writing points", h->wdb);
		exec(h->wdb, "ROLLBACK");
		h->nru = 0;
	}
	unlink(h->marker);
	return rc;
}

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *writer(void *arg)
{
	struct history *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		struct qitem *q = h->head;
		uint64_t rolled = 0, pruned = 0;
		double t0;
		int rc;

		if (!q)
			pthread_cond_broadcast(&h->idle);
		if (h->stop)
			break;		/* history_close: what is queued is dropped */
		if (!q) {
			pthread_cond_wait(&h->cond, &h->lock);
			continue;
		}
		h->head = q->next;
		if (!h->head)
			h->tail = NULL;
		h->busy = true;
		pthread_mutex_unlock(&h->lock);
		t0 = thread_cpu_ns();
		rc = write_batch(h, q->pts, &rolled, &pruned);
		t0 = thread_cpu_ns() - t0;
		pthread_mutex_lock(&h->lock);
		h->busy = false;
		h->st.queued -= q->bytes;
		h->st.write_ns += (uint64_t)t0;
		if (rc == SQLITE_OK) {
			h->st.batches++;
			h->st.points += q->pts->n;
			h->st.rollups += rolled;
			h->st.pruned += pruned;
		} else {
			h->st.dropped += q->pts->n;
		}
		store_points_free(q->pts);
		free(q);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* ---- reading ------------------------------------------------------------------ */

static int pt_add(struct history_pt **v, size_t *n, size_t *cap, uint64_t t)
{
	if (*n && (*v)[*n - 1].t_s == t)
		return 0;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct history_pt *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[*n].t_s = t;
	hist_init(&(*v)[*n].h[0]);
	hist_init(&(*v)[*n].h[1]);
	(*n)++;
	return 0;
}

int history_read(struct history *h, enum store_ekind kind, const char *name, uint64_t from_s,
		 uint64_t to_s, uint32_t step_s, uint32_t *res_s, uint32_t *step_out,
		 struct history_pt **out, size_t *n)
{
	static const char *const sql =
		"SELECT p.t, p.half, p.h FROM point p JOIN entity e ON e.id = p.entity "
		"WHERE e.kind = ? AND e.name = ? AND p.res = ? AND p.t >= ? AND p.t < ? "
		"ORDER BY p.t";
	uint64_t now = (uint64_t)time(NULL), bad = 0;
	struct history_pt *v = NULL;
	size_t cap = 0;
	sqlite3_stmt *st = NULL;
	uint32_t res, step;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	if (!name || to_s <= from_s || (unsigned)kind > STORE_E_CUSTOMER)
		return -EINVAL;
	res = kind != STORE_E_CUSTOMER ? 60 :
	      from_s + (uint64_t)h->o.customer_5m_hours * 3600 >= now ? 300 : 3600;
	step = step_s ? step_s : res;
	if (step < res)
		step = res;
	if ((to_s - from_s) / step > STEPS_MAX)
		step = (uint32_t)((to_s - from_s + STEPS_MAX - 1) / STEPS_MAX);
	step = (step + res - 1) / res * res;
	*res_s = res;
	*step_out = step;
	pthread_mutex_lock(&h->rlock);
	rc = sqlite3_prepare_v2(h->rdb, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int(st, 1, kind);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, (int)res);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)from_s);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)to_s);
	}
	while (rc == SQLITE_OK && !err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t t = (uint64_t)sqlite3_column_int64(st, 0);
		int half = sqlite3_column_int(st, 1);

		rc = SQLITE_OK;
		t -= t % step;		/* steps on whole multiples: hours on the hour */
		err = pt_add(&v, n, &cap, t);
		if (!err && (half < 0 || half >= PF_NHALVES ||
			     hblob_add(&v[*n - 1].h[half], sqlite3_column_blob(st, 2),
				       (size_t)sqlite3_column_bytes(st, 2))))
			bad++;
	}
	if (rc != SQLITE_DONE && !err) {
		set_error(h, "reading points", h->rdb);
		err = -EIO;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&h->rlock);
	if (bad)
		pr_err("history: %s: %llu damaged points of %s left out", h->path,
		       (unsigned long long)bad, name);
	if (err) {
		free(v);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

/* The last batch's frontier and box sequences into the store (under rlock). */
static int restore_frontier(struct history *h, struct store *s)
{
	struct store_boxseq *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(h->rdb, "SELECT box, epoch, hi FROM boxseq", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *box = (const char *)sqlite3_column_text(st, 0);

		rc = SQLITE_OK;
		if (n == cap) {
			struct store_boxseq *nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*nv));

			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
		}
		snprintf(v[n].box, sizeof(v[n].box), "%s", box ? box : "");
		v[n].epoch = (uint64_t)sqlite3_column_int64(st, 1);
		v[n++].hi = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
		store_restore_frontier(s, meta_u64(h->rdb, "front_cust"),
				       meta_u64(h->rdb, "front_roll"), v, n);
	} else {
		set_error(h, "reading the boxes' sequences", h->rdb);
	}
	free(v);
	return rc;
}

int history_restore(struct history *h, struct store *s, uint64_t now_ns, size_t *n)
{
	static const char *const sql =
		"SELECT e.kind, e.name, p.half, p.res, p.t, p.h FROM point p JOIN entity e ON "
		"e.id = p.entity WHERE p.res = ? AND p.t >= ?";
	uint64_t from = now_ns / 1000000000ULL - 3900, bad = 0;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_OK, res;

	*n = 0;
	pthread_mutex_lock(&h->rlock);
	for (res = 60; res <= 300 && rc == SQLITE_OK; res += 240) {
		rc = sqlite3_prepare_v2(h->rdb, sql, -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int(st, 1, res);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
		}
		while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 1);
			int r = store_restore_point(s, (enum store_ekind)sqlite3_column_int(st, 0),
						    name ? name : "", (unsigned)sqlite3_column_int(st, 2),
						    (uint32_t)sqlite3_column_int(st, 3),
						    (uint64_t)sqlite3_column_int64(st, 4),
						    sqlite3_column_blob(st, 5),
						    (size_t)sqlite3_column_bytes(st, 5), now_ns);

			rc = SQLITE_OK;
			if (r == 0)
				(*n)++;
			else if (r < 0)
				bad++;
		}
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		if (rc != SQLITE_OK)
			set_error(h, "reading points to restore", h->rdb);
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc == SQLITE_OK)
		rc = restore_frontier(h, s);
	pthread_mutex_unlock(&h->rlock);
	if (bad)
		pr_err("history: %s: %llu points could not be restored (damaged, or past a bound)",
		       h->path, (unsigned long long)bad);
	return rc == SQLITE_OK ? 0 : -EIO;
}

static int str_pcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int history_names(struct history *h, enum store_ekind kind, const char *prefix, char ***out,
		  size_t *n)
{
	const char *sql = kind == STORE_E_CUSTOMER ?
		"SELECT name FROM entity WHERE kind = ? AND (?2 = '' OR site = ?2 OR "
		"substr(site, 1, length(?2) + 1) = ?2 || '/')" :
		"SELECT name FROM entity WHERE kind = ? AND (?2 = '' OR name = ?2 OR "
		"substr(name, 1, length(?2) + 1) = ?2 || '/')";
	sqlite3_stmt *st = NULL;
	char **v = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&h->rlock);
	rc = sqlite3_prepare_v2(h->rdb, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int(st, 1, kind);
		sqlite3_bind_text(st, 2, prefix ? prefix : "", -1, SQLITE_STATIC);
	}
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		rc = SQLITE_OK;
		if (*n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*nv));

			if (!nv)
				break;
			v = nv;
		}
		if (!(v[*n] = strdup(name ? name : "")))
			break;
		(*n)++;
	}
	if (rc != SQLITE_DONE)
		set_error(h, "reading names", h->rdb);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&h->rlock);
	if (rc != SQLITE_DONE) {
		while (*n)
			free(v[--*n]);
		free(v);
		return -EIO;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), str_pcmp);
	*out = v;
	return 0;
}

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
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>
#include "aggregator/promrw.h"
#include "aggregator/remote_write.h"
#include "common/log.h"
#include "common/sys.h"

#define RW_BACKOFF_MIN_MS	500
#define RW_BACKOFF_MAX_MS	30000

enum rw_kind { RW_FLEET, RW_SITE, RW_BOX, RW_CUSTOMER, RW_NKINDS };

static const char *const rw_metric[RW_NKINDS] = {
	"pingfold_fleet_rtt_seconds", "pingfold_site_rtt_seconds",
	"pingfold_box_rtt_seconds", "pingfold_customer_rtt_seconds",
};
static const char *const half_name[PF_NHALVES] = { "access", "internet" };

/* One entity's cumulative histograms, both halves. */
struct rw_acc {
	enum rw_kind kind;
	char name[256];			/* site path, box id, customer id; "" for the fleet */
	char site[256];			/* a customer's site */
	struct hist h[PF_NHALVES];
};

/* An encoded request, shared by the receivers' queues. */
struct rw_body {
	int refs;			/* under rw.mu */
	char *buf;
	size_t len;
	struct rw_body *next_unused;
};

struct rw_item {
	struct rw_body *b;
	uint64_t file;			/* its file in the receiver's queue folder; 0: none */
	struct rw_item *next;
};

struct rw_recv {
	struct remote_writer *rw;
	char url[512];
	nng_url *u;
	nng_http_client *client;
	nng_tls_config *tls;
	struct rw_item *head, *tail;	/* under rw.mu */
	uint64_t bytes;
	pthread_t thread;
	bool running;
	char last_error[2][200];	/* [network, HTTP]: each logged once until it changes */
	char dir[PATH_MAX];		/* --remote-write-queue-dir: its folder, or "" */
	uint64_t next_file;		/* under rw.mu */
};

struct remote_writer {
	struct rw_opts o;
	char auth[600];			/* the Authorization header, or "" */
	/* the accumulators: under the store's lock */
	struct rw_acc *acc;
	uint32_t nacc, capacc;
	uint32_t *idx;			/* open addressing: index + 1 */
	uint32_t idx_cap;
	/* snapshot -> encoder -> receivers */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rw_acc *snap;
	uint32_t nsnap;
	int64_t snap_ms;
	bool snap_new, stopping;
	pthread_t encoder;
	bool encoder_running;
	struct rw_recv recv[RW_MAX_URLS];
	int nrecv;
	struct rw_counts n;
};

static void count_add(uint64_t *c, int64_t v)
{
	__atomic_add_fetch(c, (uint64_t)v, __ATOMIC_RELAXED);
}

/* ---- accumulating (under the store's lock) ---------------------------------- */

static uint32_t acc_hash(enum rw_kind k, const char *name)
{
	uint32_t h = 2166136261u ^ (uint32_t)k;

	while (*name)
		h = (h ^ (unsigned char)*name++) * 16777619u;
	return h;
}

static int acc_grow_index(struct remote_writer *r)
{
	uint32_t cap = r->idx_cap ? r->idx_cap * 2 : 256, i, j;
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	for (i = 0; i < r->nacc; i++) {
		for (j = acc_hash(r->acc[i].kind, r->acc[i].name) & (cap - 1); idx[j];
		     j = (j + 1) & (cap - 1))
			;
		idx[j] = i + 1;
	}
	free(r->idx);
	r->idx = idx;
	r->idx_cap = cap;
	return 0;
}

static struct rw_acc *acc_get(struct remote_writer *r, enum rw_kind k, const char *name,
			      size_t nlen)
{
	char key[256];
	struct rw_acc *a;
	uint32_t j;

	snprintf(key, sizeof(key), "%.*s", (int)nlen, name);
	if (r->idx_cap)
		for (j = acc_hash(k, key) & (r->idx_cap - 1); r->idx[j];
		     j = (j + 1) & (r->idx_cap - 1))
			if (r->acc[r->idx[j] - 1].kind == k && !strcmp(r->acc[r->idx[j] - 1].name, key))
				return &r->acc[r->idx[j] - 1];
	if (2 * (r->nacc + 1) >= r->idx_cap && acc_grow_index(r))
		return NULL;
	if (r->nacc == r->capacc) {
		uint32_t cap = r->capacc ? r->capacc * 2 : 64;
		struct rw_acc *n = realloc(r->acc, cap * sizeof(*n));

		if (!n)
			return NULL;
		r->acc = n;
		r->capacc = cap;
	}
	a = &r->acc[r->nacc];
	memset(a, 0, sizeof(*a));
	a->kind = k;
	snprintf(a->name, sizeof(a->name), "%s", key);
	hist_init(&a->h[0]);
	hist_init(&a->h[1]);
	for (j = acc_hash(k, key) & (r->idx_cap - 1); r->idx[j]; j = (j + 1) & (r->idx_cap - 1))
		;
	r->idx[j] = ++r->nacc;
	return a;
}

static int acc_add(struct remote_writer *r, enum rw_kind k, const char *name, size_t nlen,
		   int half, const struct hist_sparse *h)
{
	struct rw_acc *a = acc_get(r, k, name, nlen);

	if (!a)
		return -ENOMEM;
	hist_merge_sparse(&a->h[half], h);
	return a - r->acc;
}

int rw_take(struct remote_writer *r, struct store *s, const struct wire_delta *d)
{
	struct store_cust_info ci;
	struct hist_sparse h;
	uint32_t i;
	int err = 0;

	for (i = 0; i < d->nh && err >= 0; i++) {
		const char *id = store_key_id(s, d->box, d->h[i].key), *p;
		int half = d->h[i].half & 1;
		bool named = id && !store_customer_info(s, id, &ci);

		wire_delta_get(d, i, &h);
		/* an excluded customer (store_set_excluded): its own series only */
		if (!named || !ci.excluded) {
			err = acc_add(r, RW_FLEET, "", 0, half, &h);
			if (err >= 0)
				err = acc_add(r, RW_BOX, d->box, strlen(d->box), half, &h);
		}
		if (err < 0 || !named)
			continue;	/* unnamed: its site is not known */
		/* a site sums its subtree: "North/Tower 1" counts in "North" too */
		for (p = ci.site; err >= 0 && *ci.site && !ci.excluded; p++) {
			if (*p == '/' || !*p)
				err = acc_add(r, RW_SITE, ci.site, (size_t)(p - ci.site), half, &h);
			if (!*p)
				break;
		}
		if (err >= 0 && r->o.customers) {
			err = acc_add(r, RW_CUSTOMER, id, strlen(id), half, &h);
			if (err >= 0)
				snprintf(r->acc[err].site, sizeof(r->acc[err].site), "%s", ci.site);
		}
	}
	return err < 0 ? err : 0;
}

int rw_tick(struct remote_writer *r, uint64_t now_ns)
{
	struct rw_acc *snap = malloc((r->nacc + 1) * sizeof(*snap));

	if (!snap)
		return -ENOMEM;
	memcpy(snap, r->acc, r->nacc * sizeof(*snap));
	pthread_mutex_lock(&r->mu);
	free(r->snap);		/* not encoded yet: the newer one holds it all */
	r->snap = snap;
	r->nsnap = r->nacc;
	r->snap_ms = (int64_t)(now_ns / 1000000);
	r->snap_new = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

/* ---- encoding (its own thread) ----------------------------------------------- */

static int encode(struct remote_writer *r, const struct rw_acc *a, uint32_t n, int64_t ms,
		  char **out, size_t *len)
{
	struct promrw_series *s = calloc(2 * (size_t)n + 1, sizeof(*s));
	const char **lab = calloc(2 * (size_t)n * 8 + 1, sizeof(*lab));
	size_t k = 0, l = 0;
	uint32_t i;
	int half, err;

	if (!s || !lab) {
		free(s);
		free(lab);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		for (half = 0; half < PF_NHALVES; half++) {
			const char **p = &lab[l];
			int np = 0;

			if (!a[i].h[half].count)
				continue;
			/* labels sorted by name: aggregator, box, customer, half, site */
			lab[l++] = "aggregator";
			lab[l++] = r->o.instance;
			np++;
			if (a[i].kind == RW_BOX) {
				lab[l++] = "box";
				lab[l++] = a[i].name;
				np++;
			}
			if (a[i].kind == RW_CUSTOMER) {
				lab[l++] = "customer";
				lab[l++] = a[i].name;
				np++;
			}
			lab[l++] = "half";
			lab[l++] = half_name[half];
			np++;
			if (a[i].kind == RW_SITE || (a[i].kind == RW_CUSTOMER && a[i].site[0])) {
				lab[l++] = "site";
				lab[l++] = a[i].kind == RW_SITE ? a[i].name : a[i].site;
				np++;
			}
			s[k++] = (struct promrw_series){ rw_metric[a[i].kind], p, np, &a[i].h[half] };
		}
	}
	__atomic_store_n(&r->n.series, k, __ATOMIC_RELAXED);
	err = r->o.classic ? promrw_encode_classic(s, k, ms, out, len) :
			     promrw_encode(s, k, ms, out, len);
	free(s);
	free(lab);
	return err;
}

static void body_put(struct rw_body *b)
{
	if (--b->refs == 0) {
		free(b->buf);
		free(b);
	}
}

/* ---- the queue, in memory and (--remote-write-queue-dir) on disk ------------ */

static void file_path(const struct rw_recv *q, uint64_t n, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%016llx.req", q->dir, (unsigned long long)n);
}

/* Writes a request to its file, whole or not at all. */
static int file_write(const struct rw_recv *q, uint64_t n, const struct rw_body *b)
{
	char path[PATH_MAX + 32];

	file_path(q, n, path, sizeof(path));
	return sys_write_file(path, b->buf, b->len);
}

static void file_remove(const struct rw_recv *q, uint64_t n)
{
	char path[PATH_MAX + 32];

	if (!n)
		return;
	file_path(q, n, path, sizeof(path));
	unlink(path);
}

/* Under mu: drops item it (not the head), counting it. */
static void drop_after(struct remote_writer *r, struct rw_recv *q, struct rw_item *prev)
{
	struct rw_item *old = prev->next;

	prev->next = old->next;
	if (q->tail == old)
		q->tail = prev;
	q->bytes -= old->b->len;
	count_add(&r->n.queue_bytes, -(int64_t)old->b->len);
	count_add(&r->n.dropped, 1);
	file_remove(q, old->file);
	body_put(old->b);
	free(old);
}

/* Under mu: appends b (its file n, or 0) to a queue, dropping the oldest past queue_bytes. */
static void enqueue(struct remote_writer *r, struct rw_recv *q, struct rw_body *b, uint64_t n)
{
	struct rw_item *it = calloc(1, sizeof(*it));

	if (!it) {
		count_add(&r->n.dropped, 1);
		file_remove(q, n);
		return;
	}
	it->b = b;
	it->file = n;
	b->refs++;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->bytes += b->len;
	count_add(&r->n.queue_bytes, (int64_t)b->len);
	/* never the head: its sender may be posting it */
	while (q->bytes > r->o.queue_bytes && q->head && q->head->next)
		drop_after(r, q, q->head);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The requests a previous run left in the folder, oldest first, back in the queue. */
static int queue_load(struct remote_writer *r, struct rw_recv *q)
{
	uint64_t *nums = NULL, n;
	size_t cnt = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	char c;

	if (mkdir(q->dir, 0700) && errno != EEXIST) {
		pr_err("--remote-write-queue-dir %s: %s", q->dir, strerror(errno));
		return -errno;
	}
	d = opendir(q->dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned long long v;

		if (strlen(de->d_name) > 4 && !strcmp(de->d_name + strlen(de->d_name) - 4, ".tmp")) {
			char tmp[PATH_MAX + 300];

			/* a write a crash cut short: never renamed, never sent */
			snprintf(tmp, sizeof(tmp), "%s/%s", q->dir, de->d_name);
			unlink(tmp);
			continue;
		}
		if (sscanf(de->d_name, "%16llx.re%c", &v, &c) != 2 || c != 'q' ||
		    strlen(de->d_name) != 20)
			continue;
		if (cnt == cap) {
			uint64_t *nn = realloc(nums, (cap = cap ? cap * 2 : 64) * sizeof(*nn));

			if (!nn)
				break;
			nums = nn;
		}
		nums[cnt++] = v;
	}
	closedir(d);
	qsort(nums, cnt, sizeof(*nums), cmp_u64);
	for (i = 0; i < cnt; i++) {
		char path[PATH_MAX + 32];
		struct rw_body *b = calloc(1, sizeof(*b));

		n = nums[i];
		file_path(q, n, path, sizeof(path));
		if (!b || sys_read_file(path, r->o.queue_bytes, &b->buf, &b->len) || !b->len) {
			pr_warn("remote write queue: %s unreadable; removed", path);
			unlink(path);
			free(b);
			continue;
		}
		b->refs = 1;
		enqueue(r, q, b, n);
		body_put(b);
		q->next_file = n + 1;
	}
	if (cnt)
		pr_info("remote write to %s: %zu requests from before the restart queued", q->url, cnt);
	free(nums);
	return 0;
}

static void *encoder_thread(void *arg)
{
	struct remote_writer *r = arg;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct rw_acc *snap;
		struct rw_body *b;
		uint32_t n;
		int64_t ms;
		int i, err;

		while (!r->snap_new && !r->stopping)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stopping)
			break;
		snap = r->snap;
		n = r->nsnap;
		ms = r->snap_ms;
		r->snap = NULL;
		r->snap_new = false;
		pthread_mutex_unlock(&r->mu);
		b = calloc(1, sizeof(*b));
		err = b ? encode(r, snap, n, ms, &b->buf, &b->len) : -ENOMEM;
		free(snap);
		pthread_mutex_lock(&r->mu);
		if (err) {
			pr_warn("remote write: request not encoded: %s", strerror(-err));
			free(b);
			continue;
		}
		b->refs = 1;
		for (i = 0; i < r->nrecv; i++) {
			struct rw_recv *q = &r->recv[i];
			uint64_t fn = 0;

			if (q->dir[0]) {
				fn = q->next_file++;
				pthread_mutex_unlock(&r->mu);
				err = file_write(q, fn, b);
				pthread_mutex_lock(&r->mu);
				if (err) {
					pr_warn("remote write queue %s: %s (kept in memory only)", q->dir,
						strerror(-err));
					fn = 0;
				}
			}
			enqueue(r, q, b, fn);
		}
		body_put(b);
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- sending (a thread per receiver) ------------------------------------------ */

/* One POST: 0 sent, 1 to retry, -1 refused for good (4xx). */
static int post(struct rw_recv *q, const struct rw_body *b, char *why, size_t wn)
{
	struct remote_writer *r = q->rw;
	nng_http_req *req = NULL;
	nng_http_res *res = NULL;
	nng_aio *aio = NULL;
	uint16_t status;
	void *data;
	size_t dlen;
	int rc;

	rc = nng_http_req_alloc(&req, q->u);
	rc = rc ?: nng_http_res_alloc(&res);
	rc = rc ?: nng_aio_alloc(&aio, NULL, NULL);
	rc = rc ?: nng_http_req_set_method(req, "POST");
	rc = rc ?: nng_http_req_set_header(req, "Content-Encoding", "snappy");
	rc = rc ?: nng_http_req_set_header(req, "Content-Type", "application/x-protobuf");
	rc = rc ?: nng_http_req_set_header(req, "X-Prometheus-Remote-Write-Version", "0.1.0");
	rc = rc ?: nng_http_req_set_header(req, "User-Agent", "pingfold-aggregator");
	if (!rc && r->auth[0])
		rc = nng_http_req_set_header(req, "Authorization", r->auth);
	rc = rc ?: nng_http_req_set_data(req, b->buf, b->len);
	if (rc) {
		snprintf(why, wn, "%s", nng_strerror(rc));
		rc = 1;
		goto out;
	}
	nng_aio_set_timeout(aio, (nng_duration)r->o.timeout_ms);
	nng_http_client_transact(q->client, req, res, aio);
	nng_aio_wait(aio);
	rc = nng_aio_result(aio);
	if (rc) {
		snprintf(why, wn, "%s", nng_strerror(rc));
		rc = 1;
		goto out;
	}
	status = nng_http_res_get_status(res);
	if (status / 100 == 2) {
		rc = 0;
		goto out;
	}
	nng_http_res_get_data(res, &data, &dlen);
	if (dlen > 150)
		dlen = 150;
	while (dlen && (((const char *)data)[dlen - 1] == '\n' || ((const char *)data)[dlen - 1] == '\r'))
		dlen--;
	snprintf(why, wn, "HTTP %u: %.*s", status, (int)dlen, data ? (const char *)data : "");
	if (data && dlen && memmem(data, dlen, "native histogram", 16))
		snprintf(why + strlen(why), wn - strlen(why), " (the receiver does not take "
			 "native histograms: Prometheus needs --enable-feature=native-histograms)");
	rc = status / 100 == 4 ? -1 : 1;
out:
	if (aio)
		nng_aio_free(aio);
	if (res)
		nng_http_res_free(res);
	if (req)
		nng_http_req_free(req);
	return rc;
}

/* Logs why a POST failed, once until the reason changes (network errors and
 * HTTP answers apart: a server that answers 401 and closes alternates them). */
static void say(struct rw_recv *q, const char *why, bool dropped)
{
	char *last = q->last_error[!strncmp(why, "HTTP ", 5)];

	if (!strncmp(last, why, sizeof(q->last_error[0]) - 1))
		return;		/* said already, until it changes */
	snprintf(last, sizeof(q->last_error[0]), "%s", why);
	pr_warn("remote write to %s: %s%s", q->url, why,
		dropped ? "; request dropped" : "; retrying with backoff");
}

static void *recv_thread(void *arg)
{
	struct rw_recv *q = arg;
	struct remote_writer *r = q->rw;
	uint32_t backoff = 0;

	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		struct rw_item *it = q->head;
		char why[512];
		int rc;

		if (!it) {
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		rc = post(q, it->b, why, sizeof(why));
		pthread_mutex_lock(&r->mu);
		if (rc > 0) {
			struct timespec until;
			uint64_t t;

			count_add(&r->n.retried, 1);
			say(q, why, false);
			backoff = backoff ? backoff * 2 : RW_BACKOFF_MIN_MS;
			if (backoff > RW_BACKOFF_MAX_MS)
				backoff = RW_BACKOFF_MAX_MS;
			t = sys_now_ns(CLOCK_REALTIME) + (uint64_t)backoff * 1000000ULL;
			until = (struct timespec){ (time_t)(t / 1000000000ULL),
						   (long)(t % 1000000000ULL) };
			while (!r->stopping &&
			       pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT)
				;
			continue;
		}
		if (rc < 0) {
			count_add(&r->n.dropped, 1);
			count_add(&r->n.failed_4xx, 1);
			say(q, why, true);
		} else {
			count_add(&r->n.sent, 1);
			if (q->last_error[0][0] || q->last_error[1][0])
				pr_info("remote write to %s: sending again", q->url);
			q->last_error[0][0] = q->last_error[1][0] = '\0';
		}
		backoff = 0;
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		q->bytes -= it->b->len;
		count_add(&r->n.queue_bytes, -(int64_t)it->b->len);
		file_remove(q, it->file);
		body_put(it->b);
		free(it);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- open / close -------------------------------------------------------------- */

static int read_token(const char *path, char *out, size_t cap)
{
	char *buf;
	size_t len;
	int rc = sys_read_file(path, 4096, &buf, &len);

	if (rc)
		return rc;
	buf[strcspn(buf, "\r\n")] = '\0';
	snprintf(out, cap, "Bearer %s", buf);
	free(buf);
	return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void basic_auth(const char *user_pass, char *out, size_t cap)
{
	size_t n = strlen(user_pass), i, o = (size_t)snprintf(out, cap, "Basic ");
	const unsigned char *p = (const unsigned char *)user_pass;

	for (i = 0; i < n && o + 5 < cap; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
}

static int open_recv(struct remote_writer *r, struct rw_recv *q, const char *url)
{
	int rc;

	q->rw = r;
	snprintf(q->url, sizeof(q->url), "%s", url);
	rc = nng_url_parse(&q->u, url);
	rc = rc ?: nng_http_client_alloc(&q->client, q->u);
	if (!rc && !strncmp(url, "https://", 8)) {
		rc = nng_tls_config_alloc(&q->tls, NNG_TLS_MODE_CLIENT);
		rc = rc ?: nng_tls_config_server_name(q->tls, q->u->u_hostname);
		rc = rc ?: nng_tls_config_auth_mode(q->tls, NNG_TLS_AUTH_MODE_REQUIRED);
		rc = rc ?: nng_tls_config_ca_file(q->tls, r->o.ca_file ? r->o.ca_file :
						  "/etc/ssl/certs/ca-certificates.crt");
		rc = rc ?: nng_http_client_set_tls(q->client, q->tls);
	}
	if (rc) {
		pr_err("--remote-write %s: %s", url, nng_strerror(rc));
		return -EINVAL;
	}
	q->next_file = 1;
	if (r->o.queue_dir) {
		uint32_t h = 2166136261u;
		const char *c;

		for (c = url; *c; c++)
			h = (h ^ (unsigned char)*c) * 16777619u;
		if (mkdir(r->o.queue_dir, 0700) && errno != EEXIST) {
			pr_err("--remote-write-queue-dir %s: %s", r->o.queue_dir, strerror(errno));
			return -errno;
		}
		/* one folder per receiver URL */
		snprintf(q->dir, sizeof(q->dir), "%s/%08x", r->o.queue_dir, h);
		rc = queue_load(r, q);
		if (rc)
			return rc;
	}
	if (pthread_create(&q->thread, NULL, recv_thread, q))
		return -EAGAIN;
	q->running = true;
	return 0;
}

int rw_open(struct remote_writer **rp, const struct rw_opts *o)
{
	struct remote_writer *r = calloc(1, sizeof(*r));
	int i, err = 0;

	*rp = NULL;
	if (!r)
		return -ENOMEM;
	r->o = *o;
	if (!r->o.queue_bytes)
		r->o.queue_bytes = 64ULL << 20;
	if (!r->o.timeout_ms)
		r->o.timeout_ms = 10000;
	if (o->bearer_file && (err = read_token(o->bearer_file, r->auth, sizeof(r->auth))))
		pr_err("--remote-write-bearer-file %s: %s", o->bearer_file, strerror(-err));
	else if (o->basic_auth)
		basic_auth(o->basic_auth, r->auth, sizeof(r->auth));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	for (i = 0; i < o->nurls && !err; i++) {
		err = open_recv(r, &r->recv[i], o->urls[i]);
		r->nrecv = i + (err ? 0 : 1);
	}
	if (!err && pthread_create(&r->encoder, NULL, encoder_thread, r))
		err = -EAGAIN;
	r->encoder_running = !err;
	if (err) {
		rw_close(r);
		return err;
	}
	*rp = r;
	return 0;
}

void rw_close(struct remote_writer *r)
{
	int i;

	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->encoder_running)
		pthread_join(r->encoder, NULL);
	for (i = 0; i < r->nrecv; i++) {
		struct rw_recv *q = &r->recv[i];

		/* a POST under way ends within timeout_ms */
		if (q->running)
			pthread_join(q->thread, NULL);
		while (q->head) {
			struct rw_item *it = q->head;

			q->head = it->next;
			body_put(it->b);
			free(it);
		}
		if (q->client)
			nng_http_client_free(q->client);
		if (q->tls)
			nng_tls_config_free(q->tls);
		if (q->u)
			nng_url_free(q->u);
	}
	free(r->snap);
	free(r->acc);
	free(r->idx);
	free(r);
}

const struct rw_counts *rw_counters(const struct remote_writer *r)
{
	return &r->n;
}

/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * pingfold-aggregator's parts and what they share (docs/architecture.md):
 *   main.c    sockets, the loop
 *   config.c  options (the command line, config files, --help)
 *   ingest.c  messages in: identity, refusals, merging into the store
 *   gaps.c    replay workers that fetch what a box's sequence misses
 *   serve.c   the query API thread, views and republish every interval
 * Everything that touches the store holds agg.lock.
 */
#ifndef PINGFOLD_AGG_H
#define PINGFOLD_AGG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <nng/nng.h>
#include "aggregator/history.h"
#include "aggregator/http.h"
#include "aggregator/remote_write.h"
#include "aggregator/republish.h"
#include "aggregator/store.h"
#include "common/options.h"
#include "common/tls.h"
#include "common/wire.h"

#define AGG_MAX_URLS	64
#define REPLAY_TIMEO_MS	3000	/* each of: connecting + sending, the answer */
#define LOG_BURST	10	/* refusals logged per LOG_PERIOD, the rest summed */
#define LOG_PERIOD_NS	(10 * 1000000000ULL)

struct agg_cfg {
	const char *agents[AGG_MAX_URLS];	/* dialled: URL[,replay=URL] */
	int nagents;
	const char *listen[AGG_MAX_URLS];	/* agents dial in here */
	int nlisten;
	const char *replay_for[AGG_MAX_URLS];	/* BOX=URL for agents that dial in */
	int nreplay_for;
	const char *query[8];			/* req/rep query API */
	int nquery;
	const char *views[8];			/* pub stream of views */
	int nviews;
	const char *republish[8];		/* merged deltas, agent format */
	int nrepublish;
	const char *republish_replay[8];
	int nrepublish_replay;
	char id[WIRE_BOX_MAX];
	uint64_t interval_ms;			/* views and republish */
	enum store_window view_window;
	bool view_customers;
	struct store_opts store;
	struct tls_opts tls;			/* for tls+tcp:// URLs */
	const char *http_url, *http_static;
	double green_ms, yellow_ms;
	bool metrics_customers;
	uint32_t replay_workers;		/* concurrent replay fetches */
	uint64_t http_max_conns, http_idle_ms;
	uint64_t claim_idle_ms;			/* a silent pipe's claim lapses */
	struct rw_opts rw;			/* --remote-write */
	uint64_t rw_interval_ms;
	const char *history_dir;		/* --history-dir */
	const char *exclude_file;		/* --exclude */
	struct history_opts hist;
};

/* A dialled agent: its replay URL, the one box id it may publish (box=). */
struct peer {
	nng_dialer dialer;
	char url[256];
	char replay[256];
	char pin[WIRE_BOX_MAX];
	bool warned;			/* a refusal of it logged (main thread) */
};

/*
 * Identity (docs/aggregator.md "Who may speak for a box"): a box id is
 * bound to the first connection (nng pipe) that sends under it, until
 * that pipe closes or stays silent for claim_idle_ms; another pipe
 * claiming it meanwhile is refused. A dialled peer with box=ID may only
 * send as ID (with TLS, its certificate was checked to name ID).
 */
struct claim {
	char box[WIRE_BOX_MAX];
	uint32_t pipe;			/* 0: free (its pipe closed) */
	uint64_t last_ns;
	uint32_t warned_pipe;		/* refusals logged once per pipe */
};

#define AGG_MAX_GAPS 256
#define AGG_MAX_BOX_GAPS 16	/* queued per box: a dead replay host cannot fill the queue */

/* A range of a box's deltas to fetch by replay. */
struct gap {
	char box[WIRE_BOX_MAX];
	uint64_t epoch, first, last;
};

struct box_replay {
	char box[WIRE_BOX_MAX];
	char url[256];
};

struct agg {
	struct agg_cfg cfg;
	struct store *store;
	pthread_mutex_t lock;
	/* identity: its own lock (the pipe callback runs on nng's threads) */
	pthread_mutex_t claim_lock;
	struct claim *claims;
	uint32_t *claim_idx;		/* [2 * capclaims]: index + 1, 0 = empty */
	uint32_t nclaims, capclaims;
	/* replay fetches: a queue, workers, one fetch per box at a time */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	char (*inflight)[WIRE_BOX_MAX];	/* [replay_workers] */
	uint32_t workers_alive;
	bool closed;			/* the store is gone (under lock) */
	/* refusals logged: LOG_BURST per LOG_PERIOD_NS */
	uint64_t log_period_start, log_suppressed;
	uint32_t log_in_period;
	nng_socket sub, qrep, vpub;
	bool has_q, has_v;
	struct republisher *repub;	/* --republish */
	struct remote_writer *rw;	/* --remote-write */
	struct history *hist;		/* --history-dir */
	uint64_t rw_next_ns;
	struct peer peers[AGG_MAX_URLS];
	int npeers;
	struct box_replay br[AGG_MAX_URLS * 2];
	int nbr;
	struct gap gaps[AGG_MAX_GAPS];	/* queued fetches (qlock) */
	int ngaps;
	pthread_t qthread;
	struct http *http;
	volatile int stopping;
	uint64_t n_msgs, n_decode_errors, n_replays, n_replayed, n_query_drops;
	uint64_t n_exclude_loads, n_exclude_errors;
};

/* config.c */
void agg_cfg_default(struct agg_cfg *c);
extern const struct opt agg_opts[];

/* gaps.c */
void agg_learn_replay(struct agg *a, const char *box, const char *url);
void agg_queue_gap(struct agg *a, const char *box, uint64_t epoch, uint64_t gf, uint64_t gl);
int agg_replay_start(struct agg *a);
/* Stops the workers; false if one was still waiting for its host after wait_ms. */
bool agg_replay_stop(struct agg *a, int wait_ms);

/* ingest.c (under lock, but agg_on_pipe_rem: nng's callback) */
void agg_on_message(struct agg *a, nng_msg *m);
void agg_merge_delta(struct agg *a, const struct wire_delta *d, bool replayed);
void agg_on_pipe_rem(nng_pipe p, nng_pipe_ev ev, void *arg);
__attribute__((format(printf, 2, 3)))
void agg_log_refusal(struct agg *a, const char *fmt, ...);
void agg_log_period_end(struct agg *a, uint64_t now);

/* serve.c */
void *agg_query_thread(void *arg);
/* Every interval, under lock: views and republish. */
void agg_tick(struct agg *a);

#endif /* PINGFOLD_AGG_H */

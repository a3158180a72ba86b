/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The replay ring: the last N encoded delta messages of one epoch, so a
 * receiver that missed some (pub/sub drops silently) can ask for them.
 * Thread-safe: the publisher pushes, the replay server reads.
 */
#ifndef PINGFOLD_RING_H
#define PINGFOLD_RING_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct ring_entry {
	uint64_t seq;		/* 0 = empty */
	char *msg;
	size_t len;
};

struct ring {
	pthread_mutex_t lock;
	struct ring_entry *e;
	uint32_t cap;
	uint64_t epoch;
	size_t bytes;		/* held in messages */
};

int ring_init(struct ring *r, uint32_t cap, uint64_t epoch);
void ring_free(struct ring *r);
/* Takes ownership of msg (malloc'd). seqs must increase; a gap is fine. */
void ring_push(struct ring *r, uint64_t seq, char *msg, size_t len);

/*
 * Copies of messages first..last (at most max of them) into out[] (each
 * malloc'd, caller frees). Returns how many, with *oldest the oldest seq
 * held (0 if none) and -ESRCH if epoch is not the ring's.
 */
int ring_get(struct ring *r, uint64_t epoch, uint64_t first, uint64_t last, uint32_t max,
	     struct ring_entry *out, uint64_t *oldest);

#endif /* PINGFOLD_RING_H */

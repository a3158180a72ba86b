/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The journal of the exactly-once reader (docs/agent.md): the encoded
 * delta about to be committed and the reader updates behind it, written
 * before the commit. It is whole or old: written to PATH.tmp, then renamed.
 * After a crash, a journal at the committed seq was committed (publish it
 * again); one at committed + 1 was not (apply its updates, then publish).
 */
#ifndef PINGFOLD_JOURNAL_H
#define PINGFOLD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include "datapath/datapath.h"

struct journal_entry {
	uint64_t seq;
	char *msg;		/* the encoded delta */
	size_t len;
	struct pf_dp_upd *upd;	/* the updates its read staged */
	size_t nupd;
};

int journal_write(const char *path, uint64_t epoch, uint64_t seq, const char *msg, size_t len,
		  const struct pf_dp_upd *upd, size_t nupd);
/*
 * The journal of epoch if its seq is committed or committed + 1: returns 1
 * with *e filled (free with journal_entry_free). 0 when there is nothing to
 * recover: no journal, one of another epoch or an older seq, or (with *why
 * saying which) a short or damaged one. -ENOMEM, or -errno of open().
 */
int journal_read(const char *path, uint64_t epoch, uint64_t committed, struct journal_entry *e,
		 const char **why);
void journal_entry_free(struct journal_entry *e);

#endif /* PINGFOLD_JOURNAL_H */

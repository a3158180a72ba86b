/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The two halves of a path, seen from the shaper (docs/datapath.md). One
 * definition for the BPF datapath, the wire format and the aggregator; no
 * includes, so that BPF can use it too.
 */
#ifndef PINGFOLD_HALF_H
#define PINGFOLD_HALF_H

enum pf_half {
	PF_HALF_ACCESS = 0,	/* shaper -> customer -> shaper */
	PF_HALF_INTERNET = 1,	/* shaper -> remote host -> shaper */
	PF_NHALVES = 2,
};

#endif /* PINGFOLD_HALF_H */

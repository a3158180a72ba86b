/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The few things the daemons ask of the operating system in more than one
 * place: the time, a whole file. Pure modules (hist, wire, store, custlist
 * parsing) never call these; their callers pass times and bytes in.
 */
#ifndef PINGFOLD_SYS_H
#define PINGFOLD_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* clk (CLOCK_REALTIME for wire times, CLOCK_MONOTONIC for intervals) in ns. */
uint64_t sys_now_ns(clockid_t clk);

/*
 * The whole of path into a new buffer (*buf, free()), NUL-terminated beyond
 * *len. -EFBIG when longer than max bytes; otherwise 0 or -errno of the
 * open/read that failed.
 */
int sys_read_file(const char *path, size_t max, char **buf, size_t *len);

/*
 * len bytes into path, whole or not at all: written to path.tmp, synced,
 * renamed. 0 or -errno (the .tmp removed).
 */
int sys_write_file(const char *path, const void *buf, size_t len);

/*
 * Takes the page faults of [p, p + len) now, for writing, without changing
 * a byte (an atomic OR of 0 per page: safe beside other writers, such as
 * BPF programs on a mapped map). p: 8-byte aligned.
 */
void sys_prefault(void *p, size_t len);

/* The CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
struct timespec sys_deadline(int ms);

#endif /* PINGFOLD_SYS_H */

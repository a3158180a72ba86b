/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Config files of both daemons: "key = value" lines, '#' comments, blank
 * lines. Keys are the long option names (so a file and the command line
 * say the same thing); a key may repeat where the option does.
 */
#ifndef PINGFOLD_CFGFILE_H
#define PINGFOLD_CFGFILE_H

#include <stddef.h>
#include <stdint.h>
#include "cfgerr.h"

/* Called for each setting; returns 0 or -errno having filled err->msg. */
typedef int (*cfgfile_fn)(void *ctx, const char *key, const char *value, struct cfg_err *err);

/* Reads path, calling fn in order. Errors carry file:line. */
int cfgfile_load(const char *path, cfgfile_fn fn, void *ctx, struct cfg_err *err);
/*
 * A decimal number in min..max: digits only (no sign, space or trailing text). On error,
 * err->msg says "KEY: 'V' is not a number in MIN..MAX"; returns -EINVAL.
 */
int cfg_u64(const char *key, const char *v, uint64_t min, uint64_t max, uint64_t *out,
	    struct cfg_err *err);
int cfgfile_parse(const char *name, const char *buf, size_t len, cfgfile_fn fn, void *ctx,
		  struct cfg_err *err);
/*
 * A setting's string, kept for the life of the process: settings outlive
 * the parse, may be replaced (a file, then the command line) and are read
 * by threads until exit, so they are never freed; this keeps them all
 * listed (reachable: not leaks). NULL on ENOMEM.
 */
char *cfg_strdup(const char *v);

#endif /* PINGFOLD_CFGFILE_H */

/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Where and why an input was refused: "FILE:LINE: MSG". Filled by every
 * parser of files and settings (customer lists, network.json, config
 * files, options, TLS files); printed once by the caller that handles it.
 */
#ifndef PINGFOLD_CFGERR_H
#define PINGFOLD_CFGERR_H

#include <stdarg.h>
#include <stddef.h>

struct cfg_err {
	char file[256];
	unsigned line;		/* 0 when not about one line */
	char msg[256];
};

/* Fills *e and returns rc (a -errno), so that `return cfg_err_set(...)` reads. */
__attribute__((format(printf, 5, 6)))
int cfg_err_set(struct cfg_err *e, const char *file, unsigned line, int rc, const char *fmt, ...);
int cfg_err_vset(struct cfg_err *e, const char *file, unsigned line, int rc, const char *fmt,
		 va_list ap);
/* "FILE:LINE: MSG", "FILE: MSG" or "MSG", into buf. */
const char *cfg_err_str(const struct cfg_err *e, char *buf, size_t len);

#endif /* PINGFOLD_CFGERR_H */

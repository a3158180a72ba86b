// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include "cfgerr.h"

int cfg_err_vset(struct cfg_err *e, const char *file, unsigned line, int rc, const char *fmt,
		 va_list ap)
{
	snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
	e->line = line;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return rc;
}

int cfg_err_set(struct cfg_err *e, const char *file, unsigned line, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_err_vset(e, file, line, rc, fmt, ap);
	va_end(ap);
	return rc;
}

const char *cfg_err_str(const struct cfg_err *e, char *buf, size_t len)
{
	if (e->line)
		snprintf(buf, len, "%s:%u: %s", e->file, e->line, e->msg);
	else if (e->file[0])
		snprintf(buf, len, "%s: %s", e->file, e->msg);
	else
		snprintf(buf, len, "%s", e->msg);
	return buf;
}

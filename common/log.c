// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "log.h"

static enum log_level log_level = LOG_LVL_INFO;
static const char *log_ident = "pingfold";

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	/* sd-daemon(3) priority prefixes, so journald keeps the level */
	static const char *const prio[] = { "<3>", "<4>", "<6>", "<7>" };
	static const char *const name[] = { "error: ", "warning: ", "", "debug: " };
	static int journal = -1;
	va_list ap;

	if (lvl > log_level)
		return;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	va_start(ap, fmt);
	fprintf(stderr, "%s%s: %s", journal ? prio[lvl] : "", log_ident, name[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

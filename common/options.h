/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Both daemons' settings from one table each: the same entry reads the
 * command line (--name VALUE, -x VALUE), a config file line ("name =
 * value", common/cfgfile.h) and prints its line of --help. In the style of
 * xdp-tools' DEFINE_OPTION: name, type, where in the settings struct, help.
 */
#ifndef PINGFOLD_OPTIONS_H
#define PINGFOLD_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "cfgerr.h"

enum opt_type {
	OPT_END = 0,
	OPT_HEADING,	/* no option: a line of --help (help) */
	OPT_U64,	/* uint64_t at off: a number in min..max, stored times mul */
	OPT_U32,	/* uint32_t at off: the same */
	OPT_STR,	/* const char * at off, not empty (kept for the process's life) */
	OPT_LIST,	/* appended to the const char *[max] at off; its int count at count_off */
	OPT_URLS,	/* OPT_LIST whose values are URLs (SCHEME://...) */
	OPT_BOOL,	/* bool at off: yes/no/true/false in a file; on the command line
			 * it takes no value and sets true (false with OPT_F_CLEARS) */
	OPT_FN,		/* set(cfg, name, value, err) */
	OPT_CLI,	/* command line only, no value: told to the caller's flag() */
};

#define OPT_F_CLEARS	1	/* OPT_BOOL: the command-line form sets false */
#define OPT_F_CLI_ONLY	2	/* not a config-file key */

struct opt {
	const char *name;	/* the long option and config key */
	int letter;		/* short option, or 0 */
	enum opt_type type;
	size_t off, count_off;
	uint64_t min, max, mul;	/* numbers: range and unit; lists: capacity (max) */
	int (*set)(void *cfg, const char *name, const char *v, struct cfg_err *e);
	const char *arg;	/* its value in --help ("MS"); NULL: none */
	const char *help;	/* '\n' continues on the next line */
	int flags;
	const char *file_name;	/* OPT_BOOL with OPT_F_CLEARS: the file's key */
};

/* One setting by its name (config files; the command line through opts_parse). */
int opts_set(const struct opt *t, void *cfg, const char *name, const char *v,
	     struct cfg_err *e);
/*
 * -c FILE / --config FILE first, wherever they stand, then every other
 * option in order (the command line wins). OPT_CLI options go to
 * flag(cfg, opt). Returns 0, or 2 after logging what was wrong.
 */
int opts_parse(const struct opt *t, void *cfg, int argc, char **argv, const char *prog,
	       int (*flag)(void *cfg, const struct opt *o));
/* The options part of --help. */
void opts_usage(FILE *f, const struct opt *t);

#endif /* PINGFOLD_OPTIONS_H */

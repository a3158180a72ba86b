// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "cfgfile.h"
#include "log.h"
#include "options.h"

#define OPTS_MAX	96
#define HELP_COL	28	/* where help text starts in --help */

static void *at(void *cfg, size_t off)
{
	return (char *)cfg + off;
}

static bool is_opt(const struct opt *o)
{
	return o->type != OPT_END && o->type != OPT_HEADING;
}

static int set_list(const struct opt *o, void *cfg, const char *name, const char *v,
		    struct cfg_err *e)
{
	const char **arr = at(cfg, o->off);
	int *n = at(cfg, o->count_off);

	if ((uint64_t)*n >= o->max) {
		snprintf(e->msg, sizeof(e->msg), "%s: at most %llu", name,
			 (unsigned long long)o->max);
		return -E2BIG;
	}
	if (!*v) {
		snprintf(e->msg, sizeof(e->msg), "%s: empty value", name);
		return -EINVAL;
	}
	if (o->type == OPT_URLS && !strstr(v, "://")) {
		snprintf(e->msg, sizeof(e->msg), "%s: '%s' is not a URL (tcp://HOST:PORT, "
			 "tls+tcp://..., ipc:///path)", name, v);
		return -EINVAL;
	}
	arr[*n] = cfg_strdup(v);
	if (!arr[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int set_one(const struct opt *o, void *cfg, const char *name, const char *v,
		   struct cfg_err *e)
{
	uint64_t x;
	int rc;

	switch (o->type) {
	case OPT_U64:
	case OPT_U32:
		rc = cfg_u64(name, v, o->min, o->max, &x, e);
		if (rc)
			return rc;
		x *= o->mul ? o->mul : 1;
		if (o->type == OPT_U64)
			*(uint64_t *)at(cfg, o->off) = x;
		else
			*(uint32_t *)at(cfg, o->off) = (uint32_t)x;
		return 0;
	case OPT_STR:
		if (!*v) {
			snprintf(e->msg, sizeof(e->msg), "%s: empty value", name);
			return -EINVAL;
		}
		*(const char **)at(cfg, o->off) = cfg_strdup(v);
		return *(const char **)at(cfg, o->off) ? 0 : -ENOMEM;
	case OPT_LIST:
	case OPT_URLS:
		return set_list(o, cfg, name, v, e);
	case OPT_BOOL:
		if (strcmp(v, "yes") && strcmp(v, "no") && strcmp(v, "true") && strcmp(v, "false")) {
			snprintf(e->msg, sizeof(e->msg), "%s: yes or no", name);
			return -EINVAL;
		}
		*(bool *)at(cfg, o->off) = v[0] == 'y' || v[0] == 't';
		return 0;
	case OPT_FN:
		return o->set(cfg, name, v, e);
	default:
		snprintf(e->msg, sizeof(e->msg), "unknown setting '%s'", name);
		return -EINVAL;
	}
}

int opts_set(const struct opt *t, void *cfg, const char *name, const char *v,
	     struct cfg_err *e)
{
	for (; t->type != OPT_END; t++) {
		const char *key = t->file_name ? t->file_name : t->name;

		if (!is_opt(t) || t->type == OPT_CLI || (t->flags & OPT_F_CLI_ONLY) ||
		    strcmp(key, name))
			continue;
		return set_one(t, cfg, name, v, e);
	}
	snprintf(e->msg, sizeof(e->msg), "unknown setting '%s'", name);
	return -EINVAL;
}

static int from_file(void *cfg, const char *key, const char *v, struct cfg_err *e)
{
	const struct opt *const *t = cfg;

	return opts_set(t[0], (void *)t[1], key, v, e);
}

/* A --help line's option part: "  -i, --iface IF". */
static int opt_head(const struct opt *o, char *buf, size_t cap)
{
	char l[8] = "    ";

	if (o->letter)
		snprintf(l, sizeof(l), "-%c, ", o->letter);
	return snprintf(buf, cap, "  %s--%s%s%s", l, o->name, o->arg ? " " : "",
			o->arg ? o->arg : "");
}

void opts_usage(FILE *f, const struct opt *t)
{
	char head[96];

	for (; t->type != OPT_END; t++) {
		const char *h = t->help ? t->help : "", *nl;
		int n;

		if (t->type == OPT_HEADING) {
			fprintf(f, "%s\n", h);
			continue;
		}
		n = opt_head(t, head, sizeof(head));
		fputs(head, f);
		if (!*h) {
			fputc('\n', f);
			continue;
		}
		if (n >= HELP_COL - 1)
			fprintf(f, "\n%*s", HELP_COL, "");
		else
			fprintf(f, "%*s", HELP_COL - n, "");
		for (; (nl = strchr(h, '\n')); h = nl + 1)
			fprintf(f, "%.*s\n%*s", (int)(nl - h), h, HELP_COL, "");
		fprintf(f, "%s\n", h);
	}
}

int opts_parse(const struct opt *t, void *cfg, int argc, char **argv, const char *prog,
	       int (*flag)(void *cfg, const struct opt *o))
{
	struct option lo[OPTS_MAX + 1];
	const struct opt *by[OPTS_MAX];
	struct cfg_err e = { .file = "(command line)" };
	const void *ctx[2] = { t, cfg };
	char shorts[2 * OPTS_MAX + 2] = "", buf[600];
	int n = 0, c, i;

	for (i = 0; t[i].type != OPT_END && n < OPTS_MAX; i++) {
		bool val = t[i].type != OPT_CLI && t[i].type != OPT_BOOL;

		if (!is_opt(&t[i]))
			continue;
		lo[n] = (struct option){ t[i].name, val ? required_argument : no_argument, NULL,
					 256 + n };
		by[n] = &t[i];
		if (t[i].letter) {
			size_t k = strlen(shorts);

			shorts[k++] = (char)t[i].letter;
			if (val)
				shorts[k++] = ':';
			shorts[k] = '\0';
		}
		n++;
	}
	lo[n] = (struct option){ 0 };
	/* the config files first */
	for (i = 1; i < argc; i++) {
		const char *file = NULL;

		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
			file = i + 1 < argc ? argv[i + 1] : NULL;
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
		if (file && cfgfile_load(file, from_file, ctx, &e)) {
			pr_err("%s", cfg_err_str(&e, buf, sizeof(buf)));
			return 2;
		}
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct opt *o = NULL;
		int rc;

		if (c == '?') {		/* getopt said what */
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return 2;
		}
		if (c >= 256 && c < 256 + n) {
			o = by[c - 256];
		} else {
			for (i = 0; i < n && !o; i++)
				if (by[i]->letter == c)
					o = by[i];
		}
		if (!o)
			return 2;
		if (!strcmp(o->name, "config"))
			continue;
		if (o->type == OPT_CLI) {
			rc = flag(cfg, o);
			if (rc)
				return rc;
			continue;
		}
		if (o->type == OPT_BOOL) {
			*(bool *)at(cfg, o->off) = !(o->flags & OPT_F_CLEARS);
			continue;
		}
		e.msg[0] = '\0';
		if (set_one(o, cfg, o->name, optarg, &e)) {
			pr_err("--%s", e.msg);
			return 2;
		}
	}
	if (optind < argc) {
		pr_err("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	return 0;
}

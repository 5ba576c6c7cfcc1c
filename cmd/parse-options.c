// SPDX-License-Identifier: MIT
#include "cmd/parse-options.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void string_list_append(struct string_list *l, const char *s)
{
	if (l->nr == l->alloc) {
		size_t n = l->alloc ? l->alloc * 2 : 8;
		const char **items = realloc(l->items, n * sizeof(*items));

		if (!items) {
			fprintf(stderr, "fatal: out of memory\n");
			exit(128);
		}
		l->items = items;
		l->alloc = n;
	}
	l->items[l->nr++] = s;
}

void string_list_clear(struct string_list *l)
{
	free(l->items);
	l->items = NULL;
	l->nr = l->alloc = 0;
}

static void print_usage(FILE *f, const char *const *usage, const struct option *opts)
{
	const struct option *o;

	bool text = false;

	/*
	 * As git: each line is another form ("or:"), a line that starts with
	 * a space continues the one before, and after an empty line comes
	 * text, indented.
	 */
	fprintf(f, "usage: %s\n", usage[0]);
	for (usage++; *usage; usage++) {
		if (!**usage)
			text = true;
		fprintf(f, "%s%s\n", !**usage ? "" : text ? "    " : **usage == ' ' ? "       " : "   or: ",
			*usage);
	}
	if (!opts || opts->type == OPTION_END)
		return;
	fputc('\n', f);
	for (o = opts; o->type != OPTION_END; o++) {
		char left[128];
		int n = 0;

		if (o->type == OPTION_GROUP) {
			fprintf(f, "%s%s\n", o == opts ? "" : "\n", o->help);
			continue;
		}
		n += snprintf(left + n, sizeof(left) - n, "    ");
		if (o->short_name)
			n += snprintf(left + n, sizeof(left) - n, "-%c%s", o->short_name,
				      o->long_name ? ", " : "");
		if (o->long_name)
			n += snprintf(left + n, sizeof(left) - n, "--%s", o->long_name);
		if (o->argh && n < (int)sizeof(left))
			snprintf(left + n, sizeof(left) - n, " <%s>", o->argh);
		if (strlen(left) > 26)
			fprintf(f, "%s\n%28s%s\n", left, "", o->help);
		else
			fprintf(f, "%-28s%s\n", left, o->help);
	}
}

void usage_with_options(const char *const *usage, const struct option *opts)
{
	print_usage(stderr, usage, opts);
	exit(129);
}

void usage_msg_opt(const char *msg, const char *const *usage, const struct option *opts)
{
	fprintf(stderr, "error: %s\n\n", msg);
	usage_with_options(usage, opts);
}

__attribute__((format(printf, 3, 4), noreturn))
static void opt_error(const char *const *usage, const struct option *opts,
		      const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	usage_msg_opt(msg, usage, opts);
}

static void set_value(const struct option *o, const char *arg, bool negated,
		      const char *const *usage, const struct option *opts)
{
	char *end;
	long v;

	switch (o->type) {
	case OPTION_BOOL:
		*(bool *)o->value = !negated;
		break;
	case OPTION_STRING:
		*(const char **)o->value = arg;
		break;
	case OPTION_STRING_LIST:
		string_list_append(o->value, arg);
		break;
	case OPTION_INT:
		errno = 0;
		v = strtol(arg, &end, 10);
		if (!*arg || *end || errno || v < INT_MIN || v > INT_MAX)
			opt_error(usage, opts, "option '%s' expects a whole number", o->long_name);
		*(int *)o->value = (int)v;
		break;
	default:
		break;
	}
}

static const struct option *find_long(const struct option *opts, const char *name,
				      size_t len, bool *negated)
{
	const struct option *o;

	*negated = false;
	for (o = opts; o && o->type != OPTION_END; o++)
		if (o->long_name && strlen(o->long_name) == len && !strncmp(o->long_name, name, len))
			return o;
	if (len > 3 && !strncmp(name, "no-", 3))
		for (o = opts; o && o->type != OPTION_END; o++)
			if (o->type == OPTION_BOOL && o->long_name &&
			    strlen(o->long_name) == len - 3 && !strncmp(o->long_name, name + 3, len - 3)) {
				*negated = true;
				return o;
			}
	return NULL;
}

int parse_options(int argc, const char **argv, const struct option *opts,
		  const char *const *usage, int flags)
{
	int i, nout = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct option *o;
		bool negated;

		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				argv[nout++] = argv[i];
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			print_usage(stdout, usage, opts);
			exit(0);
		}
		if (a[0] != '-' || !a[1]) {
			if (flags & PARSE_OPT_STOP_AT_NON_OPTION) {
				for (; i < argc; i++)
					argv[nout++] = argv[i];
				break;
			}
			argv[nout++] = a;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);

			o = find_long(opts, name, len, &negated);
			if (!o)
				opt_error(usage, opts, "unknown option '%s'", name);
			if (o->type == OPTION_BOOL) {
				if (eq)
					opt_error(usage, opts, "option '%s' takes no value", o->long_name);
				set_value(o, NULL, negated, usage, opts);
			} else if (eq) {
				set_value(o, eq + 1, false, usage, opts);
			} else if (i + 1 < argc) {
				set_value(o, argv[++i], false, usage, opts);
			} else {
				opt_error(usage, opts, "option '%s' requires a value", o->long_name);
			}
			continue;
		}
		/* Bundled short options: -qv, -n4, -n 4. */
		for (a++; *a; a++) {
			char sname[2] = { *a, 0 };

			for (o = opts; o->type != OPTION_END; o++)
				if (o->short_name == *a)
					break;
			if (o->type == OPTION_END)
				opt_error(usage, opts, "unknown switch '%s'", sname);
			if (o->type == OPTION_BOOL) {
				set_value(o, NULL, false, usage, opts);
				continue;
			}
			if (a[1]) {
				set_value(o, a + 1, false, usage, opts);
			} else if (i + 1 < argc) {
				set_value(o, argv[++i], false, usage, opts);
			} else {
				opt_error(usage, opts, "switch '%s' requires a value", sname);
			}
			break;
		}
	}
	argv[nout] = NULL;
	return nout;
}

/* SPDX-License-Identifier: MIT */
/*
 * A small option parser in the manner of git's parse-options: one table per
 * command gives the options, their help and the usage lines, so -h output
 * and error messages are the same everywhere.
 *
 * -h prints the usage on stdout and exits 0; a bad option prints
 * "error: ..." and the usage on stderr and exits 129.
 */
#ifndef SBX_CMD_PARSE_OPTIONS_H
#define SBX_CMD_PARSE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum opt_type {
	OPTION_END,
	OPTION_GROUP,		/* a heading in the -h output */
	OPTION_BOOL,		/* bool *; --no-<name> clears it */
	OPTION_STRING,		/* const char ** */
	OPTION_STRING_LIST,	/* struct string_list *; repeatable */
	OPTION_INT,		/* int *, decimal */
};

struct string_list {
	const char **items;
	size_t nr, alloc;
};
void string_list_append(struct string_list *l, const char *s);
void string_list_clear(struct string_list *l);

struct option {
	enum opt_type type;
	int short_name;
	const char *long_name;
	void *value;
	const char *argh;
	const char *help;
};

#define OPT_END() { OPTION_END, 0, NULL, NULL, NULL, NULL }
#define OPT_GROUP(h) { OPTION_GROUP, 0, NULL, NULL, NULL, (h) }
#define OPT_BOOL(s, l, v, h) { OPTION_BOOL, (s), (l), (v), NULL, (h) }
#define OPT_STRING(s, l, v, a, h) { OPTION_STRING, (s), (l), (v), (a), (h) }
#define OPT_STRING_LIST(s, l, v, a, h) { OPTION_STRING_LIST, (s), (l), (v), (a), (h) }
#define OPT_INT(s, l, v, a, h) { OPTION_INT, (s), (l), (v), (a), (h) }

enum parse_opt_flags {
	/* Stop at the first non-option argument (for "run -- cmd args"). */
	PARSE_OPT_STOP_AT_NON_OPTION = 1 << 0,
};

/*
 * Parse argv[1..argc-1] (argv[0] is the command's name).  Returns the number
 * of non-option arguments left, moved to argv[0..n-1].  Never returns on -h
 * or on an error.
 */
int parse_options(int argc, const char **argv, const struct option *opts,
		  const char *const *usage, int flags);

/* Print the usage (to stderr) and exit 129; for commands that check their arguments. */
void usage_with_options(const char *const *usage, const struct option *opts)
	__attribute__((noreturn));
/* "error: <msg>", the usage, exit 129. */
void usage_msg_opt(const char *msg, const char *const *usage, const struct option *opts)
	__attribute__((noreturn));

#endif

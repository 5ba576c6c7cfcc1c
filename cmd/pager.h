/* SPDX-License-Identifier: MIT */
/*
 * The pager and colours, the way git decides them, for list, show, diff,
 * logs and review.
 *
 * Pager: only when standard output is a terminal and git has not started
 * one for us already (GIT_PAGER_IN_USE).  `pager.sbx` false turns it off,
 * a string other than a boolean is the pager itself; otherwise it is the
 * one `git var GIT_PAGER` names (GIT_PAGER, core.pager, PAGER, less), and
 * "cat" or "" means none.  It runs as `sh -c <pager>` with LESS=FRX and
 * LV=-c unless those are set, like git's.  `git sbx --no-pager <cmd>` and
 * `-p`/`--paginate` decide it for one run (cmd/git-sbx.c).
 *
 * Colour: `git config --get-colorbool color.sbx` (which falls back to
 * color.ui, default auto): always, never, or auto = standard output is a
 * terminal or our pager.  Settings given as `git -c` reach us too, since
 * git itself answers.
 */
#ifndef SBX_CMD_PAGER_H
#define SBX_CMD_PAGER_H

#include <stdbool.h>

enum pager_choice {
	PAGER_DEFAULT,		/* pager.sbx decides; the command's own default otherwise */
	PAGER_NEVER,		/* --no-pager */
	PAGER_ALWAYS,		/* -p / --paginate */
};
extern enum pager_choice pager_choice;

/* Start the pager for this command's output (see above); nothing when it does not apply. */
void setup_pager(void);
/* Whether standard output gets colours (cached after the first call). */
bool want_color(void);
/* `code` when colouring, else "". */
const char *color(const char *code);

#define COLOR_RESET "\033[m"
#define COLOR_BOLD "\033[1m"
#define COLOR_RED "\033[31m"
#define COLOR_GREEN "\033[32m"
#define COLOR_YELLOW "\033[33m"
#define COLOR_BLUE "\033[34m"
#define COLOR_CYAN "\033[36m"
#define COLOR_FAINT "\033[2m"

#endif

// SPDX-License-Identifier: MIT
/* git sbx logs ID [-f]: the agent's output, kept in the task's log. */
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "cmd/task-print.h"
#include "sbx/attempt.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/quote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const logs_usage[] = {
	"git sbx logs [-f | --follow] [--raw] [--attempt <n>] <id>",
	NULL,
};

#define CHUNK 65536

/*
 * Copy what is there now, escaped (util/quote.h) unless `q` is NULL;
 * returns bytes read or -1.  The log is the agent's output, byte for byte.
 */
static long copy_out(int fd, struct sbx_quote *q)
{
	static char buf[CHUNK], esc[SBX_QUOTE_MAX(CHUNK)];
	long total = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		const char *p = buf;
		size_t len = (size_t)n;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return total;
		if (q) {
			len = sbx_quote_mem(q, esc, buf, (size_t)n);
			p = esc;
		}
		if (fwrite(p, 1, len, stdout) != len)
			return -1;
		total += n;
	}
}

int cmd_logs(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_quote quote = SBX_QUOTE_INIT, *q = &quote;
	struct sbx_task *t;
	bool follow = false, raw = false;
	char *path;
	int fd = -1, ret = 0, attempt = 0;
	const struct option opts[] = {
		OPT_BOOL('f', "follow", &follow, "keep printing while the task runs"),
		OPT_INT(0, "attempt", &attempt, "n", "attempt n's agent output (git sbx attempts)"),
		OPT_BOOL(0, "raw", &raw, "the agent's bytes unescaped, when they go to a file or pipe"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, logs_usage, 0) != 1)
		usage_with_options(logs_usage, opts);
	/* A terminal obeys what it is sent: --raw reaches only a file or a pipe. */
	if (raw && isatty(STDOUT_FILENO))
		fprintf(stderr, "warning: --raw does not apply to a terminal: the log is escaped\n");
	else if (raw)
		q = NULL;
	t = open_task_or_die(ctx, argv[0]);
	/* a log that grows is followed on the terminal itself, like tail -f */
	if (!follow)
		setup_pager();
	if (attempt && !sbx_task_attempt_get(t, (unsigned)attempt))
		die("task %u has no attempt %d", t->id, attempt);
	if (!attempt && t->nattempts > 1)
		fprintf(stderr, "hint: task %u has %zu attempts; git sbx logs --attempt N %u prints one's "
			"agent output\n", t->id, t->nattempts, t->id);
	path = attempt ? sbx_attempt_file(t, (unsigned)attempt, "log") : sbx_task_log_path(t);
	if (!path)
		die("out of memory");
	for (;;) {
		/* an attempt's log grows while the task (which runs it) runs */
		bool running = follow && sbx_task_running(t);
		long n;

		if (fd < 0) {
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0 && errno != ENOENT)
				die("cannot open '%s': %s", path, strerror(errno));
		}
		n = fd >= 0 ? copy_out(fd, q) : 0;
		if (n < 0) {
			ret = error_sbx("cannot read the task log");
			break;
		}
		fflush(stdout);
		/* Read once more after the task stopped: it may have written last words. */
		if (!running)
			break;
		if (n == 0) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	if (fd >= 0) {
		char end[SBX_QUOTE_MAX(0)];

		copy_out(fd, q);
		if (q)
			fwrite(end, 1, sbx_quote_end(q, end), stdout);
		close(fd);
	} else if (!follow) {
		fprintf(stderr, "warning: task %u has no log yet\n", t->id);
	}
	free(path);
	sbx_task_free(t);
	return ret;
}

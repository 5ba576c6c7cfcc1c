// SPDX-License-Identifier: MIT
/* The serial console into a capped file: see sbx/console-log.h. */
#include "sbx/console-log.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct sbx_console_log {
	int fd;			/* what the guest writes, read end */
	int out;		/* the file, or -1 */
	int stop;		/* eventfd: sbx_console_log_stop() was called */
	uint64_t max;
	pthread_t thread;
	struct sbx_console_log_stats st;
	char note[160];
	size_t note_len;
};

static void write_all(struct sbx_console_log *cl, const char *p, size_t n)
{
	while (n && cl->out >= 0) {
		ssize_t w = write(cl->out, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {	/* a full disk loses the log, not the VM */
			close(cl->out);
			cl->out = -1;
			return;
		}
		cl->st.written += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
}

/* Keep what fits under the cap; past it, one note, then nothing. */
static void keep(struct sbx_console_log *cl, const char *p, size_t n)
{
	uint64_t room;

	cl->st.read += n;
	if (cl->st.truncated)
		return;
	if (!cl->max) {
		write_all(cl, p, n);
		return;
	}
	room = cl->max - cl->note_len - cl->st.written;
	if (n <= room) {
		write_all(cl, p, n);
		return;
	}
	write_all(cl, p, (size_t)room);
	write_all(cl, cl->note, cl->note_len);
	cl->st.truncated = true;
}

/* Returns false at EOF or on an error; EAGAIN (while stopping) too. */
static bool drain_once(struct sbx_console_log *cl, char *buf, size_t size)
{
	ssize_t n = read(cl->fd, buf, size);

	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	keep(cl, buf, (size_t)n);
	return true;
}

static void *drain(void *arg)
{
	struct sbx_console_log *cl = arg;
	char buf[65536];

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = cl->fd, .events = POLLIN },
			{ .fd = cl->stop, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents && !drain_once(cl, buf, sizeof(buf)))
			return NULL;	/* EOF: the writer is gone */
		if (p[1].revents)
			break;
	}
	/*
	 * Stopping: what is there now, without waiting for more (and not
	 * forever, should a writer still be at it).
	 */
	if (fcntl(cl->fd, F_SETFL, fcntl(cl->fd, F_GETFL) | O_NONBLOCK) == 0) {
		int i;

		for (i = 0; i < 1024 && drain_once(cl, buf, sizeof(buf)); i++)
			;
	}
	return NULL;
}

int sbx_console_log_start(struct sbx_console_log **out, int fd, const char *path, uint64_t max)
{
	struct sbx_console_log *cl = calloc(1, sizeof(*cl));
	int err;

	*out = NULL;
	if (!cl) {
		close(fd);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	cl->fd = fd;
	cl->out = cl->stop = -1;
	cl->max = max;
	cl->note_len = (size_t)snprintf(cl->note, sizeof(cl->note),
		"\n[git-sbx: console output over sbx.maxConsoleLogSize (%llu bytes); the rest was discarded]\n",
		(unsigned long long)max);
	if (max && max < cl->note_len * 2)
		cl->note_len = 0;	/* a cap that small keeps only data */
	if (path) {
		cl->out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (cl->out < 0) {
			err = sbx_error_errno(SBX_EIO, "cannot open '%s'", path);
			goto fail;
		}
	}
	cl->stop = eventfd(0, EFD_CLOEXEC);
	if (cl->stop < 0) {
		err = sbx_error_errno(SBX_EIO, "eventfd");
		goto fail;
	}
	if ((err = pthread_create(&cl->thread, NULL, drain, cl))) {
		errno = err;
		err = sbx_error_errno(SBX_ERROR, "cannot start the console thread");
		goto fail;
	}
	*out = cl;
	return 0;
fail:
	if (cl->out >= 0)
		close(cl->out);
	if (cl->stop >= 0)
		close(cl->stop);
	close(fd);
	free(cl);
	return err;
}

void sbx_console_log_stop(struct sbx_console_log *cl, struct sbx_console_log_stats *st)
{
	uint64_t one = 1;
	ssize_t w;

	if (!cl)
		return;
	w = write(cl->stop, &one, sizeof(one));	/* an eventfd counter this low cannot fail */
	(void)w;
	pthread_join(cl->thread, NULL);
	if (st)
		*st = cl->st;
	if (cl->out >= 0)
		close(cl->out);
	close(cl->stop);
	close(cl->fd);
	free(cl);
}

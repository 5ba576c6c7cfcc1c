// SPDX-License-Identifier: MIT
/*
 * Protocol v4 (sbx/chan-quiesce.c, guest/serve.c, guest/note.c): quiesce a
 * running exec and resume it with nothing lost; notes from a program in the
 * guest; a "restored" guest (a new host session on the same sbx-init) ends
 * what the old host ran; and a hostile guest's unasked or malformed frames.
 * The guest is the real guest/sbx-init in `--serve` mode over a socketpair.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sbx/channel.h"
#include "util/error.h"

struct guest {
	pid_t pid;
	int fd;
	struct sbx_session *s;
	char init[4096];
	char note[4096];
};

/* What the tests' `between` callbacks and sinks share. */
struct watch {
	struct guest *g;
	char out[65536];
	size_t len;
	int mode;		/* 1: quiesce+check+resume once; 2: notes; 3: quiesce and leave */
	int done;
	struct sbx_session_notes notes;
	long silent_ms;		/* how long the channel stayed silent while quiesced */
};

static int sink(void *opaque, int fd, const uint8_t *p, size_t n)
{
	struct watch *w = opaque;

	(void)fd;
	if (w->len + n >= sizeof(w->out))
		return sbx_error_set(SBX_ELIMIT, "too much output");
	memcpy(w->out + w->len, p, n);
	w->len += n;
	w->out[w->len] = 0;
	return 0;
}

static void start_guest(struct guest *g)
{
	const char *build = getenv("SBX_BUILD_DIR");
	int sv[2];

	assert_non_null(build);
	snprintf(g->init, sizeof(g->init), "%s/guest/sbx-init", build);
	snprintf(g->note, sizeof(g->note), "/tmp/sbx-test-note.%d", (int)getpid());
	unlink(g->note);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	g->pid = fork();
	assert_true(g->pid >= 0);
	if (g->pid == 0) {
		int fd = fcntl(sv[1], F_DUPFD, 10);

		dup2(fd, 0);
		dup2(fd, 1);
		execl(g->init, "sbx-init", "--serve", "--note-socket", g->note, (char *)NULL);
		_exit(99);
	}
	close(sv[1]);
	g->fd = sv[0];
	assert_int_equal(sbx_session_start(&g->s, g->fd, 5000), 0);
}

static void stop_guest(struct guest *g)
{
	int status;

	if (g->s)
		sbx_session_poweroff(g->s, 0, 5000);
	sbx_session_free(g->s);
	close(g->fd);
	assert_int_equal(waitpid(g->pid, &status, 0), g->pid);
	assert_true(WIFEXITED(status));
	unlink(g->note);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int between(void *opaque, struct sbx_session *s)
{
	struct watch *w = opaque;
	struct pollfd p = { .fd = w->g->fd, .events = POLLIN };
	long t0;
	int err;

	{
		struct sbx_session_notes n;

		sbx_session_take_notes(s, &n);
		if (n.kinds)
			w->notes = n;
	}
	if (w->done || w->len < 20)
		return 0;
	if (w->mode == 1 || w->mode == 3) {
		w->done = 1;
		err = sbx_session_quiesce(s, 5000);
		if (err)
			return err;
		/* The guest keeps producing output; none of it may reach us now. */
		t0 = now_ms();
		while (now_ms() - t0 < 400 && poll(&p, 1, 50) == 0)
			;
		w->silent_ms = now_ms() - t0;
		if (w->mode == 3)
			return sbx_error_set(SBX_ERROR, "left quiesced");
		return sbx_session_resume(s, false);
	}
	return 0;
}

static int run_watched(struct guest *g, struct watch *w, const char *script,
		       struct sbx_exec_result *res)
{
	const char *argv[] = { "sh", "-c", script, "sh", g->init, g->note, NULL };
	static const char *const env[] = { "PATH=/usr/bin:/bin", NULL };
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;

	w->g = g;
	o.argv = argv;
	o.env = env;
	o.sink = sink;
	o.opaque = w;
	o.between = between;
	o.host_timeout_ms = 20000;
	return sbx_session_exec(g->s, &o, res);
}

/* Quiesced mid-output: silence, then every line in order after the resume. */
static void test_quiesce_resume(void **state)
{
	struct guest g = { 0 };
	struct watch w = { .mode = 1 };
	struct sbx_exec_result res;
	char want[32];
	int i;

	(void)state;
	start_guest(&g);
	assert_int_equal(run_watched(&g, &w, "i=0; while [ $i -lt 300 ]; do echo line$i; "
				     "i=$((i+1)); sleep 0.002; done", &res), 0);
	assert_int_equal(res.code, 0);
	assert_true(w.done);
	assert_true(w.silent_ms >= 400);
	for (i = 0; i < 300; i++) {
		snprintf(want, sizeof(want), "line%d\n", i);
		assert_non_null(strstr(w.out, want));
	}
	/* The session goes on: a second quiesce outside an exec works too. */
	assert_int_equal(sbx_session_quiesce(g.s, 5000), 0);
	assert_int_equal(sbx_session_resume(g.s, false), 0);
	stop_guest(&g);
}

/* `sbx-init --note commit` in the guest reaches the host; an unknown kind is refused. */
static void test_notes(void **state)
{
	struct guest g = { 0 };
	struct watch w = { .mode = 2 };
	struct sbx_exec_result res;

	(void)state;
	start_guest(&g);
	struct sbx_session_notes n;
	int i;

	assert_int_equal(run_watched(&g, &w, "\"$1\" --note commit --socket \"$2\"; sleep 0.5; "
				     "\"$1\" --note commit 00112233445566778899aabbccddeeff00112233 "
				     "--socket \"$2\"; sleep 0.5; "
				     "\"$1\" --note bogus --socket \"$2\" 2>/dev/null; echo rc=$?; "
				     "\"$1\" --note commit 0011zz --socket \"$2\" 2>/dev/null; echo rc=$?; "
				     "sleep 0.2", &res), 0);
	assert_int_equal(res.code, 0);
	sbx_session_take_notes(g.s, &n);
	if (n.kinds)
		w.notes = n;
	assert_true(w.notes.kinds & (1u << PROTO_NOTE_COMMIT));
	assert_true(w.notes.has_commit);
	for (i = 0; i < 20; i++)
		assert_int_equal(w.notes.commit[i], (uint8_t)((i % 16) * 0x11));
	assert_non_null(strstr(w.out, "rc=2\nrc=2\n"));
	sbx_session_take_notes(g.s, &n);
	assert_int_equal(n.kinds, 0);
	stop_guest(&g);
}

/*
 * A new host on a quiesced sbx-init (what a restored checkpoint is): RESUME
 * with RESTORED ends the old host's command without a word to the new one,
 * and the new session runs commands.
 */
static void test_restored(void **state)
{
	static const char *const echo[] = { "echo", "hi", NULL };
	struct guest g = { 0 };
	struct watch w = { .mode = 3 };
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	char pidfile[4200], buf[32] = { 0 };
	FILE *f;
	pid_t pid = 0;
	int i;

	(void)state;
	start_guest(&g);
	snprintf(pidfile, sizeof(pidfile), "%s.pid", g.note);
	setenv("PIDFILE", pidfile, 1);
	{
		char script[4400];

		snprintf(script, sizeof(script), "echo $$ > '%s'; echo started-and-waiting; "
			 "exec sleep 100", pidfile);
		assert_int_equal(run_watched(&g, &w, script, &res), SBX_ERROR);
	}
	assert_true(w.done);
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	unlink(pidfile);
	pid = (pid_t)atoi(buf);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, 0), 0);
	/* The old host is gone, with whatever it held back. */
	sbx_session_free(g.s);
	assert_int_equal(sbx_session_attach(&g.s, g.fd), 0);
	assert_int_equal(sbx_session_resume(g.s, true), 0);
	o.argv = echo;
	o.sink = sink;
	memset(&w, 0, sizeof(w));
	o.opaque = &w;
	o.host_timeout_ms = 10000;
	assert_int_equal(sbx_session_exec(g.s, &o, &res), 0);
	assert_string_equal(w.out, "hi\n");
	for (i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(20000);
	assert_int_equal(kill(pid, 0), -1);
	stop_guest(&g);
}

/* A fake guest: HELLO, then `bytes`; the host serves for a moment. */
static int hostile(const uint8_t *bytes, size_t n, bool quiesce)
{
	struct sbx_session *s = NULL;
	uint8_t hello[PROTO_HDR_SIZE + 12];
	int sv[2], err;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	proto_hdr_encode(hello, PROTO_HELLO, 0, 0, 12);
	proto_put32(hello + PROTO_HDR_SIZE, PROTO_VERSION);
	proto_put32(hello + PROTO_HDR_SIZE + 4, PROTO_MAX_PAYLOAD);
	proto_put32(hello + PROTO_HDR_SIZE + 8, PROTO_INITIAL_WINDOW);
	assert_int_equal(write(sv[1], hello, sizeof(hello)), (ssize_t)sizeof(hello));
	if (n)
		assert_int_equal(write(sv[1], bytes, n), (ssize_t)n);
	err = sbx_session_start(&s, sv[0], 2000);
	if (!err)
		err = quiesce ? sbx_session_quiesce(s, 300) : sbx_session_serve(s, 300);
	sbx_session_free(s);
	close(sv[0]);
	close(sv[1]);
	return err;
}

static void test_hostile(void **state)
{
	uint8_t f[PROTO_HDR_SIZE + 2];

	(void)state;
	/* QUIESCED that nobody asked for */
	proto_hdr_encode(f, PROTO_QUIESCED, 0, 0, 0);
	assert_int_equal(hostile(f, PROTO_HDR_SIZE, false), SBX_ECORRUPT);
	/* QUIESCED with a payload, while asked */
	proto_hdr_encode(f, PROTO_QUIESCED, 0, 0, 1);
	f[PROTO_HDR_SIZE] = 0;
	assert_int_equal(hostile(f, PROTO_HDR_SIZE + 1, true), SBX_ECORRUPT);
	/* NOTE of an unknown kind, of kind 0, too long, on a stream */
	proto_hdr_encode(f, PROTO_NOTE, 0, 0, 1);
	f[PROTO_HDR_SIZE] = PROTO_NOTE_MAX + 1;
	assert_int_equal(hostile(f, PROTO_HDR_SIZE + 1, false), SBX_ECORRUPT);
	f[PROTO_HDR_SIZE] = 0;
	assert_int_equal(hostile(f, PROTO_HDR_SIZE + 1, false), SBX_ECORRUPT);
	proto_hdr_encode(f, PROTO_NOTE, 0, 0, 2);
	f[PROTO_HDR_SIZE] = f[PROTO_HDR_SIZE + 1] = PROTO_NOTE_COMMIT;
	assert_int_equal(hostile(f, PROTO_HDR_SIZE + 2, false), SBX_ECORRUPT);
	{
		uint8_t g[PROTO_HDR_SIZE + 1 + PROTO_NOTE_OID_LEN + 1] = { 0 };

		/* a commit id one byte short and one byte long */
		proto_hdr_encode(g, PROTO_NOTE, 0, 0, PROTO_NOTE_OID_LEN);
		g[PROTO_HDR_SIZE] = PROTO_NOTE_COMMIT;
		assert_int_equal(hostile(g, PROTO_HDR_SIZE + PROTO_NOTE_OID_LEN, false), SBX_ECORRUPT);
		proto_hdr_encode(g, PROTO_NOTE, 0, 0, PROTO_NOTE_OID_LEN + 2);
		assert_int_equal(hostile(g, sizeof(g), false), SBX_ECORRUPT);
		proto_hdr_encode(g, PROTO_NOTE, 0, 0, PROTO_NOTE_OID_LEN + 1);
		assert_int_equal(hostile(g, sizeof(g) - 1, false), 0);
	}
	proto_hdr_encode(f, PROTO_NOTE, 0, 7, 1);
	f[PROTO_HDR_SIZE] = PROTO_NOTE_COMMIT;
	assert_int_equal(hostile(f, PROTO_HDR_SIZE + 1, false), SBX_ECORRUPT);
	/* A good NOTE is fine; a guest that never answers QUIESCE times out */
	proto_hdr_encode(f, PROTO_NOTE, 0, 0, 1);
	assert_int_equal(hostile(f, PROTO_HDR_SIZE + 1, false), 0);
	assert_int_equal(hostile(NULL, 0, true), SBX_ETIMEDOUT);
}

/* The host's frames to sbx-init: a malformed QUIESCE or RESUME ends its session. */
static void test_malformed_to_guest(void **state)
{
	struct guest g = { 0 };
	uint8_t f[PROTO_HDR_SIZE + 4];
	char buf[512];
	ssize_t n;
	int status;

	(void)state;
	start_guest(&g);
	proto_hdr_encode(f, PROTO_RESUME, 0, 0, 4);
	proto_put32(f + PROTO_HDR_SIZE, 0x80);	/* an unknown flag */
	assert_int_equal(write(g.fd, f, sizeof(f)), (ssize_t)sizeof(f));
	{
		struct pollfd p = { .fd = g.fd, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 5000), 1);
	}
	n = read(g.fd, buf, sizeof(buf) - 1);
	assert_true(n > PROTO_HDR_SIZE);
	assert_int_equal((uint8_t)buf[2], PROTO_ERROR);
	sbx_session_free(g.s);
	close(g.fd);
	assert_int_equal(waitpid(g.pid, &status, 0), g.pid);
	unlink(g.note);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiesce_resume),
		cmocka_unit_test(test_notes),
		cmocka_unit_test(test_restored),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_malformed_to_guest),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

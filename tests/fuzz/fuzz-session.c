// SPDX-License-Identifier: MIT
/*
 * The host's channel session (sbx/channel.c: sbx_session_start, _exec,
 * _poweroff) against a scripted hostile guest.  fuzz-channel.c covers the
 * frame parser alone; this covers what the session does with the frames:
 * the hello, each exec's replies (STARTED, DATA within credit, EOF, WINDOW
 * for stdin, EXIT), late frames of execs the host gave up on, the guest's
 * ERROR, out-of-order and unexpected frames, lying and huge lengths, EOF in
 * the middle, and power-off; and streams the guest opens (protocol v2:
 * OPEN, DATA/EOF/WINDOW with credit, CLOSE), accepted onto socketpairs
 * whose far ends this file holds, or refused.
 *
 * The host side runs on this thread the way sbx/task-run.c drives it
 * (hello, then a few execs with its kinds of options: stdin from a buffer or
 * a pipe, agent user and cwd, an output sink that can fail like the import's,
 * Ctrl-C, start and host deadlines; an exec that timed out does not end the
 * session; then power-off), with deadlines of tens of milliseconds so no
 * input can take long.  The guest is a thread on the other end of a
 * socketpair playing the script.  The script may wait for a frame from the
 * host (so it can answer EXEC n, or send late frames after the host gave up
 * and sent SIGNAL); it reads and checks everything the host sends (every
 * host frame must parse), so the host finds its socket full only while the
 * script holds still on purpose (HANG).
 *
 * Input: byte 0: bits 0-1 execs - 1, bit 2 power off at the end, bit 3 serve
 * streams for SERVE_MS after the execs, bit 4 an open callback (accepting;
 * with bit 5 it refuses every other stream), bit 6 a reseed (protocol v3's
 * RESEED, as after a snapshot restore) before the execs, with a deadline of
 * RESEED_MS; then one option byte per exec
 * (X_* below); then script ops, each a byte & 3:
 *   0 FRAME  type flags sel [u32 stream if sel == 0xff] mode ...
 *            sel < 0xf0 is the stream id itself (the host numbers execs 1, 2, ...),
 *            0xf0..0xfe the guest's stream PROTO_STREAM_GUEST | (sel - 0xf0)
 *            mode & 3 == 0: n (u8), then n payload bytes
 *                        1: n (u16), payload from the input, padded with 'x'
 *                        2: a lie: u32 length in the header, then n (u8) bytes
 *                        3: (mode >> 2) * 4 KiB of 'x' (up to 252 KiB: over the limit)
 *   1 RAW    n (u8), n bytes as they are
 *   2 WAIT   t (u8): until the host has sent one more frame of type wait_types[t % N]
 *   3 CLOSE  end the script; with bit 2 set instead HANG: neither read nor write
 *            for HANG_MS (a guest that stopped reading its channel), then go on
 *            (at most MAX_HANGS times, and not once the host has gone); with
 *            bit 3 set instead ANSWER flags (u8): a RESEEDED that echoes the
 *            host's last RESEED (or 0 if none came yet), with those flags
 * The end of the script closes the guest's side (EOF, wherever the session is).
 */
#include "sbx/channel.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Deadlines (ms), small so a script that never answers costs little. */
#define HELLO_MS	30
#define START_MS	20
#define HOST_MS		40
#define POWEROFF_MS	30
#define HANG_MS		(POWEROFF_MS + 20)
#define MAX_HANGS	2	/* per input, so inputs stay short */
#define SERVE_MS	30
#define RESEED_MS	20

/* Per-exec option bits. */
#define X_STDIN_MASK	3u	/* 0 none, 1 a short buffer, 2 a pipe, 3 a buffer over the window */
#define X_INTERRUPT	(1u << 2)	/* Ctrl-C before it starts: SIGTERM */
#define X_SINK_FAILS	(1u << 3)	/* the sink refuses after SINK_LIMIT bytes (an import error) */
#define X_NO_START_MS	(1u << 4)	/* only the host deadline */
#define X_AS_AGENT	(1u << 5)	/* uid/gid 1000, /workspace, an environment */
#define X_GUEST_TIMEOUT	(1u << 6)	/* a timeout TLV for the guest */
#define SINK_LIMIT	1000u

/* SBX_FUZZ_VERBOSE=1: say what each exec ended with (to check seeds). */
static bool verbose;

static const uint8_t wait_types[] = {
	PROTO_HELLO, PROTO_EXEC, PROTO_SIGNAL, PROTO_POWEROFF, PROTO_WINDOW,
	PROTO_EOF, PROTO_DATA, PROTO_TIME, PROTO_ENTROPY, PROTO_ACCEPT, PROTO_CLOSE,
	PROTO_RESEED,
};
#define NWAIT (sizeof(wait_types) / sizeof(wait_types[0]))

struct guest {
	int fd;
	const uint8_t *p, *end;		/* the script */
	struct chan_parser parser;	/* what the host sends */
	unsigned seen[256], used[256];	/* host frames by type: arrived, waited for */
	bool host_gone;
	unsigned hangs;
	uint64_t reseed_ns;		/* the host time in the last RESEED */
};

struct sink {
	uint64_t bytes[3];
	bool fails;
};

static size_t take(struct guest *g, void *out, size_t n)
{
	size_t have = (size_t)(g->end - g->p);

	if (n > have)
		n = have;
	memcpy(out, g->p, n);
	g->p += n;
	return n;
}

static unsigned take_u8(struct guest *g)
{
	uint8_t b = 0;

	take(g, &b, 1);
	return b;
}

static int on_host_frame(void *opaque, const struct proto_hdr *h, const uint8_t *p)
{
	struct guest *g = opaque;

	if (h->type == PROTO_DATA && h->flags != PROTO_FD_STDIN)
		abort();	/* the host only ever sends stdin */
	if (h->type == PROTO_RESEED) {
		if (h->length != PROTO_RESEED_LEN || h->stream || h->flags)
			abort();	/* the host's RESEED is exactly this */
		g->reseed_ns = proto_get64(p);
	}
	g->seen[h->type]++;
	return 0;
}

/* Read what the host sent (blocking when `block`); false once it has gone. */
static bool guest_read(struct guest *g, bool block)
{
	uint8_t buf[16384];
	ssize_t n = recv(g->fd, buf, sizeof(buf), block ? 0 : MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		g->host_gone = true;
		return false;
	}
	/* Everything the host sends must be well-formed frames. */
	if (chan_parser_feed(&g->parser, buf, (size_t)n, on_host_frame, g))
		abort();
	return true;
}

static bool guest_send(struct guest *g, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len && !g->host_gone) {
		ssize_t n = send(g->fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			/* The host is not reading: take what it sends meanwhile. */
			guest_read(g, false);
			poll(NULL, 0, 1);
			continue;
		}
		if (n < 0)
			return false;
		b += n;
		len -= (size_t)n;
	}
	return !g->host_gone;
}

static bool guest_frame(struct guest *g)
{
	uint8_t type = (uint8_t)take_u8(g), flags = (uint8_t)take_u8(g), hdr[PROTO_HDR_SIZE], *pl;
	uint8_t lie[4] = { 0 };
	uint32_t stream = take_u8(g);
	unsigned mode;
	size_t n;
	bool ok;

	if (stream == 0xff) {
		uint8_t st[4] = { 0 };

		take(g, st, 4);
		stream = proto_get32(st);
	} else if (stream >= 0xf0) {
		stream = PROTO_STREAM_GUEST | (stream - 0xf0);
	}
	mode = take_u8(g);
	switch (mode & 3) {
	case 0:
		n = take_u8(g);
		break;
	case 1:
		n = take_u8(g);
		n |= (size_t)take_u8(g) << 8;
		break;
	case 2:
		take(g, lie, 4);
		n = take_u8(g);
		break;
	default:
		n = (size_t)(mode >> 2) * 4096;
		break;
	}
	pl = malloc(n ? n : 1);
	if (!pl)
		abort();
	memset(pl, 'x', n);
	if ((mode & 3) == 0 || (mode & 3) == 2)
		n = take(g, pl, n);	/* what the input still holds */
	else if ((mode & 3) == 1)
		take(g, pl, n);		/* padded */
	proto_hdr_encode(hdr, type, flags, stream, (mode & 3) == 2 ? proto_get32(lie) : (uint32_t)n);
	ok = guest_send(g, hdr, sizeof(hdr)) && guest_send(g, pl, n);
	free(pl);
	return ok;
}

static void *guest_main(void *arg)
{
	struct guest *g = arg;
	bool go = true;

	while (go && g->p < g->end) {
		unsigned op = take_u8(g);

		switch (op & 3) {
		case 0:
			go = guest_frame(g);
			break;
		case 1: {
			uint8_t raw[255];
			size_t n = take(g, raw, take_u8(g));

			go = guest_send(g, raw, n);
			break;
		}
		case 2: {
			uint8_t t = wait_types[take_u8(g) % NWAIT];

			while (g->seen[t] <= g->used[t] && guest_read(g, true))
				;
			g->used[t]++;
			go = !g->host_gone;
			break;
		}
		default:
			if (op & 8) {
				uint8_t ack[PROTO_HDR_SIZE + PROTO_RESEEDED_LEN] = { 0 };

				guest_read(g, false);
				proto_hdr_encode(ack, PROTO_RESEEDED, 0, 0, PROTO_RESEEDED_LEN);
				proto_put64(ack + PROTO_HDR_SIZE, g->reseed_ns);
				proto_put64(ack + PROTO_HDR_SIZE + 16, g->reseed_ns);
				proto_put32(ack + PROTO_HDR_SIZE + 24, take_u8(g));
				go = guest_send(g, ack, sizeof(ack));
			} else if (!(op & 4)) {
				go = false;
			} else if (g->hangs < MAX_HANGS && !g->host_gone) {
				g->hangs++;
				poll(NULL, 0, HANG_MS);
			}
			break;
		}
	}
	/* EOF for the host; then drain until it closes its end. */
	shutdown(g->fd, SHUT_WR);
	while (guest_read(g, true))
		;
	return NULL;
}

static int sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct sink *k = opaque;

	if ((fd != 1 && fd != 2) || !len || !data)
		abort();	/* the session passes only fd 1 and 2, never empty */
	k->bytes[fd] += len;
	if (k->fails && k->bytes[1] + k->bytes[2] > SINK_LIMIT)
		return sbx_error_set(SBX_ECORRUPT, "rejected the result");
	return 0;
}

/* The host's ends of accepted streams: the far ends, held here until the input ends. */
struct far_ends {
	int fd[PROTO_MAX_GUEST_STREAMS * 2];
	size_t n;
	bool refuse_odd;
	unsigned calls;
};

static int open_stream(void *opaque, uint32_t stream, int *fd_out)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	struct far_ends *f = opaque;
	int sv[2];

	if (!(stream & PROTO_STREAM_GUEST))
		abort();	/* only the guest's ids reach the callback */
	if (f->refuse_odd && (f->calls++ & 1))
		return sbx_error_set(SBX_EINVAL, "refused by policy");
	if (f->n == sizeof(f->fd) / sizeof(f->fd[0]))
		return sbx_error_set(SBX_ELIMIT, "this input opened enough streams");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return sbx_error_set(SBX_EIO, "socketpair");
	/* The far end answers and says no more; what the host writes to it stays unread. */
	if (write(sv[1], reply, sizeof(reply) - 1) < 0)
		abort();
	shutdown(sv[1], SHUT_WR);
	f->fd[f->n++] = sv[1];
	*fd_out = sv[0];
	return 0;
}

/* One exec the way sbx/task-run.c makes them; 1 to go on, 0 when the session is over. */
static int host_exec(struct sbx_session *s, unsigned x, uint8_t *big, size_t big_len)
{
	static const char *const argv[] = { "sh", "-c", "exec git bundle create - HEAD", NULL };
	static const char *const env[] = { "PATH=/usr/bin:/bin", "HOME=/home/sbx", NULL };
	struct sbx_exec_opts eo = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct sink k = { { 0 }, (x & X_SINK_FAILS) != 0 };
	volatile int interrupt = (x & X_INTERRUPT) ? 1 : 0;
	int pfd[2] = { -1, -1 }, err;

	eo.argv = argv;
	if (x & X_AS_AGENT) {
		eo.env = env;
		eo.cwd = "/workspace";
		eo.set_user = true;
		eo.uid = eo.gid = 1000;
	} else {
		eo.cwd = "/";
	}
	eo.timeout_ms = (x & X_GUEST_TIMEOUT) ? 1000 : 0;
	eo.host_timeout_ms = HOST_MS;
	eo.start_timeout_ms = (x & X_NO_START_MS) ? 0 : START_MS;
	eo.sink = sink;
	eo.opaque = &k;
	eo.interrupt = &interrupt;
	switch (x & X_STDIN_MASK) {
	case 1:
		eo.stdin_buf = big;
		eo.stdin_len = 100;
		break;
	case 2:
		if (pipe2(pfd, O_CLOEXEC))
			abort();
		if (write(pfd[1], big, 4000) != 4000)
			abort();
		close(pfd[1]);
		eo.stdin_fd = pfd[0];
		break;
	case 3:
		eo.stdin_buf = big;
		eo.stdin_len = big_len;
		break;
	}
	err = sbx_session_exec(s, &eo, &res);
	if (verbose)
		fprintf(stderr, "exec %#x: %d %s (code %d, flags %#x, out %llu/%llu)\n", x, err,
			err ? sbx_error() : "", res.code, res.flags, (unsigned long long)res.out_bytes[1],
			(unsigned long long)res.out_bytes[2]);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (res.out_bytes[1] != k.bytes[1] || res.out_bytes[2] != k.bytes[2] || res.out_bytes[0])
		abort();	/* every byte counted went to the sink, once */
	if (!err && (res.code < 0 || res.code > 255 + 128 || !res.answered))
		abort();
	if (err && !sbx_error()[0])
		abort();	/* every failure says why */
	/* As in sbx/task-run.c: a timed-out exec leaves the session usable. */
	return !err || err == SBX_ETIMEDOUT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t big[300000];
	static struct far_ends far;
	struct sbx_session *s = NULL;
	struct guest *g;
	pthread_t th;
	unsigned nexec, i;
	int sv[2], ok = 1;
	const char *b;

	if (size < 1)
		return 0;
	if (!big[0])
		memset(big, 'i', sizeof(big));
	memset(&far, 0, sizeof(far));
	nexec = (data[0] & 3) + 1;
	if (size < 1 + nexec)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	g = calloc(1, sizeof(*g));
	if (!g)
		abort();
	g->fd = sv[1];
	g->p = data + 1 + nexec;
	g->end = data + size;
	if (pthread_create(&th, NULL, guest_main, g))
		abort();

	verbose = getenv("SBX_FUZZ_VERBOSE") != NULL;
	i = (unsigned)sbx_session_start(&s, sv[0], HELLO_MS);
	if (verbose)
		fprintf(stderr, "start: %d %s\n", (int)i, s ? sbx_session_banner(s) : sbx_error());
	if (s && (data[0] & 16)) {
		far.refuse_odd = (data[0] & 32) != 0;
		sbx_session_set_stream_open(s, open_stream, &far);
	}
	if (s) {
		b = sbx_session_banner(s);
		if (strlen(b) > 63)
			abort();
		for (; *b; b++)
			if (*b < 0x20 || *b > 0x7e)
				abort();	/* the banner is printable */
		if (data[0] & 64) {
			struct sbx_reseed_result r;
			int err = sbx_session_reseed(s, RESEED_MS, &r);

			if (verbose)
				fprintf(stderr, "reseed: %d %s (flags %#x)\n", err, err ? sbx_error() : "",
					r.flags);
			if (err && !sbx_error()[0])
				abort();
			if (!err && !(r.flags & PROTO_RESEED_DRY) &&
			    (r.flags & (PROTO_RESEED_RNG | PROTO_RESEED_CLOCK)) !=
			    (PROTO_RESEED_RNG | PROTO_RESEED_CLOCK))
				abort();	/* a failed reseed is an error, never a success */
			/* A guest that failed to reseed answered well; a slow one may answer late. */
			ok = !err || err == SBX_EIO || err == SBX_ETIMEDOUT;
		}
		for (i = 0; i < nexec && ok; i++)
			ok = host_exec(s, data[1 + i], big, sizeof(big));
		if (ok && (data[0] & 8)) {
			int err = sbx_session_serve(s, SERVE_MS);

			if (verbose)
				fprintf(stderr, "serve: %d %s (%u streams)\n", err, err ? sbx_error() : "",
					sbx_session_streams(s));
			if (err && !sbx_error()[0])
				abort();
			ok = !err;
		}
		if (sbx_session_streams(s) > PROTO_MAX_GUEST_STREAMS)
			abort();
		if (ok && (data[0] & 4)) {
			int err = sbx_session_poweroff(s, 0, POWEROFF_MS);

			if (verbose)
				fprintf(stderr, "poweroff: %d %s\n", err, err ? sbx_error() : "");
		}
		sbx_session_free(s);
	}
	close(sv[0]);
	pthread_join(th, NULL);
	for (i = 0; i < far.n; i++)
		close(far.fd[i]);
	close(sv[1]);
	free(g);
	return 0;
}

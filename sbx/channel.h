/* SPDX-License-Identifier: MIT */
/*
 * The host side of the channel (sbx/proto.h): frame parsing and a session
 * that runs commands in the guest and carries the streams the guest opens.  The guest is hostile: a malformed or
 * oversized frame, data beyond the credit we granted, a frame for a stream
 * we did not open, or silence past a deadline ends the session with
 * SBX_ECORRUPT / SBX_ETIMEDOUT and a message; memory use is bounded by the
 * windows we grant, never by what the guest sends.
 *
 * Every wait has a deadline: the hello, each exec (its start and its end),
 * and power-off.  SBX_ETIMEDOUT means the guest stopped responding; its
 * message says so.  An exec that timed out on the host is abandoned: the
 * guest is told to SIGKILL it and its late frames (within the credit it
 * still had) are ignored, so the session can go on if the guest answers.
 */
#ifndef SBX_SBX_CHANNEL_H
#define SBX_SBX_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/proto.h"

/* An incremental frame parser: feed it bytes, it calls `fn` for each whole frame. */
struct chan_parser {
	uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
	size_t len;
};

typedef int (*chan_frame_fn)(void *opaque, const struct proto_hdr *h, const uint8_t *payload);

/* 0, SBX_ECORRUPT for a bad frame, or the first non-zero return of `fn`. */
int chan_parser_feed(struct chan_parser *p, const uint8_t *data, size_t len,
		     chan_frame_fn fn, void *opaque);

struct sbx_session;

/*
 * Wait (up to hello_timeout_ms) for the guest's HELLO on `fd`, answer it,
 * and send the wall-clock time and fresh entropy.  `fd` stays the caller's.
 */
int sbx_session_start(struct sbx_session **out, int fd, uint64_t hello_timeout_ms);
void sbx_session_free(struct sbx_session *s);
/*
 * A session with a guest restored from a memory snapshot: its sbx-init
 * greeted a host before the save and does not again, so nothing is waited
 * for.  The save must have found the session idle (no exec running, no
 * stream open).  Call sbx_session_reseed() first.  `fd` stays the caller's.
 */
int sbx_session_attach(struct sbx_session **out, int fd);

/* Output sinks return 0 to go on or a negative SBX_ code to abort the exec (and session). */
typedef int (*sbx_sink_fn)(void *opaque, int fd, const uint8_t *data, size_t len);

struct sbx_exec_opts {
	const char *const *argv;	/* NULL-terminated, argv[0] non-empty */
	const char *const *env;		/* NULL-terminated "NAME=value", or NULL */
	const char *cwd;		/* absolute, or NULL */
	bool set_user;
	uint32_t uid, gid;
	uint64_t timeout_ms;		/* enforced in the guest; 0 = none */
	uint64_t host_timeout_ms;	/* the host gives up after this (0 = timeout_ms + 30 s, or none) */
	uint64_t start_timeout_ms;	/* no frame of the command's within this: the guest stopped
					   responding (0 = only host_timeout_ms) */
	int stdin_fd;			/* copied to the command's stdin; -1 = /dev/null */
	const uint8_t *stdin_buf;	/* or these bytes (when stdin_fd < 0) */
	size_t stdin_len;
	sbx_sink_fn sink;		/* stdout (fd 1) and stderr (fd 2); NULL = discard */
	void *opaque;
	volatile int *interrupt;	/* when it becomes non-zero, SIGTERM the command (then SIGKILL) */
	/*
	 * Called while the command runs, after every round of the session's
	 * pump (at least once a second), never from inside itself: it may take
	 * the notes (sbx_session_take_notes) and checkpoint the guest
	 * (sbx_session_quiesce, then sbx_session_resume).  0 to go on, or a
	 * negative SBX_ code that ends the exec and the session.  NULL: none.
	 */
	int (*between)(void *opaque, struct sbx_session *s);
};
#define SBX_EXEC_OPTS_INIT { .stdin_fd = -1 }

struct sbx_exec_result {
	int code;		/* exit code, 128+signal when killed */
	uint32_t flags;		/* PROTO_EXIT_* */
	uint64_t out_bytes[3];	/* bytes received on fd 1 and 2 */
	bool answered;		/* the guest sent any frame of the command's */
};

int sbx_session_exec(struct sbx_session *s, const struct sbx_exec_opts *o,
		     struct sbx_exec_result *res);
/*
 * Ask sbx-init to sync and power off with `status`.  The frame must leave
 * within timeout_ms (a guest that stopped reading its channel cannot hold
 * us): SBX_ETIMEDOUT otherwise.
 */
int sbx_session_poweroff(struct sbx_session *s, int status, uint64_t timeout_ms);
/*
 * After restoring a memory snapshot, before anything else: send the guest
 * fresh entropy and the host's wall clock (RESEED, protocol v3) and wait up
 * to timeout_ms for its answer.  sbx-init mixes the 64 bytes into its
 * kernel's pool, forces a CRNG reseed and sets CLOCK_REALTIME before it
 * handles any later frame, so two restores of one snapshot never share
 * random numbers.  No exec may be running (SBX_EINVAL); the guest's streams
 * are serviced while waiting.  Returns 0 with *res filled in; SBX_EIO when
 * the guest answered that its reseed or its clock failed (res says which);
 * SBX_ETIMEDOUT, SBX_ECORRUPT (a malformed or unasked-for answer) or
 * another error that ended the session.  `res` may be NULL.
 */
struct sbx_reseed_result {
	uint64_t host_ns;	/* the CLOCK_REALTIME we sent, ns since the epoch */
	uint64_t guest_before_ns; /* the guest's realtime just before it set it */
	uint64_t guest_after_ns;  /* and just after */
	uint32_t flags;		/* PROTO_RESEED_*: RNG, CLOCK, or DRY (sbx-init --serve) */
	uint64_t rtt_us;	/* from sending to the answer */
};
int sbx_session_reseed(struct sbx_session *s, uint64_t timeout_ms, struct sbx_reseed_result *res);
/* The guest's clock step of a reseed: host_ns - guest_before_ns (positive: it was behind). */
static inline int64_t sbx_reseed_clock_step_ns(const struct sbx_reseed_result *r)
{
	return (int64_t)(r->host_ns - r->guest_before_ns);
}

/*
 * Streams the guest opens (protocol v2): each is a connection a guest
 * program made to sbx-init's proxy listener.  They are serviced whenever the
 * session pumps: during sbx_session_exec() and sbx_session_serve().
 *
 * The guest opened a stream (a connection to its proxy listener).  Return 0
 * with *fd_out set to a connected socket (the session owns it from then: it
 * pumps bytes both ways with credit, shutdown(SHUT_WR) on the guest's EOF,
 * EOF to the guest on read()==0, closes it at the end), or a negative SBX_
 * code to refuse the stream (the guest's client sees its connection closed).
 * Without a callback every OPEN is refused (not a session error).
 */
typedef int (*sbx_stream_open_fn)(void *opaque, uint32_t stream, int *fd_out);
void sbx_session_set_stream_open(struct sbx_session *s, sbx_stream_open_fn fn, void *opaque);
/*
 * Pump the channel for timeout_ms while no exec runs: service the guest's
 * streams.  0 when the time is up, or the error that ended the session.
 */
int sbx_session_serve(struct sbx_session *s, uint64_t timeout_ms);
/* The guest client's port of a stream that is open (for the audit; also in the callback), or -1. */
int sbx_session_stream_port(struct sbx_session *s, uint32_t stream);
/* Guest-opened streams alive now (until both sides' CLOSE). */
unsigned sbx_session_streams(const struct sbx_session *s);

/*
 * Checkpoints of a running guest (protocol v4).  sbx_session_quiesce()
 * sends QUIESCE and waits up to timeout_ms for QUIESCED, servicing the
 * running exec and streams meanwhile; from the QUIESCE on, every frame the
 * host makes is held back, and neither stdin nor the stream sockets are
 * read, so on return the channel holds no partial frame either way: the
 * guest may be saved.  sbx_session_resume() sends RESUME and then what was
 * held.  After restoring any snapshot, call sbx_session_resume(s, true)
 * before anything else (then sbx_session_reseed): the restored sbx-init
 * ends what it ran for its old host and drops that host's streams.
 * SBX_ETIMEDOUT when no QUIESCED came (the session is unusable then).
 */
int sbx_session_quiesce(struct sbx_session *s, uint64_t timeout_ms);
int sbx_session_resume(struct sbx_session *s, bool restored);
/*
 * The guest's notes (NOTE frames) since the last call; cleared.  A hint
 * only: rate-limit what it leads to, look up the commit it names.
 */
struct sbx_session_notes {
	unsigned kinds;			/* 1u << PROTO_NOTE_* */
	bool has_commit;		/* the last COMMIT note named one: */
	uint8_t commit[PROTO_NOTE_OID_LEN];
};
void sbx_session_take_notes(struct sbx_session *s, struct sbx_session_notes *out);

/* The guest's banner from HELLO ("sbx-init"). */
const char *sbx_session_banner(const struct sbx_session *s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The host<->guest channel protocol, version 4.  This one header is shared by
 * the host (sbx/channel.c, sbx/chan-*.c) and the guest (guest/serve.c, exec.c, proxy.c);
 * nothing else is.  It is also described in docs/formats.md.
 *
 * The channel is a reliable byte stream: the guest's /dev/vportNpM named
 * SBX_CHANNEL_PORT (a virtio-console port) and, on the host, one end of a
 * socketpair whose other end the VMM's console device serves.  On it travel
 * frames:
 *
 *   offset  size  field
 *   0       2     magic    0x5342 ("BS" on the wire, little-endian "SB")
 *   2       1     type     enum proto_type
 *   3       1     flags    per type (the fd for DATA/EOF/WINDOW)
 *   4       4     stream   0 for the session, else an exec id chosen by the host
 *   8       4     length   of the payload, <= PROTO_MAX_PAYLOAD
 *   12      len   payload
 *
 * All integers are little-endian.  Either side that reads a frame with a bad
 * magic, an unknown type, a length over the limit, or a payload that does
 * not parse ends the session with an error: the guest is hostile and the
 * host never guesses.
 *
 * Session: the guest sends HELLO as soon as sbx-init serves the channel; the
 * host answers HELLO.  Versions must match exactly.  Then the host sends
 * TIME and ENTROPY and runs commands with EXEC (stream = a new id).  For
 * each exec: stdin flows host->guest as DATA(fd 0) then EOF(fd 0); stdout and
 * stderr flow guest->host as DATA(fd 1 or 2) then EOF; each direction of
 * each fd has a credit window: a sender may have at most the granted number
 * of payload bytes outstanding, and the receiver grants more with WINDOW
 * after it has consumed them.  The initial window is PROTO_INITIAL_WINDOW bytes per
 * fd.  EXIT ends an exec.  SIGNAL asks the guest to signal the exec's process
 * group.  POWEROFF asks sbx-init to sync and power off with a status.
 *
 * Version 2 adds streams the guest opens (a connection to its proxy
 * listener): OPEN(stream = an id with PROTO_STREAM_GUEST set, which host exec
 * ids never have), answered by ACCEPT or by CLOSE with a reason (refused).
 * DATA/EOF/WINDOW with flags 0 carry the bytes each way, each direction with
 * PROTO_STREAM_WINDOW of credit.  CLOSE ends a stream from either side; the
 * other side answers CLOSE unless it already sent one, and an id is free
 * again once each side has both sent and received CLOSE.  The host closes
 * only to refuse or abort; the normal end is the guest's CLOSE(0), sent once
 * both directions saw EOF, its client has every byte and the host has
 * granted back all its credit (so the host's socket has every byte too).
 * See docs/formats.md for which violations end the session.
 *
 * Version 3 adds RESEED (host->guest, stream 0) and its answer RESEEDED:
 * the host sends it right after restoring a memory snapshot, before
 * anything else, so that no two restores of one snapshot share the guest's
 * random numbers or its stale wall clock.  sbx-init handles it before any
 * later frame: mixes the bytes into the kernel's pool (credited), forces a
 * reseed of the CRNG, sets CLOCK_REALTIME, and answers with what it did.
 *
 * Version 4 adds checkpoints of a running guest (docs/design.md,
 * "Checkpoints").  QUIESCE (host->guest, stream 0, no payload) is the last
 * frame the host sends before a checkpoint: sbx-init stops reading its
 * commands' pipes, its streams' sockets and its note socket, stops reaping
 * and timing its commands, writes out every frame it had queued and then
 * QUIESCED (no payload), and sends nothing more of its own until RESUME;
 * it still answers RESEED and QUIESCE.  When the host has read QUIESCED
 * the channel holds no partial frame either way, so a snapshot taken now
 * restores to frame boundaries.  RESUME (host->guest, u32 flags) ends the
 * quiet; with PROTO_RESUME_RESTORED the guest is a restored copy whose host
 * is new: sbx-init ends every command it ran (SIGKILL to their process
 * groups) and drops every stream, telling the host nothing of them.  A
 * host sends RESUME(RESTORED) after every restore, checkpoint or not.
 * NOTE (guest->host, stream 0, u8 kind [+ 20-byte commit id]) is a hint
 * from a program in the guest (the post-commit hook: PROTO_NOTE_COMMIT with
 * the new HEAD); the host may take a checkpoint, within its own limits, and
 * never trusts it further (a commit it names is looked up, not believed).
 */
#ifndef SBX_PROTO_H
#define SBX_PROTO_H

#include <stdint.h>
#include <string.h>

/*
 * The channel is a named virtio-console port, not hvc0: Linux's hvc layer
 * reads 16 bytes per poll, far too slow for git bundles.  sbx-init finds
 * the port by this name in /sys/class/virtio-ports/<vportNpM>/name.
 */
#define SBX_CHANNEL_PORT	"sbx.channel"

/*
 * Notes (v4): sbx-init's datagram socket, its copy of itself that sends to
 * it (`--note KIND`), and the hooks directory whose post-commit runs that;
 * the host points the guest repository's core.hooksPath there.
 */
#define SBX_NOTE_SOCKET		"/run/sbx/note"
#define SBX_NOTE_CLIENT		"/run/sbx/sbx-note"
#define SBX_NOTE_HOOKS		"/run/sbx/hooks"

#define PROTO_MAGIC		0x5342u
#define PROTO_VERSION		4u
#define PROTO_HDR_SIZE		12u
#define PROTO_MAX_PAYLOAD	65536u		/* hard limit on one frame's payload */
#define PROTO_INITIAL_WINDOW	(256u << 10)	/* initial credit per fd and direction */
#define PROTO_MAX_ARGS		256u		/* argv entries in one EXEC */
#define PROTO_MAX_ENV		256u		/* environment entries in one EXEC */
#define PROTO_MAX_STR		16384u		/* one argv/env/cwd string */
#define PROTO_MAX_STREAMS	64u		/* execs alive at once */
#define PROTO_STREAM_GUEST	0x80000000u	/* set in the ids of streams the guest opens */
#define PROTO_MAX_GUEST_STREAMS	256u		/* guest-opened streams alive at once (until both CLOSEs) */
#define PROTO_STREAM_WINDOW	(128u << 10)	/* credit per direction of a guest-opened stream */
#define PROTO_MAX_REASON	256u		/* the message in a CLOSE */
#define PROTO_RESEED_BYTES	64u		/* random bytes in a RESEED */
#define PROTO_RESEED_LEN	(8u + PROTO_RESEED_BYTES)	/* RESEED's payload, exactly */
#define PROTO_RESEEDED_LEN	28u		/* RESEEDED's payload, exactly */

enum proto_type {
	PROTO_HELLO = 0x01,	/* u32 version, u32 max_payload, u32 window, str banner */
	PROTO_ERROR = 0x02,	/* str message; the sender ends the session */
	PROTO_TIME = 0x03,	/* host->guest: u64 realtime ns since the epoch */
	PROTO_ENTROPY = 0x04,	/* host->guest: 32..256 random bytes to credit */
	PROTO_POWEROFF = 0x05,	/* host->guest: u32 status; sync, unmount, power off */
	PROTO_RESEED = 0x06,	/* host->guest (v3): u64 realtime ns, 64 random bytes; answered by */
	PROTO_RESEEDED = 0x07,	/* guest->host (v3): u64 the host's ns as received, u64 the guest's
				   realtime ns before and u64 after, u32 flags (PROTO_RESEED_*) */
	PROTO_QUIESCE = 0x08,	/* host->guest (v4): no payload; answered by */
	PROTO_QUIESCED = 0x09,	/* guest->host (v4): no payload; nothing more until RESUME */
	PROTO_RESUME = 0x0a,	/* host->guest (v4): u32 flags (PROTO_RESUME_*) */
	PROTO_NOTE = 0x0b,	/* guest->host (v4): u8 kind (enum proto_note), then for a
				   COMMIT none or the commit's 20-byte SHA-1 */
	PROTO_EXEC = 0x10,	/* host->guest: TLVs (enum proto_tlv) */
	PROTO_DATA = 0x11,	/* flags = fd; payload = bytes */
	PROTO_EOF = 0x12,	/* flags = fd; no payload */
	PROTO_WINDOW = 0x13,	/* flags = fd; u32 credit to add */
	PROTO_SIGNAL = 0x14,	/* host->guest: u32 signal number */
	PROTO_EXIT = 0x15,	/* guest->host: i32 exit code (128+sig if killed), u32 exit flags */
	PROTO_STARTED = 0x16,	/* guest->host: u32 pid; the exec began */
	PROTO_OPEN = 0x20,	/* guest->host: u8 kind (enum proto_open_kind), u16 the client's port */
	PROTO_ACCEPT = 0x21,	/* host->guest: no payload; the stream is connected */
	PROTO_CLOSE = 0x22,	/* both: u32 reason (enum proto_close), str message (<= 256) */
};

/* What a guest-opened stream is for. */
enum proto_open_kind {
	PROTO_OPEN_PROXY = 1,	/* a connection to the guest's HTTP proxy listener */
};

/* CLOSE reasons. */
enum proto_close {
	PROTO_CLOSE_DONE = 0,	/* normal end (only the guest sends it) */
	PROTO_CLOSE_REFUSED = 1,	/* the host refused the OPEN */
	PROTO_CLOSE_RESET = 2,	/* aborted: a socket failed or the other side said so */
};

/* RESUME flags. */
#define PROTO_RESUME_RESTORED	(1u << 0)	/* a restored copy: end every exec, drop every stream */

/* NOTE kinds: what happened in the guest. */
enum proto_note {
	PROTO_NOTE_COMMIT = 1,	/* the agent made a commit (the guest's post-commit hook) */
};
#define PROTO_NOTE_MAX		PROTO_NOTE_COMMIT
#define PROTO_NOTE_OID_LEN	20u	/* a COMMIT note's optional SHA-1 */

/* RESEEDED flags: what sbx-init did with a RESEED. */
#define PROTO_RESEED_RNG	(1u << 0)	/* RNDADDENTROPY (credited) and RNDRESEEDCRNG both worked */
#define PROTO_RESEED_CLOCK	(1u << 1)	/* clock_settime(CLOCK_REALTIME) worked */
#define PROTO_RESEED_DRY	(1u << 2)	/* `sbx-init --serve`: checked, answered, changed nothing */

/* EXIT flags. */
#define PROTO_EXIT_SIGNALED	(1u << 0)	/* killed by a signal: code = 128 + signo */
#define PROTO_EXIT_TIMEOUT	(1u << 1)	/* killed because its timeout passed */
#define PROTO_EXIT_SPAWN_FAILED	(1u << 2)	/* could not start: code 127 (not found) or 126 */

/* EXEC payload: a sequence of TLVs: u8 tag, u32 length, value. */
enum proto_tlv {
	PROTO_TLV_ARG = 1,	/* one argv string (no NUL inside); at least one */
	PROTO_TLV_ENV = 2,	/* "NAME=value" */
	PROTO_TLV_CWD = 3,	/* absolute path */
	PROTO_TLV_UID = 4,	/* u32 */
	PROTO_TLV_GID = 5,	/* u32 */
	PROTO_TLV_TIMEOUT_MS = 6, /* u64; 0 = none */
	PROTO_TLV_STDIN = 7,	/* u8: 1 = the host will send stdin, 0 = /dev/null */
};

#define PROTO_FD_STDIN	0
#define PROTO_FD_STDOUT	1
#define PROTO_FD_STDERR	2

struct proto_hdr {
	uint16_t magic;
	uint8_t type;
	uint8_t flags;
	uint32_t stream;
	uint32_t length;
};

static inline uint16_t proto_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t proto_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t proto_get64(const uint8_t *p)
{
	return (uint64_t)proto_get32(p) | (uint64_t)proto_get32(p + 4) << 32;
}

static inline void proto_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void proto_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void proto_put64(uint8_t *p, uint64_t v)
{
	proto_put32(p, (uint32_t)v);
	proto_put32(p + 4, (uint32_t)(v >> 32));
}

static inline void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], uint8_t type, uint8_t flags,
				    uint32_t stream, uint32_t length)
{
	proto_put16(out, PROTO_MAGIC);
	out[2] = type;
	out[3] = flags;
	proto_put32(out + 4, stream);
	proto_put32(out + 8, length);
}

static inline int proto_type_known(uint8_t type)
{
	switch (type) {
	case PROTO_HELLO: case PROTO_ERROR: case PROTO_TIME: case PROTO_ENTROPY:
	case PROTO_POWEROFF: case PROTO_RESEED: case PROTO_RESEEDED:
	case PROTO_QUIESCE: case PROTO_QUIESCED: case PROTO_RESUME: case PROTO_NOTE:
	case PROTO_EXEC: case PROTO_DATA: case PROTO_EOF:
	case PROTO_WINDOW: case PROTO_SIGNAL: case PROTO_EXIT: case PROTO_STARTED:
	case PROTO_OPEN: case PROTO_ACCEPT: case PROTO_CLOSE:
		return 1;
	default:
		return 0;
	}
}

/* Decode and check a header: 0, or -1 with *why set (bad magic, type or length). */
static inline int proto_hdr_decode(struct proto_hdr *h, const uint8_t in[PROTO_HDR_SIZE],
				   const char **why)
{
	h->magic = proto_get16(in);
	h->type = in[2];
	h->flags = in[3];
	h->stream = proto_get32(in + 4);
	h->length = proto_get32(in + 8);
	if (h->magic != PROTO_MAGIC) {
		*why = "bad frame magic";
		return -1;
	}
	if (!proto_type_known(h->type)) {
		*why = "unknown frame type";
		return -1;
	}
	if (h->length > PROTO_MAX_PAYLOAD) {
		*why = "frame longer than the protocol allows";
		return -1;
	}
	return 0;
}

/* Walking the TLVs of an EXEC payload. */
struct proto_tlv_iter {
	const uint8_t *p, *end;
};

/*
 * The next TLV: returns 1 with *tag, *val, *len set; 0 at the end; -1 when the
 * payload is malformed (a TLV runs past the end).
 */
static inline int proto_tlv_next(struct proto_tlv_iter *it, uint8_t *tag, const uint8_t **val,
				 uint32_t *len)
{
	uint32_t n;

	if (it->p == it->end)
		return 0;
	if ((size_t)(it->end - it->p) < 5)
		return -1;
	*tag = it->p[0];
	n = proto_get32(it->p + 1);
	if (n > (size_t)(it->end - it->p) - 5)
		return -1;
	*val = it->p + 5;
	*len = n;
	it->p += 5 + (size_t)n;
	return 1;
}

/* A TLV string value is valid when it holds no NUL and is not too long. */
static inline int proto_str_ok(const uint8_t *val, uint32_t len)
{
	return len <= PROTO_MAX_STR && !memchr(val, 0, len);
}

#endif

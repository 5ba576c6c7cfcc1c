// SPDX-License-Identifier: MIT
/*
 * RESEED (sbx/proto.h, protocol v3): what sbx-init does when the host says
 * this guest was just restored from a memory snapshot.  Every restore of one
 * snapshot resumes the same kernel CRNG state and the same stale wall clock;
 * the host's fresh bytes and time make this restore differ from every other.
 *
 * Handled synchronously from the frame loop, so nothing the host sends after
 * RESEED (an EXEC, say) runs before the reseed is done:
 *  1. RNDADDENTROPY on /dev/urandom with the 64 bytes, credited 512 bits.
 *     On Linux 6.1 that mixes them into the input pool, but once the CRNG is
 *     ready (always, in a restored guest) crediting no longer reseeds it: the
 *     new pool would reach the CRNG only at the next scheduled reseed (up to a
 *     minute later).  So:
 *  2. RNDRESEEDCRNG: crng_reseed() now, which extracts a new base key from
 *     the input pool (our bytes included) and bumps the CRNG generation, so
 *     every CPU's CRNG rekeys before its next output.  -ENODATA means "CRNG
 *     not ready", which cannot follow a successful 512-bit credit.
 *  3. clock_settime(CLOCK_REALTIME) to the host's time, reading the clock
 *     just before and just after so the host can log the step.
 * Both ioctls need CAP_SYS_ADMIN: sbx-init is PID 1, root.
 *
 * The answer (RESEEDED) says which steps worked; `sbx-init --serve` (tests,
 * on the host) checks and answers but changes nothing (PROTO_RESEED_DRY).
 * A RESEED of the wrong length or on a stream ends the session with ERROR,
 * like every other malformed frame from the host.
 */
#include "guest/sbx-init.h"
#include "guest/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Mix `n` bytes in (credited) and reseed the CRNG now: 0, or -1 with a message logged. */
static int rng_reseed(const uint8_t *p, size_t n)
{
	struct {
		struct rand_pool_info info;
		uint8_t buf[PROTO_RESEED_BYTES];
	} e;
	int fd, ret = -1;

	if (n > sizeof(e.buf))
		n = sizeof(e.buf);
	e.info.entropy_count = (int)(n * 8);
	e.info.buf_size = (int)n;
	memcpy(e.buf, p, n);
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		sbx_log("reseed: /dev/urandom: %s", strerror(errno));
	else if (ioctl(fd, RNDADDENTROPY, &e))
		sbx_log("reseed: RNDADDENTROPY: %s", strerror(errno));
	else if (ioctl(fd, RNDRESEEDCRNG))
		sbx_log("reseed: RNDRESEEDCRNG: %s", strerror(errno));
	else
		ret = 0;
	if (fd >= 0)
		close(fd);
	explicit_bzero(&e, sizeof(e));
	return ret;
}

void reseed_frame(const struct proto_hdr *h, const uint8_t *p)
{
	uint8_t ack[PROTO_RESEEDED_LEN];
	uint64_t host_ns, before, after;
	uint32_t flags = 0;
	struct timespec ts;

	if (h->stream || h->flags || h->length != PROTO_RESEED_LEN) {
		send_error(0, "bad RESEED from the host (%u bytes on stream %u; %u expected on 0)",
			   h->length, h->stream, PROTO_RESEED_LEN);
		session_over = true;
		return;
	}
	host_ns = proto_get64(p);
	if (sbx_serve_only) {
		flags |= PROTO_RESEED_DRY;
	} else if (!rng_reseed(p + 8, PROTO_RESEED_BYTES)) {
		flags |= PROTO_RESEED_RNG;
	}
	ts.tv_sec = (time_t)(host_ns / 1000000000u);
	ts.tv_nsec = (long)(host_ns % 1000000000u);
	before = realtime_ns();
	if (!sbx_serve_only) {
		if (clock_settime(CLOCK_REALTIME, &ts))
			sbx_log("reseed: clock_settime: %s", strerror(errno));
		else
			flags |= PROTO_RESEED_CLOCK;
	}
	after = realtime_ns();
	proto_put64(ack, host_ns);
	proto_put64(ack + 8, before);
	proto_put64(ack + 16, after);
	proto_put32(ack + 24, flags);
	send_frame(PROTO_RESEEDED, 0, 0, ack, sizeof(ack));
}

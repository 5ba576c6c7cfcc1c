// SPDX-License-Identifier: MIT
/*
 * virtio-rng (virtio 1.2 section 5.4): one request queue; each buffer the
 * driver makes available is filled with bytes from getrandom().
 */
#include "vmm/virtio.h"
#include "vmm/virtio-mmio.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RNG_QUEUE_SIZE	64
#define RNG_CHAIN_MAX	16
#define RNG_MAX_FILL	65536	/* per request: a driver asking for more gets less */

struct virtio_rng {
	struct virtio_mmio *t;
	struct iovec iov[RNG_CHAIN_MAX];
};

/* Fill up to `len` bytes of the writable part of `c`; return the bytes written. */
static uint32_t fill(const struct virtq_chain *c, uint64_t len)
{
	const struct iovec *iov = c->iov + c->nout;
	uint32_t done = 0;
	unsigned i;

	for (i = 0; i < c->nin && done < len; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t want = iov[i].iov_len;

		if (want > len - done)
			want = (size_t)(len - done);
		while (want) {
			ssize_t n = getrandom(p, want, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pr_warn("virtio-rng: getrandom: %s", strerror(errno));
				return done;
			}
			p += n;
			want -= (size_t)n;
			done += (uint32_t)n;
		}
	}
	return done;
}

static void rng_notify(void *opaque, unsigned q)
{
	struct virtio_rng *rng = opaque;
	struct virtq *vq = virtio_mmio_queue(rng->t, q);
	struct virtq_chain c = { .cap = RNG_CHAIN_MAX, .iov = rng->iov };
	int got;

	if (!vq)
		return;
	while ((got = virtq_pop(vq, &c)) > 0)
		virtq_push(vq, c.head, fill(&c, c.in_bytes < RNG_MAX_FILL ? c.in_bytes : RNG_MAX_FILL));
	if (got < 0)
		virtio_mmio_broken(rng->t);
	virtio_mmio_used(rng->t, q);
}

static void rng_free(void *opaque)
{
	free(opaque);
}

static const struct virtio_mmio_ops rng_ops = {
	.queue_notify = rng_notify,
	.free = rng_free,
};

int virtio_rng_create(struct mmio_device **out, const struct vm_dev_env *env)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	struct virtio_mmio_info info = {
		.name = "virtio-rng",
		.device_id = VIRTIO_ID_RNG,
		.num_queues = 1,
		.queue_max = RNG_QUEUE_SIZE,
		.chain_max = RNG_CHAIN_MAX,
		.ops = &rng_ops,
		.opaque = rng,
	};
	int err;

	*out = NULL;
	if (!rng)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = virtio_mmio_create(&rng->t, out, env, &info);
	if (err)
		free(rng);
	return err;
}

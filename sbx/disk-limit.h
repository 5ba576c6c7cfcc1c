/* SPDX-License-Identifier: MIT */
/*
 * The task disk's cap: the guest is root inside and may fill its 16 GiB
 * ext4; the host file stops growing at `max` bytes allocated.  Writes past
 * that fail (virtio-blk reports an I/O error to the guest); zeroing and
 * discarding never allocate, so they pass.  on_hit runs (on the thread that
 * wrote) the first time a write is refused.  A checkpoint (freeze_switch or
 * switch_fd) goes on counting: the cap is on the sum of the layers frozen since the wrap
 * (as allocated when they froze) and the current one.
 */
#ifndef SBX_SBX_DISK_LIMIT_H
#define SBX_SBX_DISK_LIMIT_H

#include "util/blockdev.h"

/* Wrap `inner`, whose file is `fd` (taken over; fstat'ed per write); closing closes both. */
int sbx_disk_limit_wrap(struct blockdev **out, struct blockdev *inner, int fd, uint64_t max,
			void (*on_hit)(void *opaque), void *opaque);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The virtio devices the machine offers, each a virtio-mmio (version 2)
 * device with split virtqueues.  The machine (vmm/vm.c) creates them in a
 * fixed order, gives each a window and an interrupt line through `env`,
 * describes them in the DSDT (LNRO0005) and registers the returned
 * mmio_device on its bus.
 *
 * A malformed request from the guest (descriptor loop, address outside
 * RAM, absurd length) never crashes or hangs the VMM: the device sets
 * DEVICE_NEEDS_RESET in its status, raises a configuration-change
 * interrupt and ignores the queue until the driver resets it.
 */
#ifndef SBX_VMM_VIRTIO_H
#define SBX_VMM_VIRTIO_H

#include "util/blockdev.h"
#include "vmm/device.h"

/* A disk; `bd` stays owned by the caller and must outlive the device. */
int virtio_blk_create(struct mmio_device **out, const struct vm_dev_env *env, struct blockdev *bd);

/*
 * The host<->guest byte stream (the guest's /dev/hvc0, port 0 of a
 * virtio-console).  Bytes the guest writes go to `out_fd`; bytes readable on
 * `in_fd` go to the guest.  Either may be -1 (nothing goes that way).  The
 * fds stay owned by the caller; they are made non-blocking.  EOF on `in_fd`
 * just stops input.
 */
int virtio_console_create(struct mmio_device **out, const struct vm_dev_env *env,
			  int in_fd, int out_fd);

/* Entropy for the guest's /dev/hwrng, from getrandom(). */
int virtio_rng_create(struct mmio_device **out, const struct vm_dev_env *env);

#endif

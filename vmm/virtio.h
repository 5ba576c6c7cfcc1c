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
/*
 * The same stream on a named generic port instead (VIRTIO_CONSOLE_F_MULTIPORT,
 * one port): the guest's /dev/vport<N>p0, named `name` in
 * /sys/class/virtio-ports/vport<N>p0/name.  Much faster host->guest than
 * hvc0, whose tty reads 16 bytes per poll.  `name`: 1-64 bytes, no '/'.
 */
int virtio_console_create_port(struct mmio_device **out, const struct vm_dev_env *env,
			       int in_fd, int out_fd, const char *name);

/* Entropy for the guest's /dev/hwrng, from getrandom(). */
int virtio_rng_create(struct mmio_device **out, const struct vm_dev_env *env);

#endif

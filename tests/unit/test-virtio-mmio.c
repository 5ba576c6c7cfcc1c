// SPDX-License-Identifier: MIT
/*
 * Unit tests for the virtio-mmio transport (vmm/virtio-mmio.c), driven
 * through its registers with virtio-rng as the device: identification,
 * feature negotiation, the status state machine, queue set-up checks,
 * DEVICE_NEEDS_RESET and recovery by reset, interrupts, notifications with
 * and without ioeventfd; and virtio-rng's own behaviour.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/virtio-harness.h"
#include "util/error.h"
#include "vmm/virtio-mmio.h"
#include "vmm/virtio.h"

#define MEM		(8ULL << 20)
#define F_V1		(1ULL << VIRTIO_F_VERSION_1)
#define F_ALL		(F_V1 | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX))
#define S_UP		(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
			 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)

static struct vh *rng_new(bool ioeventfd)
{
	struct vh *h = calloc(1, sizeof(*h));

	vh_init(h, MEM, MEM);
	h->ioeventfd_ok = ioeventfd;
	assert_int_equal(virtio_rng_create(&h->dev, &h->env), 0);
	return h;
}

static void rng_free(struct vh *h)
{
	vh_fini(h);
	free(h);
}

static bool needs_reset(struct vh *h)
{
	return vh_r32(h, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static void test_identification(void **state)
{
	struct vh *h = rng_new(true);

	(void)state;
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(h->dev->size, 0x200);
	assert_true(h->dev->is_virtio_mmio);
	assert_true((vh_device_features(h) & F_ALL) == F_ALL);
	vh_w32(h, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	vh_w32(h, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);	/* no such queue */
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	/* Registers take only aligned 32-bit accesses. */
	assert_true(vh_read(h, VIRTIO_MMIO_MAGIC_VALUE, 2) == 0);
	assert_true(vh_read(h, VIRTIO_MMIO_MAGIC_VALUE + 1, 4) == 0);
	/* One ioeventfd per queue on QueueNotify, datamatch = the queue index. */
	assert_true(h->iofds[0].used);
	assert_true(h->iofds[0].addr == VH_BASE + VIRTIO_MMIO_QUEUE_NOTIFY);
	assert_true(h->iofds[0].datamatch == 0);
	assert_false(h->iofds[1].used);
	rng_free(h);
}

static void test_negotiation(void **state)
{
	struct vh *h = rng_new(true);

	(void)state;
	/* A legacy driver (no VERSION_1) does not get FEATURES_OK. */
	assert_int_equal(vh_setup(h, 0, 1, 64) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	/* Nor one that accepts a feature not offered. */
	assert_int_equal(vh_setup(h, F_V1 | (1ULL << 40), 1, 64) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	assert_false(needs_reset(h));
	assert_int_equal(vh_setup(h, F_V1, 1, 64), S_UP);
	/* Driver features are frozen after FEATURES_OK. */
	vh_w32(h, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vh_w32(h, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_STATUS), S_UP);
	rng_free(h);
}

static void test_status_violations(void **state)
{
	struct vh *h = rng_new(true);
	unsigned irqs;

	(void)state;
	/* DRIVER_OK without FEATURES_OK. */
	vh_w32(h, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	irqs = h->irqs;
	vh_w32(h, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(needs_reset(h));
	assert_true(h->irqs > irqs);
	assert_true(vh_r32(h, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	/* Reset clears everything. */
	vh_w32(h, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* Clearing a status bit. */
	assert_int_equal(vh_setup(h, F_V1, 1, 64), S_UP);
	vh_w32(h, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	assert_true(needs_reset(h));
	assert_int_equal(vh_setup(h, F_V1, 1, 64), S_UP);
	rng_free(h);
}

static void enable_queue(struct vh *h, uint32_t num, uint64_t desc, uint64_t avail,
			 uint64_t used)
{
	vh_w32(h, VIRTIO_MMIO_STATUS, 0);
	vh_w32(h, VIRTIO_MMIO_STATUS, 3);
	vh_w32(h, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vh_w32(h, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vh_w32(h, VIRTIO_MMIO_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
	vh_w32(h, VIRTIO_MMIO_QUEUE_SEL, 0);
	vh_w32(h, VIRTIO_MMIO_QUEUE_NUM, num);
	vh_w32(h, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vh_w32(h, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vh_w32(h, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	vh_w32(h, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	vh_w32(h, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	vh_w32(h, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	vh_w32(h, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void test_queue_setup_checks(void **state)
{
	struct vh *h = rng_new(true);

	(void)state;
	enable_queue(h, 64, 0x1000, 0x2000, 0x3000);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_false(needs_reset(h));
	/* Set-up registers are ignored while the queue is ready. */
	vh_w32(h, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x7);
	vh_w32(h, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_QUEUE_READY), 0);
	vh_w32(h, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_QUEUE_READY), 1);

	enable_queue(h, 128, 0x1000, 0x2000, 0x3000);		/* above QueueNumMax */
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(needs_reset(h));
	enable_queue(h, 48, 0x1000, 0x2000, 0x3000);		/* not a power of 2 */
	assert_true(needs_reset(h));
	enable_queue(h, 64, 0x1008, 0x2000, 0x3000);		/* misaligned */
	assert_true(needs_reset(h));
	enable_queue(h, 64, 0x1000, 0x2000, MEM - 16);		/* outside RAM */
	assert_true(needs_reset(h));
	enable_queue(h, 64, 0x1000, 0x2000, 0x1234500000000ULL);	/* far outside */
	assert_true(needs_reset(h));
	enable_queue(h, 64, 0x1000, 0x2000, 0x3000);
	assert_false(needs_reset(h));

	/* Queue enabled before FEATURES_OK. */
	vh_w32(h, VIRTIO_MMIO_STATUS, 0);
	vh_w32(h, VIRTIO_MMIO_STATUS, 3);
	vh_w32(h, VIRTIO_MMIO_QUEUE_NUM, 64);
	vh_w32(h, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(needs_reset(h));
	rng_free(h);
}

static void rng_request(struct vh *h, uint64_t gpa, uint32_t len)
{
	struct vh_buf b = { gpa, len, true };

	vh_avail(h, 0, vh_chain(h, 0, 1, &b));
}

static void test_rng_fills(void **state, bool ioeventfd)
{
	struct vh *h = rng_new(ioeventfd);
	uint64_t a = vh_alloc(h, 4096), b = vh_alloc(h, 4096);
	uint8_t zero[4096] = { 0 };
	uint32_t id, len;
	unsigned irqs;

	(void)state;
	assert_int_equal(vh_setup(h, F_ALL, 1, 64), S_UP);
	irqs = h->irqs;
	rng_request(h, a, 4096);
	rng_request(h, b, 4096);
	vh_run(h);
	assert_int_equal(vh_used(h, 0, &id, &len), 1);
	assert_int_equal(len, 4096);
	assert_int_equal(vh_used(h, 0, &id, &len), 1);
	assert_int_equal(len, 4096);
	assert_int_equal(vh_used(h, 0, &id, &len), 0);
	assert_true(h->irqs > irqs);
	assert_true(vh_r32(h, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
	vh_w32(h, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(vh_r32(h, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_memory_not_equal(vh_ptr(h, a, 4096), zero, 4096);
	assert_memory_not_equal(vh_ptr(h, a, 4096), vh_ptr(h, b, 4096), 4096);
	rng_free(h);
}

static void test_rng_ioeventfd(void **state)
{
	test_rng_fills(state, true);
}

static void test_rng_mmio_notify(void **state)
{
	/* Without ioeventfd the QueueNotify write itself wakes the event thread. */
	test_rng_fills(state, false);
}

static void test_nothing_before_driver_ok(void **state)
{
	struct vh *h = rng_new(true);
	uint64_t a = vh_alloc(h, 64);
	uint32_t id, len;

	(void)state;
	enable_queue(h, 64, 0x10000, 0x14000, 0x18000);
	h->q[0] = (struct vh_queue){ .size = 64, .desc = 0x10000, .avail = 0x14000,
				     .used = 0x18000 };
	rng_request(h, a, 64);
	vh_run(h);
	assert_int_equal(vh_used(h, 0, &id, &len), 0);
	/* DRIVER_OK: buffers made available before are served now. */
	vh_w32(h, VIRTIO_MMIO_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	vh_run(h);
	assert_int_equal(vh_used(h, 0, &id, &len), 1);
	assert_int_equal(len, 64);
	rng_free(h);
}

static void test_malformed_chain_needs_reset(void **state)
{
	struct vh *h = rng_new(true);
	uint64_t a = vh_alloc(h, 64);
	uint32_t id, len;
	unsigned irqs;

	(void)state;
	assert_int_equal(vh_setup(h, F_ALL, 1, 64), S_UP);
	irqs = h->irqs;
	vh_desc(h, 0, 0, a, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	vh_desc(h, 0, 1, a, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);	/* loop */
	vh_avail(h, 0, 0);
	vh_run(h);
	assert_true(needs_reset(h));
	assert_true(h->irqs > irqs);
	assert_true(vh_r32(h, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(vh_used(h, 0, &id, &len), 0);
	/* The device ignores the queue until reset, even for good chains. */
	rng_request(h, a, 64);
	vh_run(h);
	assert_int_equal(vh_used(h, 0, &id, &len), 0);
	/* After a reset and a new set-up it works again. */
	assert_int_equal(vh_setup(h, F_ALL, 1, 64), S_UP);
	rng_request(h, a, 64);
	vh_run(h);
	assert_int_equal(vh_used(h, 0, &id, &len), 1);
	rng_free(h);
}

static void test_rng_huge_and_outside(void **state)
{
	struct vh *h = rng_new(true);
	uint32_t id, len;

	(void)state;
	assert_int_equal(vh_setup(h, F_ALL, 1, 64), S_UP);
	rng_request(h, vh_alloc(h, 16), 0xffffffff);	/* huge length */
	vh_run(h);
	assert_true(needs_reset(h));
	assert_int_equal(vh_setup(h, F_ALL, 1, 64), S_UP);
	rng_request(h, 0xfffffffffffff000ULL, 4096);	/* address outside RAM */
	vh_run(h);
	assert_true(needs_reset(h));
	assert_int_equal(vh_setup(h, F_ALL, 1, 64), S_UP);
	/* A big but valid request gets at most 64 KiB. */
	rng_request(h, vh_alloc(h, 1 << 20), 1 << 20);
	vh_run(h);
	assert_int_equal(vh_used(h, 0, &id, &len), 1);
	assert_int_equal(len, 65536);
	rng_free(h);
}

static void test_config_space(void **state)
{
	struct vh h;

	(void)state;
	/* virtio-console has 12 bytes of (zero) configuration; beyond reads as 0. */
	vh_init(&h, MEM, MEM);
	assert_int_equal(virtio_console_create(&h.dev, &h.env, -1, -1), 0);
	assert_int_equal(vh_r32(&h, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	assert_true(vh_read(&h, VIRTIO_MMIO_CONFIG, 8) == 0);
	assert_true(vh_read(&h, VIRTIO_MMIO_CONFIG + 0xfe, 2) == 0);
	assert_int_equal(vh_r32(&h, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	vh_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identification),
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_status_violations),
		cmocka_unit_test(test_queue_setup_checks),
		cmocka_unit_test(test_rng_ioeventfd),
		cmocka_unit_test(test_rng_mmio_notify),
		cmocka_unit_test(test_nothing_before_driver_ok),
		cmocka_unit_test(test_malformed_chain_needs_reset),
		cmocka_unit_test(test_rng_huge_and_outside),
		cmocka_unit_test(test_config_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

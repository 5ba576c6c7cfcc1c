// SPDX-License-Identifier: MIT
/*
 * A hostile virtio driver, run inside the guest by tests/kvm/virtio.kvm:
 * it drives a virtio-mmio device whose Linux driver was unbound, through
 * /dev/mem, with rings in its own locked pages (physical addresses from
 * /proc/self/pagemap), and submits a descriptor loop, an address outside
 * RAM, a huge length and a looping indirect table.  Each must leave the
 * device in DEVICE_NEEDS_RESET (and the VMM running); a good request before
 * and after (with a reset in between) must complete.
 *
 *   virtio-malformed BASE      (the device's MMIO window, e.g. 0xd0003000)
 *
 * Prints one "virtio-malformed: ok|not ok NAME" line per case; exits with
 * the number of failed cases.  Statically linked: the initramfs has no libc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define R_DEVICE_ID	0x008
#define R_DRV_FEAT	0x020
#define R_DRV_FEAT_SEL	0x024
#define R_QUEUE_SEL	0x030
#define R_QUEUE_NUM	0x038
#define R_QUEUE_READY	0x044
#define R_QUEUE_NOTIFY	0x050
#define R_INT_STATUS	0x060
#define R_INT_ACK	0x064
#define R_STATUS	0x070
#define R_DESC_LO	0x080
#define R_DESC_HI	0x084
#define R_AVAIL_LO	0x090
#define R_AVAIL_HI	0x094
#define R_USED_LO	0x0a0
#define R_USED_HI	0x0a4

#define S_ACK		1
#define S_DRIVER	2
#define S_DRIVER_OK	4
#define S_FEATURES_OK	8
#define S_NEEDS_RESET	0x40

#define D_NEXT		1
#define D_WRITE		2
#define D_INDIRECT	4

#define QSIZE		8

static volatile uint32_t *regs;
static uint8_t *ring, *buf;		/* one page each, locked */
static uint64_t ring_pa, buf_pa;
static uint16_t avail_idx;
static int failures;

static uint32_t rd(unsigned off)
{
	return regs[off / 4];
}

static void wr(unsigned off, uint32_t v)
{
	regs[off / 4] = v;
}

static uint64_t phys(void *p)
{
	uint64_t entry, va = (uint64_t)(uintptr_t)p;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pread(fd, &entry, 8, (off_t)(va / 4096 * 8)) != 8) {
		perror("pagemap");
		exit(100);
	}
	close(fd);
	if (!(entry >> 63) || !(entry & ((1ULL << 55) - 1))) {
		fprintf(stderr, "page not present or no PFN (not root?)\n");
		exit(100);
	}
	return (entry & ((1ULL << 55) - 1)) * 4096 + va % 4096;
}

static void *locked_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED |
		       MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED || mlock(p, 4096)) {
		perror("mmap");
		exit(100);
	}
	memset(p, 0, 4096);
	return p;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Reset and set up queue 0 (descriptors at ring+0, avail at +0x100, used at +0x200). */
static int setup(void)
{
	wr(R_STATUS, 0);
	if (rd(R_STATUS) != 0)
		return -1;
	memset(ring, 0, 4096);
	avail_idx = 0;
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DRV_FEAT_SEL, 1);
	wr(R_DRV_FEAT, 1);			/* VIRTIO_F_VERSION_1 */
	wr(R_DRV_FEAT_SEL, 0);
	wr(R_DRV_FEAT, 1u << 28);		/* VIRTIO_RING_F_INDIRECT_DESC */
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(R_STATUS) & S_FEATURES_OK))
		return -1;
	wr(R_QUEUE_SEL, 0);
	wr(R_QUEUE_NUM, QSIZE);
	wr(R_DESC_LO, (uint32_t)ring_pa);
	wr(R_DESC_HI, (uint32_t)(ring_pa >> 32));
	wr(R_AVAIL_LO, (uint32_t)(ring_pa + 0x100));
	wr(R_AVAIL_HI, (uint32_t)((ring_pa + 0x100) >> 32));
	wr(R_USED_LO, (uint32_t)(ring_pa + 0x200));
	wr(R_USED_HI, (uint32_t)((ring_pa + 0x200) >> 32));
	wr(R_QUEUE_READY, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return rd(R_STATUS) == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK) ? 0 : -1;
}

static void desc(uint8_t *table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	uint8_t *d = table + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void submit(uint16_t head)
{
	uint8_t *avail = ring + 0x100;

	memcpy(avail + 4 + 2 * (avail_idx % QSIZE), &head, 2);
	__sync_synchronize();
	avail_idx++;
	memcpy(avail + 2, &avail_idx, 2);
	__sync_synchronize();
	wr(R_QUEUE_NOTIFY, 0);
}

static void result(const char *name, int ok, const char *why)
{
	printf("virtio-malformed: %s %s%s%s\n", ok ? "ok" : "not ok", name, ok ? "" : ": ",
	       ok ? "" : why);
	fflush(stdout);
	failures += !ok;
}

/* A good request: 64 device-writable bytes; the device fills them (virtio-rng). */
static void good_request(const char *name)
{
	uint16_t used;
	uint32_t len = 0;
	int i;

	if (setup()) {
		result(name, 0, "set-up failed");
		return;
	}
	memset(buf, 0, 64);
	desc(ring, 0, buf_pa, 64, D_WRITE, 0);
	submit(0);
	for (i = 0; i < 2000; i++) {
		__sync_synchronize();
		memcpy(&used, ring + 0x200 + 2, 2);
		if (used == 1)
			break;
		sleep_ms(1);
	}
	memcpy(&len, ring + 0x200 + 8, 4);
	if (used != 1)
		result(name, 0, "no used buffer within 2 s");
	else if (len != 64)
		result(name, 0, "wrong used length");
	else if (rd(R_STATUS) & S_NEEDS_RESET)
		result(name, 0, "NEEDS_RESET after a good request");
	else
		result(name, 1, "");
}

/* Submit what the caller wrote at descriptor 0; expect NEEDS_RESET and a config interrupt. */
static void expect_broken(const char *name)
{
	uint32_t st = 0;
	int i;

	submit(0);
	for (i = 0; i < 2000; i++) {
		st = rd(R_STATUS);
		if (st & S_NEEDS_RESET)
			break;
		sleep_ms(1);
	}
	if (!(st & S_NEEDS_RESET))
		result(name, 0, "no DEVICE_NEEDS_RESET within 2 s");
	else if (!(rd(R_INT_STATUS) & 2))
		result(name, 0, "no configuration change interrupt");
	else
		result(name, 1, "");
	wr(R_INT_ACK, 3);
}

int main(int argc, char **argv)
{
	unsigned long base;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: virtio-malformed BASE\n");
		return 100;
	}
	base = strtoul(argv[1], NULL, 0);
	fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd < 0) {
		perror("/dev/mem");
		return 100;
	}
	regs = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
	if (regs == MAP_FAILED) {
		perror("mmap /dev/mem");
		return 100;
	}
	if (rd(0) != 0x74726976) {
		fprintf(stderr, "no virtio-mmio device at %#lx\n", base);
		return 100;
	}
	printf("virtio-malformed: device id %u at %#lx\n", rd(R_DEVICE_ID), base);
	ring = locked_page();
	buf = locked_page();
	ring_pa = phys(ring);
	buf_pa = phys(buf);

	good_request("good request before");

	if (!setup()) {
		desc(ring, 0, buf_pa, 64, D_WRITE | D_NEXT, 1);
		desc(ring, 1, buf_pa + 64, 64, D_WRITE | D_NEXT, 0);
		expect_broken("descriptor loop");
	}
	if (!setup()) {
		desc(ring, 0, 0x7ffffffff000ULL, 64, D_WRITE, 0);
		expect_broken("address outside RAM");
	}
	if (!setup()) {
		desc(ring, 0, buf_pa, 0xfffffff0u, D_WRITE, 0);
		expect_broken("huge length");
	}
	if (!setup()) {
		desc(buf, 0, buf_pa + 1024, 64, D_WRITE | D_NEXT, 1);
		desc(buf, 1, buf_pa + 2048, 64, D_WRITE | D_NEXT, 0);
		desc(ring, 0, buf_pa, 32, D_INDIRECT, 0);
		expect_broken("indirect table loop");
	}
	if (!setup()) {
		/* The available index claims more entries than the queue has. */
		uint16_t idx = QSIZE + 5;

		desc(ring, 0, buf_pa, 64, D_WRITE, 0);
		memcpy(ring + 0x100 + 2, &idx, 2);
		__sync_synchronize();
		wr(R_QUEUE_NOTIFY, 0);
		avail_idx = idx - 1;	/* submit() below re-notifies with idx + 1 */
		expect_broken("available index jump");
	}

	good_request("good request after a reset");
	wr(R_STATUS, 0);
	return failures;
}

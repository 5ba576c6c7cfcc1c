// SPDX-License-Identifier: MIT
/*
 * Unit tests for vmm/virtio-console.c: bytes both ways over pipes and a
 * socket, flow control both ways (the harness's event loop aborts on a
 * busy loop), EOF, a reader that went away, reset with output pending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/virtio-harness.h"
#include "util/error.h"
#include "vmm/virtio.h"

#define MEM	(8ULL << 20)
#define F_ALL	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
		 (1ULL << VIRTIO_RING_F_EVENT_IDX))
#define S_UP	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
		 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)
#define RXQ	0
#define TXQ	1

struct fx {
	struct vh h;
	int in[2], out[2];	/* host writes in[1]; host reads out[0] */
};

static struct fx *fx_new(bool set_fd_events, uint64_t features)
{
	struct fx *f = calloc(1, sizeof(*f));

	vh_init(&f->h, MEM, MEM);
	if (!set_fd_events)
		f->h.env.set_fd_events = NULL;
	assert_int_equal(pipe2(f->in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(f->out, O_CLOEXEC), 0);
	assert_int_equal(virtio_console_create(&f->h.dev, &f->h.env, f->in[0], f->out[1]), 0);
	assert_int_equal(vh_setup(&f->h, features, 2, 256), S_UP);
	return f;
}

static void fx_free(struct fx *f)
{
	int i;

	vh_fini(&f->h);
	for (i = 0; i < 2; i++) {
		if (f->in[i] >= 0)
			close(f->in[i]);
		if (f->out[i] >= 0)
			close(f->out[i]);
	}
	free(f);
}

static void give_rx(struct fx *f, uint64_t gpa, uint32_t len)
{
	struct vh_buf b = { gpa, len, true };

	vh_avail(&f->h, RXQ, vh_chain(&f->h, RXQ, 1, &b));
}

static void send_tx(struct fx *f, uint64_t gpa, uint32_t len)
{
	struct vh_buf b = { gpa, len, false };

	vh_avail(&f->h, TXQ, vh_chain(&f->h, TXQ, 1, &b));
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + i / 251);
}

static void test_host_to_guest(void **state, uint64_t features)
{
	struct fx *f = fx_new(true, features);
	uint64_t bufs = vh_alloc(&f->h, 4 * 1024);
	uint8_t msg[3000], got[4096];
	uint32_t id, len, total = 0;
	unsigned i;

	(void)state;
	for (i = 0; i < 4; i++)
		give_rx(f, bufs + 1024 * i, 1024);
	vh_run(&f->h);
	fill(msg, sizeof(msg), 1);
	assert_int_equal(write(f->in[1], msg, sizeof(msg)), sizeof(msg));
	vh_run(&f->h);
	while (vh_used(&f->h, RXQ, &id, &len)) {
		assert_true(len <= 1024);
		memcpy(got + total, vh_ptr(&f->h, bufs + 1024 * id, len), len);
		total += len;
	}
	assert_int_equal(total, sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	fx_free(f);
}

static void test_host_to_guest_event_idx(void **state)
{
	test_host_to_guest(state, F_ALL);
}

static void test_host_to_guest_plain(void **state)
{
	test_host_to_guest(state, 1ULL << VIRTIO_F_VERSION_1);
}

static void test_no_rx_buffers_no_busy_loop(void **state)
{
	struct fx *f = fx_new(true, F_ALL);
	uint64_t buf = vh_alloc(&f->h, 256);
	struct vh_fd *w;
	uint32_t id, len;

	(void)state;
	/* Input waiting but no receive buffer: input is not watched (vh_run would spin). */
	assert_int_equal(write(f->in[1], "ping", 4), 4);
	vh_run(&f->h);
	w = vh_find_fd(&f->h, f->in[0]);
	assert_true(!w || !(w->events & VM_FD_READABLE));
	/* A buffer and a kick: the bytes arrive. */
	give_rx(f, buf, 256);
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, RXQ, &id, &len), 1);
	assert_int_equal(len, 4);
	assert_memory_equal(vh_ptr(&f->h, buf, 4), "ping", 4);
	/* One more buffer, no input yet: input is watched; then data arrives. */
	give_rx(f, buf, 256);
	vh_run(&f->h);
	w = vh_find_fd(&f->h, f->in[0]);
	assert_true(w && (w->events & VM_FD_READABLE));
	assert_int_equal(vh_used(&f->h, RXQ, &id, &len), 0);
	assert_int_equal(write(f->in[1], "pong!", 5), 5);
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, RXQ, &id, &len), 1);
	assert_int_equal(len, 5);
	fx_free(f);
}

static void test_guest_to_host(void **state)
{
	struct fx *f = fx_new(true, F_ALL);
	uint64_t a = vh_alloc(&f->h, 16), b = vh_alloc(&f->h, 16);
	struct vh_buf bufs[2];
	uint32_t id, len;
	char got[32] = { 0 };

	(void)state;
	memcpy(vh_ptr(&f->h, a, 6), "hello ", 6);
	memcpy(vh_ptr(&f->h, b, 5), "world", 5);
	bufs[0] = (struct vh_buf){ a, 6, false };
	bufs[1] = (struct vh_buf){ b, 5, false };
	vh_avail(&f->h, TXQ, vh_chain(&f->h, TXQ, 2, bufs));
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, TXQ, &id, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(read(f->out[0], got, sizeof(got)), 11);
	assert_string_equal(got, "hello world");
	fx_free(f);
}

static void test_guest_to_host_flow_control(void **state)
{
	struct fx *f = fx_new(true, F_ALL);
	const size_t chunk = 16384, n = 8;
	uint64_t src = vh_alloc(&f->h, chunk * n);
	uint8_t *expect = vh_ptr(&f->h, src, chunk * n), *got = malloc(chunk * n);
	size_t total = 0, rounds = 0;
	unsigned used = 0, i;
	uint32_t id, len;
	struct vh_fd *w;

	(void)state;
	assert_true(fcntl(f->out[1], F_SETPIPE_SZ, 4096) >= 4096);
	fill(expect, chunk * n, 7);
	for (i = 0; i < n; i++)
		send_tx(f, src + chunk * i, (uint32_t)chunk);
	vh_run(&f->h);
	/* The pipe is full: the device waits for writability instead of spinning. */
	w = vh_find_fd(&f->h, f->out[1]);
	assert_true(w && (w->events & VM_FD_WRITABLE));
	assert_int_equal(vh_used(&f->h, TXQ, &id, &len), 0);
	while (total < chunk * n && rounds++ < 10000) {
		ssize_t r = read(f->out[0], got + total, chunk * n - total);

		if (r > 0)
			total += (size_t)r;
		vh_run(&f->h);
		while (vh_used(&f->h, TXQ, &id, &len))
			used++;
	}
	assert_int_equal(total, chunk * n);
	assert_memory_equal(got, expect, chunk * n);
	assert_int_equal(used, n);
	/* Nothing pending: the output fd is no longer watched. */
	assert_null(vh_find_fd(&f->h, f->out[1]));
	free(got);
	fx_free(f);
}

static void test_socket_both_ways(void **state)
{
	struct vh h;
	int sv[2];
	uint64_t rx, tx;
	uint32_t id, len;
	char buf[16] = { 0 };
	struct vh_buf b;

	(void)state;
	vh_init(&h, MEM, MEM);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(virtio_console_create(&h.dev, &h.env, sv[0], sv[0]), 0);
	assert_int_equal(vh_setup(&h, F_ALL, 2, 256), S_UP);
	rx = vh_alloc(&h, 64);
	tx = vh_alloc(&h, 64);
	b = (struct vh_buf){ rx, 64, true };
	vh_avail(&h, RXQ, vh_chain(&h, RXQ, 1, &b));
	memcpy(vh_ptr(&h, tx, 3), "out", 3);
	b = (struct vh_buf){ tx, 3, false };
	vh_avail(&h, TXQ, vh_chain(&h, TXQ, 1, &b));
	assert_int_equal(write(sv[1], "in", 2), 2);
	vh_run(&h);
	assert_int_equal(vh_used(&h, RXQ, &id, &len), 1);
	assert_int_equal(len, 2);
	assert_memory_equal(vh_ptr(&h, rx, 2), "in", 2);
	assert_int_equal(vh_used(&h, TXQ, &id, &len), 1);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 3);
	assert_string_equal(buf, "out");
	/* The peer goes away: input ends, output is discarded; no spinning. */
	close(sv[1]);
	b = (struct vh_buf){ tx, 3, false };
	vh_avail(&h, TXQ, vh_chain(&h, TXQ, 1, &b));
	vh_run(&h);
	assert_int_equal(vh_used(&h, TXQ, &id, &len), 1);
	assert_null(vh_find_fd(&h, sv[0]));
	vh_fini(&h);
	close(sv[0]);
}

static void test_eof_and_dead_reader(void **state)
{
	struct fx *f = fx_new(true, F_ALL);
	uint64_t buf = vh_alloc(&f->h, 64);
	uint32_t id, len;

	(void)state;
	give_rx(f, buf, 64);
	vh_run(&f->h);
	close(f->in[1]);
	f->in[1] = -1;
	vh_run(&f->h);		/* EOF: stops watching input, the buffer stays with us */
	assert_null(vh_find_fd(&f->h, f->in[0]));
	assert_int_equal(vh_used(&f->h, RXQ, &id, &len), 0);

	close(f->out[0]);
	f->out[0] = -1;
	memcpy(vh_ptr(&f->h, buf, 4), "lost", 4);
	send_tx(f, buf, 4);
	send_tx(f, buf, 4);
	vh_run(&f->h);		/* EPIPE: output discarded, the guest gets its buffers back */
	assert_int_equal(vh_used(&f->h, TXQ, &id, &len), 1);
	assert_int_equal(vh_used(&f->h, TXQ, &id, &len), 1);
	fx_free(f);
}

static void test_no_fd_events_fallback(void **state)
{
	/* Without set_fd_events output still flows (the device would wait in poll()). */
	struct fx *f = fx_new(false, F_ALL);
	uint64_t a = vh_alloc(&f->h, 4096);
	uint8_t got[4096];
	uint32_t id, len;

	(void)state;
	fill(vh_ptr(&f->h, a, 4096), 4096, 3);
	send_tx(f, a, 4096);
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, TXQ, &id, &len), 1);
	assert_int_equal(read(f->out[0], got, sizeof(got)), 4096);
	assert_memory_equal(got, vh_ptr(&f->h, a, 4096), 4096);
	fx_free(f);
}

static void test_reset_with_output_pending(void **state)
{
	struct fx *f = fx_new(true, F_ALL);
	uint64_t a = vh_alloc(&f->h, 65536);
	char sink[65536];
	uint32_t id, len;

	(void)state;
	assert_true(fcntl(f->out[1], F_SETPIPE_SZ, 4096) >= 4096);
	send_tx(f, a, 65536);
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, TXQ, &id, &len), 0);
	vh_w32(&f->h, VIRTIO_MMIO_STATUS, 0);		/* reset with the chain half written */
	assert_true(read(f->out[0], sink, sizeof(sink)) > 0);	/* writable again */
	vh_run(&f->h);
	assert_null(vh_find_fd(&f->h, f->out[1]));
	/* Set up again: works. */
	assert_int_equal(vh_setup(&f->h, F_ALL, 2, 256), S_UP);
	memcpy(vh_ptr(&f->h, a, 2), "ok", 2);
	send_tx(f, a, 2);
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, TXQ, &id, &len), 1);
	fx_free(f);
}

/* ---- named mode (VIRTIO_CONSOLE_F_MULTIPORT, one generic port) ---- */

#define CTRL_RXQ	2
#define CTRL_TXQ	3

static void send_ctrl(struct vh *h, uint64_t gpa, uint32_t id, uint16_t event, uint16_t value)
{
	struct virtio_console_control m = {
		.id = htole32(id), .event = htole16(event), .value = htole16(value),
	};
	struct vh_buf b = { gpa, sizeof(m), false };

	memcpy(vh_ptr(h, gpa, sizeof(m)), &m, sizeof(m));
	vh_avail(h, CTRL_TXQ, vh_chain(h, CTRL_TXQ, 1, &b));
	vh_run(h);
}

/* The next control message from the device; its buffers are 4 KiB each at `bufs`. */
static int recv_ctrl(struct vh *h, uint64_t bufs, uint32_t *id, uint16_t *event, uint16_t *value,
		     char *name, size_t namecap)
{
	struct virtio_console_control m;
	uint32_t head, len;

	if (!vh_used(h, CTRL_RXQ, &head, &len))
		return 0;
	assert_true(len >= sizeof(m));
	memcpy(&m, vh_ptr(h, bufs + 4096ULL * head, sizeof(m)), sizeof(m));
	*id = le32toh(m.id);
	*event = le16toh(m.event);
	*value = le16toh(m.value);
	if (name) {
		size_t n = len - sizeof(m) < namecap - 1 ? len - sizeof(m) : namecap - 1;

		memcpy(name, vh_ptr(h, bufs + 4096ULL * head + sizeof(m), n), n);
		name[n] = 0;
	}
	return 1;
}

static void test_named_port(void **state)
{
	struct vh h;
	int in[2], out[2];
	uint64_t ctrl_bufs, msg, rx, tx;
	uint32_t id, len;
	uint16_t event, value;
	char name[80];
	unsigned i;
	struct vh_buf b;

	(void)state;
	vh_init(&h, MEM, MEM);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(virtio_console_create_port(&h.dev, &h.env, in[0], out[1], "sbx.channel"), 0);
	assert_true(vh_device_features(&h) & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT));
	assert_true(vh_read(&h, VIRTIO_MMIO_CONFIG + 4, 4) == 1);	/* max_nr_ports */
	assert_int_equal(vh_setup(&h, F_ALL | (1ULL << VIRTIO_CONSOLE_F_MULTIPORT), 4, 64), S_UP);
	ctrl_bufs = vh_alloc(&h, 8 * 4096);
	for (i = 0; i < 8; i++) {
		b = (struct vh_buf){ ctrl_bufs + 4096ULL * i, 4096, true };
		vh_avail(&h, CTRL_RXQ, vh_chain(&h, CTRL_RXQ, 1, &b));
	}
	msg = vh_alloc(&h, 64);
	rx = vh_alloc(&h, 4096);
	tx = vh_alloc(&h, 64);
	b = (struct vh_buf){ rx, 4096, true };
	vh_avail(&h, RXQ, vh_chain(&h, RXQ, 1, &b));
	vh_run(&h);
	assert_int_equal(recv_ctrl(&h, ctrl_bufs, &id, &event, &value, NULL, 0), 0);

	/* The handshake. */
	send_ctrl(&h, msg, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	assert_int_equal(recv_ctrl(&h, ctrl_bufs, &id, &event, &value, NULL, 0), 1);
	assert_int_equal(event, VIRTIO_CONSOLE_PORT_ADD);
	assert_int_equal(id, 0);
	send_ctrl(&h, msg, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);	/* again: no second PORT_ADD */
	assert_int_equal(recv_ctrl(&h, ctrl_bufs, &id, &event, &value, NULL, 0), 0);
	send_ctrl(&h, msg, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	assert_int_equal(recv_ctrl(&h, ctrl_bufs, &id, &event, &value, name, sizeof(name)), 1);
	assert_int_equal(event, VIRTIO_CONSOLE_PORT_NAME);
	assert_string_equal(name, "sbx.channel");
	assert_int_equal(recv_ctrl(&h, ctrl_bufs, &id, &event, &value, NULL, 0), 1);
	assert_int_equal(event, VIRTIO_CONSOLE_PORT_OPEN);
	assert_int_equal(value, 1);

	/* Input waits until a guest process opens the port (the driver would drop it). */
	assert_int_equal(write(in[1], "early", 5), 5);
	vh_run(&h);
	assert_int_equal(vh_used(&h, RXQ, &id, &len), 0);
	send_ctrl(&h, msg, 0, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_int_equal(vh_used(&h, RXQ, &id, &len), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(vh_ptr(&h, rx, 5), "early", 5);

	/* Output. */
	memcpy(vh_ptr(&h, tx, 4), "back", 4);
	b = (struct vh_buf){ tx, 4, false };
	vh_avail(&h, TXQ, vh_chain(&h, TXQ, 1, &b));
	vh_run(&h);
	assert_int_equal(vh_used(&h, TXQ, &id, &len), 1);
	memset(name, 0, sizeof(name));
	assert_int_equal(read(out[0], name, sizeof(name)), 4);
	assert_string_equal(name, "back");

	/* Closed again: input stays in the pipe. */
	send_ctrl(&h, msg, 0, VIRTIO_CONSOLE_PORT_OPEN, 0);
	b = (struct vh_buf){ rx, 4096, true };
	vh_avail(&h, RXQ, vh_chain(&h, RXQ, 1, &b));
	assert_int_equal(write(in[1], "late", 4), 4);
	vh_run(&h);
	assert_int_equal(vh_used(&h, RXQ, &id, &len), 0);

	/* A driver that floods the control queue without giving buffers: bounded, no crash. */
	vh_setup(&h, F_ALL | (1ULL << VIRTIO_CONSOLE_F_MULTIPORT), 4, 64);
	for (i = 0; i < 40; i++)
		send_ctrl(&h, msg, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	assert_false(vh_r32(&h, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);

	vh_fini(&h);
	for (i = 0; i < 2; i++) {
		close(in[i]);
		close(out[i]);
	}
}

static void test_named_port_bad_names(void **state)
{
	struct vh h;
	char longname[80];

	(void)state;
	vh_init(&h, MEM, MEM);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(virtio_console_create_port(&h.dev, &h.env, -1, -1, ""), SBX_EINVAL);
	assert_int_equal(virtio_console_create_port(&h.dev, &h.env, -1, -1, "a/b"), SBX_EINVAL);
	assert_int_equal(virtio_console_create_port(&h.dev, &h.env, -1, -1, longname), SBX_EINVAL);
	assert_null(h.dev);
	vh_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_to_guest_event_idx),
		cmocka_unit_test(test_host_to_guest_plain),
		cmocka_unit_test(test_no_rx_buffers_no_busy_loop),
		cmocka_unit_test(test_guest_to_host),
		cmocka_unit_test(test_guest_to_host_flow_control),
		cmocka_unit_test(test_socket_both_ways),
		cmocka_unit_test(test_eof_and_dead_reader),
		cmocka_unit_test(test_no_fd_events_fallback),
		cmocka_unit_test(test_reset_with_output_pending),
		cmocka_unit_test(test_named_port),
		cmocka_unit_test(test_named_port_bad_names),
	};

	/* SIGPIPE keeps its default action: the device must not die of a closed pipe. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The 8250 UART without KVM: what Linux's 8250 driver probes (scratch
 * register, IER, FIFO bits in IIR, loopback modem status), the THRE
 * interrupt, and line-buffered output to the log fd.
 */
#include "vmm/platform.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static unsigned irqs, last_gsi;

static void fake_irq(void *vm, unsigned gsi)
{
	irqs++;
	last_gsi = gsi;
}

struct uart {
	struct pio_device *dev;
	struct vm_dev_env env;
	int pipe[2];
};

static int setup(void **state)
{
	static struct uart u;

	memset(&u, 0, sizeof(u));
	u.env.gsi = 4;
	u.env.irq = fake_irq;
	if (pipe(u.pipe) || fcntl(u.pipe[0], F_SETFL, O_NONBLOCK))
		return -1;
	if (serial_create(&u.dev, &u.env, u.pipe[1]))
		return -1;
	irqs = 0;
	*state = &u;
	return 0;
}

static int teardown(void **state)
{
	struct uart *u = *state;

	u->dev->stop(u->dev->opaque);
	close(u->pipe[0]);
	close(u->pipe[1]);
	return 0;
}

static uint8_t in(struct uart *u, uint16_t off)
{
	uint8_t v = 0;

	u->dev->read(u->dev->opaque, off, &v, 1);
	return v;
}

static void out(struct uart *u, uint16_t off, uint8_t v)
{
	u->dev->write(u->dev->opaque, off, &v, 1);
}

static void test_probe_registers(void **state)
{
	struct uart *u = *state;

	assert_int_equal(u->dev->base, 0x3f8);
	assert_int_equal(u->dev->size, 8);
	out(u, 7, 0xa5);			/* scratch */
	assert_int_equal(in(u, 7), 0xa5);
	out(u, 1, 0x0f);			/* IER keeps its low four bits */
	assert_int_equal(in(u, 1), 0x0f);
	out(u, 1, 0);
	out(u, 2, 0x01);			/* FIFO on: IIR reads 0xc_ */
	assert_int_equal(in(u, 2) & 0xc0, 0xc0);
	out(u, 4, 0x1a);			/* loopback with RTS and OUT2: CTS and DCD */
	assert_int_equal(in(u, 6) & 0xf0, 0x90);
	out(u, 4, 0x1f);
	assert_int_equal(in(u, 6) & 0xf0, 0xf0);
	out(u, 4, 0x0b);
	assert_int_equal(in(u, 5) & 0x60, 0x60);	/* LSR: transmitter empty */
	out(u, 3, 0x83);			/* DLAB: divisor latch, not THR/IER */
	out(u, 0, 0x01);
	out(u, 1, 0x00);
	assert_int_equal(in(u, 0), 0x01);
	out(u, 3, 0x03);
}

static void test_thre_interrupt(void **state)
{
	struct uart *u = *state;

	out(u, 1, 0x02);			/* enable THRI: the empty transmitter interrupts */
	assert_int_equal(irqs, 1);
	assert_int_equal(last_gsi, 4);
	assert_int_equal(in(u, 2) & 0x0f, 0x02);	/* IIR: THRE */
	assert_int_equal(in(u, 2) & 0x0f, 0x01);	/* reading it cleared it */
	out(u, 0, 'x');				/* each byte sent interrupts again */
	assert_int_equal(irqs, 2);
	out(u, 1, 0x00);
	out(u, 0, 'y');				/* not while THRI is off */
	assert_int_equal(irqs, 2);
	assert_int_equal(in(u, 2) & 0x0f, 0x01);
}

static void test_output_lines(void **state)
{
	struct uart *u = *state;
	char buf[600];
	const char *s = "hello, guest\n";
	ssize_t n;
	int i;

	for (i = 0; s[i]; i++)
		out(u, 0, (uint8_t)s[i]);
	n = read(u->pipe[0], buf, sizeof(buf));
	assert_int_equal(n, strlen(s));
	assert_memory_equal(buf, s, n);
	out(u, 4, 0x10);			/* loopback: nothing goes out */
	out(u, 0, 'z');
	out(u, 4, 0x00);
	for (i = 0; i < 300; i++)		/* a long line is flushed in pieces */
		out(u, 0, 'a');
	n = read(u->pipe[0], buf, sizeof(buf));
	assert_true(n >= 256 && n < 300);
	for (i = 0; i < n; i++)
		assert_int_equal(buf[i], 'a');
	u->dev->stop(u->dev->opaque);		/* stop flushes the rest */
	n = read(u->pipe[0], buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(n + 256, 300);
	serial_create(&u->dev, &u->env, u->pipe[1]);	/* for teardown */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_lines, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

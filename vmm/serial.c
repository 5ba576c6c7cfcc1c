// SPDX-License-Identifier: MIT
/*
 * An 8250/16550A UART, output only (see vmm/platform.h).  Enough of the
 * register file that Linux's 8250 driver detects a 16550A (scratch, IER,
 * FIFO bits in IIR, loopback MSR) and a THRE interrupt on the GSI so the
 * tty layer's writes flow; the output is line-buffered to `out_fd`.
 */
#include "vmm/platform.h"
#include "snapshot/vmstate.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UART_RX		0	/* RBR/THR, DLL with DLAB */
#define UART_IER	1	/* DLM with DLAB */
#define UART_IIR	2	/* FCR on write */
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7

#define LCR_DLAB	0x80
#define IER_THRI	0x02
#define IIR_NO_INT	0x01
#define IIR_THRI	0x02
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define MCR_LOOP	0x10
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

struct serial {
	struct pio_device dev;
	const struct vm_dev_env *env;
	int fd;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	int thri_pending;
	char line[256];
	size_t nline;
};

static void flush_line(struct serial *s)
{
	size_t off = 0;

	while (s->fd >= 0 && off < s->nline) {
		ssize_t n = write(s->fd, s->line + off, s->nline - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* a full disk or closed pipe loses the log, not the VM */
		off += (size_t)n;
	}
	s->nline = 0;
}

static void update_irq(struct serial *s)
{
	if (s->thri_pending && (s->ier & IER_THRI))
		s->env->irq(s->env->vm, s->env->gsi);
}

static void serial_read(void *opaque, uint16_t off, uint8_t *data, unsigned len)
{
	struct serial *s = opaque;
	uint8_t v = 0;

	switch (off) {
	case UART_RX:
		v = (s->lcr & LCR_DLAB) ? s->dll : 0;
		break;
	case UART_IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case UART_IIR:
		v = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
		if (s->thri_pending && (s->ier & IER_THRI)) {
			v |= IIR_THRI;
			s->thri_pending = 0;	/* reading IIR clears a THRE interrupt */
		} else {
			v |= IIR_NO_INT;
		}
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT;	/* always ready to send, nothing received */
		break;
	case UART_MSR:
		if (s->mcr & MCR_LOOP)		/* loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			v = (uint8_t)(((s->mcr & 1) ? MSR_DSR : 0) | ((s->mcr & 2) ? MSR_CTS : 0) |
				      ((s->mcr & 4) ? MSR_RI : 0) | ((s->mcr & 8) ? MSR_DCD : 0));
		else
			v = MSR_DCD | MSR_DSR | MSR_CTS;
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	memset(data, 0, len);
	data[0] = v;
}

static void serial_write(void *opaque, uint16_t off, const uint8_t *data, unsigned len)
{
	struct serial *s = opaque;
	uint8_t v = data[0];

	switch (off) {
	case UART_RX:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (!(s->mcr & MCR_LOOP)) {
			s->line[s->nline++] = (char)v;
			if (v == '\n' || s->nline == sizeof(s->line))
				flush_line(s);
		}
		s->thri_pending = 1;
		update_irq(s);
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI with an empty transmitter raises it at once. */
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thri_pending = 1;
		s->ier = v & 0x0f;
		update_irq(s);
		break;
	case UART_IIR:
		s->fcr = v & 0xc9;
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & 0x1f;
		break;
	case UART_SCR:
		s->scr = v;
		break;
	}
}

/* Snapshots: the registers; a partial line goes to the log first. */
static int serial_save(void *opaque, struct vs_buf *b)
{
	struct serial *s = opaque;

	flush_line(s);
	vs_put_u8(b, s->ier);
	vs_put_u8(b, s->lcr);
	vs_put_u8(b, s->mcr);
	vs_put_u8(b, s->scr);
	vs_put_u8(b, s->dll);
	vs_put_u8(b, s->dlm);
	vs_put_u8(b, s->fcr);
	vs_put_u8(b, (uint8_t)s->thri_pending);
	return 0;
}

static int serial_restore(void *opaque, struct vs_cur *c)
{
	struct serial *s = opaque;

	s->ier = vs_u8(c) & 0x0f;
	s->lcr = vs_u8(c);
	s->mcr = vs_u8(c) & 0x1f;
	s->scr = vs_u8(c);
	s->dll = vs_u8(c);
	s->dlm = vs_u8(c);
	s->fcr = vs_u8(c) & 0xc9;
	s->thri_pending = vs_u8(c) != 0;
	return c->bad ? SBX_ECORRUPT : 0;
}

static void serial_stop(void *opaque)
{
	struct serial *s = opaque;

	flush_line(s);
	free(s);
}

int serial_create(struct pio_device **out, const struct vm_dev_env *env, int out_fd)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	s->env = env;
	s->fd = out_fd;
	s->dev.name = "serial";
	s->dev.base = VM_SERIAL_PORT;
	s->dev.size = 8;
	s->dev.opaque = s;
	s->dev.read = serial_read;
	s->dev.write = serial_write;
	s->dev.stop = serial_stop;
	s->dev.save = serial_save;
	s->dev.restore = serial_restore;
	*out = &s->dev;
	return 0;
}

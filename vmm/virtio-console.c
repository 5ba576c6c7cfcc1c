// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio 1.2 section 5.3) with one port and no optional
 * features: the guest's /dev/hvc0, a byte stream between the host's
 * `in_fd` / `out_fd` and queues 0 (receiveq, host->guest) and 1
 * (transmitq, guest->host).
 *
 * Flow control without busy loops and without buffering in the VMM:
 *   host->guest  in_fd is watched only while the guest has receive buffers
 *                (readv() goes straight into them); with none left we stop
 *                watching until the driver kicks the receive queue.
 *   guest->host  a transmit chain is written straight from guest memory;
 *                if out_fd is full, the chain stays taken (at most one) and
 *                we watch out_fd for writability (set_fd_events); the guest
 *                gets the chain back when all of it is written, so a slow
 *                reader fills the transmit queue and the guest waits.
 * EOF on in_fd stops input.  A write error on out_fd (the reader went away)
 * discards further output, so the guest never blocks on a dead host.
 */
#include "vmm/virtio.h"
#include "vmm/virtio-mmio.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define CON_QUEUE_SIZE	256
#define CON_CHAIN_MAX	64
#define CON_BATCH	64	/* chains per callback before yielding to other devices */
#define RXQ		0
#define TXQ		1

struct watch {
	int fd;
	bool added;
	unsigned events;
};

struct virtio_console {
	struct virtio_mmio *t;
	int in_fd, out_fd;
	bool in_open, out_open, out_is_sock;
	bool rx_wanted;		/* the guest has (or may have) receive buffers */
	bool tx_pending;	/* `tx` is taken and partly written */
	uint64_t tx_done;	/* bytes of `tx` written so far */
	struct virtq_chain tx;
	struct watch w_in, w_out;	/* w_out unused when in_fd == out_fd */
	struct iovec rx_iov[CON_CHAIN_MAX], tx_iov[CON_CHAIN_MAX], tmp[CON_CHAIN_MAX];
};

static void con_ready(void *opaque);

static void set_watch(struct virtio_console *con, struct watch *w, unsigned events)
{
	const struct vm_dev_env *env = virtio_mmio_env(con->t);

	if (w->fd < 0)
		return;
	if (!events) {
		if (w->added)
			env->del_fd(env->vm, w->fd);
		w->added = false;
		w->events = 0;
		return;
	}
	if (!w->added) {
		if (env->add_fd(env->vm, w->fd, con_ready, con)) {
			pr_warn("virtio-console: cannot watch fd %d: %s", w->fd, sbx_error());
			return;
		}
		w->added = true;
		w->events = VM_FD_READABLE;
	}
	if (w->events != events && env->set_fd_events &&
	    env->set_fd_events(env->vm, w->fd, events) == 0)
		w->events = events;
}

/* Watch exactly what we wait for: input while the guest has room, output while blocked. */
static void update_watches(struct virtio_console *con)
{
	bool live = virtio_mmio_queue(con->t, RXQ) || virtio_mmio_queue(con->t, TXQ);
	unsigned in = live && con->in_open && con->rx_wanted ? VM_FD_READABLE : 0;
	unsigned out = live && con->tx_pending && con->out_open ? VM_FD_WRITABLE : 0;

	if (con->in_fd >= 0 && con->in_fd == con->out_fd) {
		set_watch(con, &con->w_in, in | out);
		return;
	}
	set_watch(con, &con->w_in, in);
	set_watch(con, &con->w_out, out);
}

static void rx_run(struct virtio_console *con)
{
	struct virtq *vq = virtio_mmio_queue(con->t, RXQ);
	struct virtq_chain c = { .cap = CON_CHAIN_MAX, .iov = con->rx_iov };
	unsigned i;

	con->rx_wanted = false;
	if (!vq || !con->in_open)
		return;
	for (i = 0; i < CON_BATCH; i++) {
		ssize_t n;
		int got = virtq_pop(vq, &c);

		if (got < 0) {
			virtio_mmio_broken(con->t);
			break;
		}
		if (got == 0)
			break;		/* no receive buffers: wait for a kick */
		if (!c.nin) {
			virtq_push(vq, c.head, 0);
			continue;
		}
		n = readv(con->in_fd, c.iov + c.nout, (int)c.nin);
		if (n > 0) {
			virtq_push(vq, c.head, (uint32_t)n);
			continue;
		}
		virtq_unpop(vq);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			con->rx_wanted = true;
		} else {
			if (n < 0)
				pr_warn("virtio-console: reading input: %s", strerror(errno));
			con->in_open = false;	/* EOF or error: no more input */
		}
		break;
	}
	if (i == CON_BATCH)
		con->rx_wanted = true;	/* more may be waiting; the fd stays watched */
	virtio_mmio_used(con->t, RXQ);
}

/* Write what is left of the taken transmit chain; false if out_fd is full. */
static bool tx_write(struct virtio_console *con)
{
	while (con->tx_done < con->tx.out_bytes && con->out_open) {
		int n = vq_iov_slice(con->tmp, CON_CHAIN_MAX, con->tx.iov, con->tx.nout, con->tx_done,
				  con->tx.out_bytes - con->tx_done);
		ssize_t w;

		if (n <= 0)
			break;
		if (con->out_is_sock) {
			struct msghdr msg = { .msg_iov = con->tmp, .msg_iovlen = (size_t)n };

			w = sendmsg(con->out_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			w = writev(con->out_fd, con->tmp, n);
		}
		if (w > 0) {
			con->tx_done += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = con->out_fd, .events = POLLOUT };

			if (virtio_mmio_env(con->t)->set_fd_events)
				return false;
			/* The machine cannot wake us on writability: wait here. */
			while (poll(&p, 1, -1) < 0 && errno == EINTR)
				;
			continue;
		}
		pr_warn("virtio-console: writing output: %s; discarding further output",
			w < 0 ? strerror(errno) : "nothing written");
		con->out_open = false;
	}
	return true;
}

static void tx_run(struct virtio_console *con)
{
	struct virtq *vq = virtio_mmio_queue(con->t, TXQ);
	unsigned i;

	if (!vq)
		return;
	for (i = 0; i < CON_BATCH; i++) {
		if (!con->tx_pending) {
			int got;

			con->tx = (struct virtq_chain){ .cap = CON_CHAIN_MAX, .iov = con->tx_iov };
			got = virtq_pop(vq, &con->tx);
			if (got < 0)
				virtio_mmio_broken(con->t);
			if (got <= 0)
				break;
			con->tx_pending = true;
			con->tx_done = 0;
		}
		if (!tx_write(con))
			break;		/* out_fd is full: wait until it is writable */
		virtq_push(vq, con->tx.head, 0);
		con->tx_pending = false;
	}
	if (i == CON_BATCH)
		virtio_mmio_kick(con->t, TXQ);	/* more later, after other devices had a turn */
	virtio_mmio_used(con->t, TXQ);
}

static void con_notify(void *opaque, unsigned q)
{
	struct virtio_console *con = opaque;

	if (q == RXQ)
		rx_run(con);
	else if (q == TXQ)
		tx_run(con);
	update_watches(con);
}

/* in_fd readable or out_fd writable (or either hung up): try both directions. */
static void con_ready(void *opaque)
{
	struct virtio_console *con = opaque;

	virtio_mmio_lock(con->t);
	if (con->tx_pending)
		tx_run(con);
	if (con->rx_wanted)
		rx_run(con);
	update_watches(con);
	virtio_mmio_unlock(con->t);
}

static void con_queue_stop(void *opaque, unsigned q)
{
	struct virtio_console *con = opaque;

	/* The watches are dropped by the next callback, which finds the queues gone. */
	if (q == TXQ)
		con->tx_pending = false;
	else if (q == RXQ)
		con->rx_wanted = false;
}

static void con_free(void *opaque)
{
	struct virtio_console *con = opaque;

	con->rx_wanted = con->tx_pending = false;
	set_watch(con, &con->w_in, 0);
	set_watch(con, &con->w_out, 0);
	free(con);
}

static const struct virtio_mmio_ops con_ops = {
	.queue_notify = con_notify,
	.queue_stop = con_queue_stop,
	.free = con_free,
};

static int nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return sbx_error_errno(SBX_EIO, "virtio-console: fd %d", fd);
	return 0;
}

int virtio_console_create(struct mmio_device **out, const struct vm_dev_env *env, int in_fd,
			  int out_fd)
{
	struct virtio_console *con;
	uint8_t cfg[sizeof(struct virtio_console_config)] = { 0 };
	struct virtio_mmio_info info = {
		.name = "virtio-console",
		.device_id = VIRTIO_ID_CONSOLE,
		.num_queues = 2,
		.queue_max = CON_QUEUE_SIZE,
		.chain_max = CON_CHAIN_MAX,
		.config = cfg,
		.config_size = sizeof(cfg),
		.ops = &con_ops,
	};
	struct stat st;
	int err;

	*out = NULL;
	if ((in_fd >= 0 && (err = nonblock(in_fd))) || (out_fd >= 0 && (err = nonblock(out_fd))))
		return err;
	con = calloc(1, sizeof(*con));
	if (!con)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	con->in_fd = in_fd;
	con->out_fd = out_fd;
	con->in_open = in_fd >= 0;
	con->out_open = out_fd >= 0;
	con->out_is_sock = out_fd >= 0 && !fstat(out_fd, &st) && S_ISSOCK(st.st_mode);
	con->w_in.fd = in_fd >= 0 ? in_fd : -1;
	con->w_out.fd = out_fd >= 0 && out_fd != in_fd ? out_fd : -1;
	info.opaque = con;
	err = virtio_mmio_create(&con->t, out, env, &info);
	if (err)
		free(con);
	return err;
}

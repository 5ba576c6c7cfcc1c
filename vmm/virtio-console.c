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
 *
 * Named mode (virtio_console_create_port): VIRTIO_CONSOLE_F_MULTIPORT with
 * one generic port 0 that carries a name, queues 2 and 3 being the control
 * receiveq/transmitq.  The guest sees /dev/vport<N>p0 (its name in
 * /sys/class/virtio-ports/vport<N>p0/name) instead of hvc0: reads return
 * whole receive buffers, where hvc's tty polls 16 bytes at a time (about
 * 15 KB/s host->guest in the nested harness).  The handshake: the driver
 * sends DEVICE_READY, we answer PORT_ADD 0; it sends PORT_READY 0, we send
 * PORT_NAME and PORT_OPEN 1 (the host end is connected).  The guest driver
 * drops data that arrives while no guest process has the port open, so input
 * is read only between the driver's PORT_OPEN 1 and PORT_OPEN 0.  Control
 * messages to the driver wait in a small fixed queue until it gives us
 * control buffers; extra ones from a misbehaving driver are dropped.
 */
#include "vmm/virtio.h"
#include "vmm/virtio-mmio.h"
#include "snapshot/vmstate.h"
#include "util/error.h"
#include "util/log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CON_QUEUE_SIZE	256
#define CON_CHAIN_MAX	64
#define CON_BATCH	64	/* chains per callback before yielding to other devices */
#define RXQ		0
#define TXQ		1
#define CTRL_RXQ	2	/* device -> driver control messages */
#define CTRL_TXQ	3	/* driver -> device */
#define CTRL_PENDING	8
#define NAME_MAX_LEN	64

struct ctrl_msg {
	uint32_t id;
	uint16_t event, value;
	bool with_name;		/* PORT_NAME: the port's name follows */
};

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
	uint64_t tx_skip;	/* after a restore: bytes of the next chain the old host got */
	struct virtq_chain tx;
	struct watch w_in, w_out;	/* w_out unused when in_fd == out_fd */
	struct iovec rx_iov[CON_CHAIN_MAX], tx_iov[CON_CHAIN_MAX], tmp[CON_CHAIN_MAX];
	/* named mode */
	bool multiport;
	char name[NAME_MAX_LEN + 1];
	bool port_added, guest_open;
	struct ctrl_msg ctrl[CTRL_PENDING];
	unsigned nctrl;
	struct iovec ctrl_iov[CON_CHAIN_MAX];
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
	if (!vq || !con->in_open || (con->multiport && !con->guest_open))
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

/*
 * writev() without SIGPIPE: a pipe whose reader left must not kill the VMM.
 * SIGPIPE for a write is sent to the writing thread, so block it here and
 * take a pending one back before unblocking.
 */
static ssize_t writev_nosigpipe(int fd, const struct iovec *iov, int n)
{
	sigset_t pipe_set, old;
	struct timespec zero = { 0, 0 };
	ssize_t w;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	w = writev(fd, iov, n);
	saved = errno;
	if (w < 0 && errno == EPIPE && !sigismember(&old, SIGPIPE))
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return w;
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
			w = writev_nosigpipe(con->out_fd, con->tmp, n);
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
			con->tx_done = con->tx_skip;
			con->tx_skip = 0;
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

static void ctrl_queue(struct virtio_console *con, uint16_t event, uint16_t value, bool with_name)
{
	if (con->nctrl == CTRL_PENDING) {
		pr_debug("virtio-console: control message %u dropped", event);
		return;
	}
	con->ctrl[con->nctrl++] = (struct ctrl_msg){ 0, event, value, with_name };
}

/* Hand queued control messages to the driver, as far as it gave us buffers. */
static void ctrl_flush(struct virtio_console *con)
{
	struct virtq *vq = virtio_mmio_queue(con->t, CTRL_RXQ);
	struct virtq_chain c = { .cap = CON_CHAIN_MAX, .iov = con->ctrl_iov };
	unsigned done = 0;

	if (!vq)
		return;
	while (done < con->nctrl) {
		const struct ctrl_msg *m = &con->ctrl[done];
		struct virtio_console_control hdr = {
			.id = htole32(m->id), .event = htole16(m->event), .value = htole16(m->value),
		};
		size_t namelen = m->with_name ? strlen(con->name) : 0;
		uint32_t len;
		int got = virtq_pop(vq, &c);

		if (got < 0)
			virtio_mmio_broken(con->t);
		if (got <= 0)
			break;
		len = (uint32_t)vq_iov_from_buf(c.iov + c.nout, c.nin, 0, &hdr, sizeof(hdr));
		if (namelen)
			len += (uint32_t)vq_iov_from_buf(c.iov + c.nout, c.nin, sizeof(hdr), con->name,
							 namelen);
		virtq_push(vq, c.head, len);
		done++;
	}
	memmove(con->ctrl, con->ctrl + done, (con->nctrl - done) * sizeof(con->ctrl[0]));
	con->nctrl -= done;
	virtio_mmio_used(con->t, CTRL_RXQ);
}

/* Messages from the driver: the port handshake and the guest opening or closing it. */
static void ctrl_receive(struct virtio_console *con)
{
	struct virtq *vq = virtio_mmio_queue(con->t, CTRL_TXQ);
	struct virtq_chain c = { .cap = CON_CHAIN_MAX, .iov = con->ctrl_iov };
	unsigned i;
	int got = 0;

	if (!vq)
		return;
	for (i = 0; i < CON_BATCH && (got = virtq_pop(vq, &c)) > 0; i++) {
		struct virtio_console_control m;
		uint32_t id;
		uint16_t event, value;

		if (vq_iov_to_buf(c.iov, c.nout, 0, &m, sizeof(m)) != sizeof(m)) {
			virtq_push(vq, c.head, 0);
			continue;	/* too short: ignored */
		}
		virtq_push(vq, c.head, 0);
		id = le32toh(m.id);
		event = le16toh(m.event);
		value = le16toh(m.value);
		if (event == VIRTIO_CONSOLE_DEVICE_READY && value == 1 && !con->port_added) {
			con->port_added = true;
			ctrl_queue(con, VIRTIO_CONSOLE_PORT_ADD, 0, false);
		} else if (event == VIRTIO_CONSOLE_PORT_READY && id == 0 && value == 1) {
			ctrl_queue(con, VIRTIO_CONSOLE_PORT_NAME, 0, true);
			ctrl_queue(con, VIRTIO_CONSOLE_PORT_OPEN, 1, false);
		} else if (event == VIRTIO_CONSOLE_PORT_OPEN && id == 0) {
			con->guest_open = value == 1;
			if (con->guest_open)
				virtio_mmio_kick(con->t, RXQ);	/* input may flow now */
		}
	}
	if (got < 0)
		virtio_mmio_broken(con->t);
	if (i == CON_BATCH)
		virtio_mmio_kick(con->t, CTRL_TXQ);
	virtio_mmio_used(con->t, CTRL_TXQ);
	ctrl_flush(con);
}

static void con_notify(void *opaque, unsigned q)
{
	struct virtio_console *con = opaque;

	if (q == RXQ)
		rx_run(con);
	else if (q == TXQ)
		tx_run(con);
	else if (q == CTRL_RXQ)
		ctrl_flush(con);
	else if (q == CTRL_TXQ)
		ctrl_receive(con);
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
	if (q == TXQ) {
		con->tx_pending = false;
	} else if (q == RXQ) {
		con->rx_wanted = false;
	} else if (q == CTRL_RXQ || q == CTRL_TXQ) {
		/* The handshake starts again after a reset. */
		con->port_added = con->guest_open = false;
		con->nctrl = 0;
	}
}

static void con_free(void *opaque)
{
	struct virtio_console *con = opaque;

	con->rx_wanted = con->tx_pending = false;
	set_watch(con, &con->w_in, 0);
	set_watch(con, &con->w_out, 0);
	free(con);
}

/*
 * Snapshots.  A chain taken from the transmit queue and partly written
 * is given back to the queue in the snapshot (its last_avail one lower)
 * with the count of bytes the old host end already got: after a restore
 * the next host end receives the stream from exactly where the old one
 * stopped.  Input is read straight into the guest's buffers, so nothing
 * read from the old host end is held here.
 */
static int con_save(void *opaque, struct vs_buf *b)
{
	struct virtio_console *con = opaque;
	unsigned i;

	vs_put_u8(b, con->multiport);
	vs_put_u8(b, con->tx_pending);
	vs_put_u64(b, con->tx_pending ? con->tx_done : 0);
	vs_put_u8(b, con->port_added);
	vs_put_u8(b, con->guest_open);
	vs_put_u32(b, con->nctrl);
	for (i = 0; i < con->nctrl; i++) {
		vs_put_u32(b, con->ctrl[i].id);
		vs_put_u16(b, con->ctrl[i].event);
		vs_put_u16(b, con->ctrl[i].value);
		vs_put_u8(b, con->ctrl[i].with_name);
	}
	return 0;
}

static int con_restore(void *opaque, struct vs_cur *c)
{
	struct virtio_console *con = opaque;
	uint8_t multiport, tx_pending;
	uint64_t tx_done;
	uint32_t n, i;

	multiport = vs_u8(c);
	tx_pending = vs_u8(c);
	tx_done = vs_u64(c);
	con->port_added = vs_u8(c) != 0;
	con->guest_open = vs_u8(c) != 0;
	n = vs_u32(c);
	if (c->bad)
		return SBX_ECORRUPT;
	if (multiport != con->multiport)
		return sbx_error_set(SBX_ECORRUPT, "the snapshot's console %s a named port",
				     multiport ? "is" : "is not");
	if (n > CTRL_PENDING)
		return sbx_error_set(SBX_ECORRUPT, "%u pending control messages (at most %d)", n,
				     CTRL_PENDING);
	for (i = 0; i < n; i++) {
		con->ctrl[i].id = vs_u32(c);
		con->ctrl[i].event = vs_u16(c);
		con->ctrl[i].value = vs_u16(c);
		con->ctrl[i].with_name = vs_u8(c) != 0;
	}
	con->nctrl = n;
	con->tx_pending = false;
	con->tx_skip = 0;
	if (tx_pending) {
		struct virtq *vq = virtio_mmio_queue(con->t, TXQ);

		if (!vq)
			return sbx_error_set(SBX_ECORRUPT, "output was under way on a queue that is "
					     "not live");
		vq->last_avail--;
		con->tx_skip = tx_done;
	}
	con->rx_wanted = true;
	return c->bad ? SBX_ECORRUPT : 0;
}

static const struct virtio_mmio_ops con_ops = {
	.queue_notify = con_notify,
	.queue_stop = con_queue_stop,
	.free = con_free,
	.save = con_save,
	.restore = con_restore,
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
	return virtio_console_create_port(out, env, in_fd, out_fd, NULL);
}

int virtio_console_create_port(struct mmio_device **out, const struct vm_dev_env *env, int in_fd,
			       int out_fd, const char *name)
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
	if (name && (!*name || strlen(name) > NAME_MAX_LEN || strchr(name, '/')))
		return sbx_error_set(SBX_EINVAL, "virtio-console: port name '%s' is empty, longer "
				     "than %d bytes or has a '/'", name, NAME_MAX_LEN);
	if ((in_fd >= 0 && (err = nonblock(in_fd))) || (out_fd >= 0 && (err = nonblock(out_fd))))
		return err;
	con = calloc(1, sizeof(*con));
	if (!con)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (name) {
		uint32_t one = htole32(1);

		con->multiport = true;
		snprintf(con->name, sizeof(con->name), "%s", name);
		info.features = 1ULL << VIRTIO_CONSOLE_F_MULTIPORT;
		info.num_queues = 4;
		memcpy(cfg + offsetof(struct virtio_console_config, max_nr_ports), &one, 4);
	}
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

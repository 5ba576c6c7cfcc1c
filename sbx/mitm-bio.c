// SPDX-License-Identifier: MIT
#include "sbx/mitm-int.h"

#include <errno.h>
#include <openssl/bio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a BIO over a non-blocking fd that first yields `prefix` (the peeked ClientHello) ---- */

struct fdbio {
	int fd;
	const uint8_t *pre;
	size_t npre;
};

static BIO_METHOD *fdbio_method;
static pthread_once_t fdbio_once = PTHREAD_ONCE_INIT;

static int fdbio_read(BIO *b, char *buf, size_t len, size_t *done)
{
	struct fdbio *f = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	*done = 0;
	if (f->npre) {
		size_t n = len < f->npre ? len : f->npre;

		memcpy(buf, f->pre, n);
		f->pre += n;
		f->npre -= n;
		*done = n;
		return 1;
	}
	do
		r = read(f->fd, buf, len);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		*done = (size_t)r;
		return 1;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return 0;
}

static int fdbio_write(BIO *b, const char *buf, size_t len, size_t *done)
{
	struct fdbio *f = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	*done = 0;
	do
		r = send(f->fd, buf, len, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r >= 0) {
		*done = (size_t)r;
		return 1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		BIO_set_retry_write(b);
	return 0;
}

static long fdbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int fdbio_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

static void fdbio_init_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sbx-fd");

	if (m && (!BIO_meth_set_read_ex(m, fdbio_read) || !BIO_meth_set_write_ex(m, fdbio_write) ||
		  !BIO_meth_set_ctrl(m, fdbio_ctrl) || !BIO_meth_set_destroy(m, fdbio_destroy))) {
		BIO_meth_free(m);
		m = NULL;
	}
	fdbio_method = m;
}

BIO *sbx_fdbio_new(int fd, const uint8_t *pre, size_t npre)
{
	struct fdbio *f;
	BIO *b;

	pthread_once(&fdbio_once, fdbio_init_method);
	if (!fdbio_method || !(f = calloc(1, sizeof(*f))))
		return NULL;
	f->fd = fd;
	f->pre = pre;
	f->npre = npre;
	b = BIO_new(fdbio_method);
	if (!b) {
		free(f);
		return NULL;
	}
	BIO_set_data(b, f);
	BIO_set_init(b, 1);
	return b;
}

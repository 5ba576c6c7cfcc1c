// SPDX-License-Identifier: MIT
/* SHA-256 by OpenSSL (EVP); what is ours is the sparse-file identity below. */
#include "util/sha256.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

int sha256_init(struct sha256 *c)
{
	c->failed = false;
	c->ctx = EVP_MD_CTX_new();
	if (!c->ctx)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (EVP_DigestInit_ex(c->ctx, EVP_sha256(), NULL) != 1) {
		sha256_clear(c);
		return sbx_error_set(SBX_ERROR, "OpenSSL has no SHA-256");
	}
	return 0;
}

void sha256_update(struct sha256 *c, const void *data, size_t len)
{
	if (c->ctx && !c->failed && EVP_DigestUpdate(c->ctx, data, len) != 1)
		c->failed = true;
}

int sha256_final(struct sha256 *c, uint8_t out[32])
{
	unsigned int n = 0;
	int ok = c->ctx && !c->failed && EVP_DigestFinal_ex(c->ctx, out, &n) == 1 && n == 32;

	sha256_clear(c);
	return ok ? 0 : sbx_error_set(SBX_ERROR, "SHA-256 failed");
}

void sha256_clear(struct sha256 *c)
{
	EVP_MD_CTX_free(c->ctx);
	c->ctx = NULL;
}

void sha256_hex(const uint8_t d[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

int sha256_file(const char *path, uint8_t out[32])
{
	static _Thread_local uint8_t buf[1 << 16];
	struct sha256 c;
	ssize_t n;
	int err, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot open '%s'", path);
	if ((err = sha256_init(&c))) {
		close(fd);
		return err;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sbx_error_errno(SBX_EIO, "cannot read '%s'", path);
			close(fd);
			sha256_clear(&c);
			return err;
		}
		sha256_update(&c, buf, (size_t)n);
	}
	close(fd);
	return sha256_final(&c, out);
}

int sha256_file_sparse(const char *path, uint8_t out[32])
{
	static _Thread_local uint8_t buf[1 << 16];
	struct sha256 c;
	off_t data = 0, hole, end;
	int err, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot open '%s'", path);
	end = lseek(fd, 0, SEEK_END);
	if ((err = sha256_init(&c))) {
		close(fd);
		return err;
	}
	while (end > 0 && (data = lseek(fd, data, SEEK_DATA)) >= 0) {
		uint8_t hdr[16];
		int i;

		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = end;
		for (i = 0; i < 8; i++) {
			hdr[i] = (uint8_t)((uint64_t)data >> (8 * i));
			hdr[8 + i] = (uint8_t)((uint64_t)(hole - data) >> (8 * i));
		}
		sha256_update(&c, hdr, sizeof(hdr));
		while (data < hole) {
			size_t want = (size_t)(hole - data) < sizeof(buf) ? (size_t)(hole - data) : sizeof(buf);
			ssize_t n = pread(fd, buf, want, data);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				err = sbx_error_errno(SBX_EIO, "cannot read '%s'", path);
				close(fd);
				sha256_clear(&c);
				return err;
			}
			sha256_update(&c, buf, (size_t)n);
			data += n;
		}
	}
	if (end < 0 || (data < 0 && errno != ENXIO)) {
		err = sbx_error_errno(SBX_EIO, "cannot scan '%s'", path);
		close(fd);
		sha256_clear(&c);
		return err;
	}
	close(fd);
	return sha256_final(&c, out);
}

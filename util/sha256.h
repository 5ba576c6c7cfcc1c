/* SPDX-License-Identifier: MIT */
/* SHA-256 (OpenSSL's), for content-addressed images. */
#ifndef SBX_UTIL_SHA256_H
#define SBX_UTIL_SHA256_H

#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sha256 {
	EVP_MD_CTX *ctx;
	bool failed;
};

/* 0, or SBX_ENOMEM; then every path ends in sha256_final() or sha256_clear(). */
int sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
/* The digest, and the context freed; an error if any update failed. */
int sha256_final(struct sha256 *c, uint8_t out[32]);
/* Free the context without a digest (an error path); no-op when done. */
void sha256_clear(struct sha256 *c);
/* Lower-case hex of a digest: 65 bytes with the NUL. */
void sha256_hex(const uint8_t d[32], char out[65]);
/* Hash a whole file; 0 or SBX_EIO. */
int sha256_file(const char *path, uint8_t out[32]);

/*
 * Hash a possibly sparse file by its data extents only (SEEK_DATA/SEEK_HOLE):
 * for each extent its offset and length (8 bytes each, little-endian), then
 * its bytes.  Not the SHA-256 of the file's contents, but as good an
 * identity, and a 16 GiB empty filesystem image hashes in milliseconds.
 */
int sha256_file_sparse(const char *path, uint8_t out[32]);

#endif

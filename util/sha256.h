/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), for content-addressed images. */
#ifndef SBX_UTIL_SHA256_H
#define SBX_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, uint8_t out[32]);
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

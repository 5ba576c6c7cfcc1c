/* SPDX-License-Identifier: MIT */
/* Inside sbx/mitm.c: the relay's socket BIO (sbx/mitm-bio.c). */
#ifndef SBX_SBX_MITM_INT_H
#define SBX_SBX_MITM_INT_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A BIO over the non-blocking socket `fd` (not closed with the BIO) that
 * first yields prefix[0..npre) (the ClientHello the proxy peeked; it must
 * outlive the BIO), then reads the socket; writes use MSG_NOSIGNAL.
 */
BIO *sbx_fdbio_new(int fd, const uint8_t *pre, size_t npre);

#endif

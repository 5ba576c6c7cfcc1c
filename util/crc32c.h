/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli: reflected, polynomial 0x82F63B78, initial and final
 * value all ones), as used by iSCSI, ext4 and our snapshot state files.
 *
 *   crc32c(0, "123456789", 9) == 0xE3069283
 *   crc32c(crc32c(0, a, la), b, lb) == crc32c(0, a||b, la + lb)
 *
 * Uses the SSE4.2 crc32 instruction where the CPU has it (checked once at
 * run time), slicing-by-8 tables otherwise.  Thread-safe.
 */
#ifndef SBX_UTIL_CRC32C_H
#define SBX_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of buf, continuing from `crc` (0 to start). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The portable table version, whatever the CPU (for tests). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif

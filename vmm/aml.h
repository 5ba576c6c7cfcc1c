/* SPDX-License-Identifier: MIT */
/*
 * A small AML encoder (ACPI 6.x, section 20), just enough for our DSDT:
 * scopes, devices, named integers, strings, EISA IDs, packages,
 * resource-template buffers (Memory32Fixed, Interrupt, IO, EndTag), and the
 * few statements the VM generation ID and its event device need: methods,
 * If, LEqual, ArgN, Return and Notify.
 *
 * Objects with a PkgLength (Scope, Device, Package, Buffer) are opened with
 * *_begin and closed with aml_end(), which fills in the length.  Errors
 * (allocation, nesting too deep, bad names) are sticky: aml_finish()
 * reports the first one.
 *
 *   aml_scope_begin(a, "\\_SB_");
 *     aml_device_begin(a, "V000");
 *       aml_name_string(a, "_HID", "LNRO0005");
 *       aml_name_int(a, "_UID", 0);
 *       aml_name_begin(a, "_CRS"); aml_resources_begin(a);
 *         aml_memory32_fixed(a, true, 0xd0001000, 0x200);
 *         aml_interrupt(a, true, false, false, 5);
 *       aml_resources_end(a);
 *     aml_end(a);
 *   aml_end(a);
 *
 * Method(_EVT, 1) { If (LEqual(Arg0, 23)) { Notify(\_SB_.VGEN, 0x80) } }:
 *
 *   aml_method_begin(a, "_EVT", 1, false);
 *     aml_if_begin(a); aml_lequal(a); aml_arg(a, 0); aml_int(a, 23);
 *       aml_notify(a, "\\_SB_.VGEN", 0x80);
 *     aml_end(a);
 *   aml_end(a);
 */
#ifndef SBX_VMM_AML_H
#define SBX_VMM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16

struct aml {
	uint8_t *buf;
	size_t len, alloc;
	size_t open[AML_MAX_DEPTH];	/* where each open object's body starts */
	int kind[AML_MAX_DEPTH];
	int depth;
	int err;
};
#define AML_INIT { NULL, 0, 0, { 0 }, { 0 }, 0, 0 }

/* Return the bytes (owned by `a` until aml_release) or the first error. */
int aml_finish(struct aml *a, const uint8_t **bytes, size_t *len);
void aml_release(struct aml *a);

/* Encode a PkgLength for a body of `body` bytes into out[0..3]; returns its size (1..4) or 0. */
unsigned aml_pkglength(uint8_t out[4], size_t body);

void aml_scope_begin(struct aml *a, const char *name);
void aml_device_begin(struct aml *a, const char *name);
void aml_package_begin(struct aml *a);	/* elements follow; count filled in by aml_end */
void aml_end(struct aml *a);

/* Name(NAME, ...): NAME, then exactly one data object. */
void aml_name_begin(struct aml *a, const char *name);
void aml_name_int(struct aml *a, const char *name, uint64_t v);
void aml_name_string(struct aml *a, const char *name, const char *s);
/* A 7-character EISA ID such as "PNP0501", compressed to a DWord. */
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

void aml_int(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);

/* Method(NAME, nargs (0..7), Serialized or not): its statements follow; aml_end closes it. */
void aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized);
/* If (predicate) { ... }: the predicate, then the statements; aml_end closes it. */
void aml_if_begin(struct aml *a);
/* LEqual(x, y): the two operands follow. */
void aml_lequal(struct aml *a);
/* Arg0..Arg6. */
void aml_arg(struct aml *a, unsigned n);
/* Return(x): the value follows. */
void aml_return(struct aml *a);
/* Notify(path, value). */
void aml_notify(struct aml *a, const char *path, uint64_t value);

/* A resource template (a Buffer ending with an EndTag). */
void aml_resources_begin(struct aml *a);
void aml_resources_end(struct aml *a);
void aml_memory32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t len);
/* Extended Interrupt descriptor: ResourceConsumer, exclusive, one GSI. */
void aml_interrupt(struct aml *a, bool edge, bool active_low, bool shared, uint32_t gsi);
/* IO(Decode16, min, min, 1, len). */
void aml_io(struct aml *a, uint16_t port, uint8_t len);

#endif

#!/usr/bin/env python3
"""Rewrite a snapshot state file (docs/formats.md) with valid CRCs, for tests
of what restore refuses beyond damage: python3 statefile.py FILE EDIT

EDIT is one of
  file-version N       the header's format version
  layout-version N     the MACHINE record's layout version (vmm/vm-state.c)
  cpu-signature N      the MACHINE record's CPUID.1:EAX
  huge-length          a record's length field far past the file (CRC kept valid)
"""
import struct, sys

def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xffffffff

def records(buf):
    off, out = 32, []
    count = struct.unpack_from("<I", buf, 24)[0]
    for _ in range(count):
        typ, idx, ln, crc, res = struct.unpack_from("<IIQII", buf, off)
        out.append((off, typ, idx, ln))
        off += 24 + ((ln + 7) & ~7)
    return out

def fix_header(buf):
    struct.pack_into("<I", buf, 28, crc32c(bytes(buf[:28])))

def fix_record(buf, off, ln):
    c = crc32c(bytes(buf[off:off + 16]))
    c = crc32c(bytes(buf[off + 24:off + 24 + ln]), c)
    struct.pack_into("<I", buf, off + 16, c)

def main():
    path, edit = sys.argv[1], sys.argv[2]
    buf = bytearray(open(path, "rb").read())
    machine = [r for r in records(buf) if r[1] == 1][0]
    moff = machine[0] + 24
    if edit == "file-version":
        struct.pack_into("<I", buf, 8, int(sys.argv[3]))
        fix_header(buf)
    elif edit == "layout-version":
        struct.pack_into("<I", buf, moff, int(sys.argv[3]))
        fix_record(buf, machine[0], machine[3])
    elif edit == "cpu-signature":
        struct.pack_into("<I", buf, moff + 4 + 4 + 8 + 12, int(sys.argv[3], 0))
        fix_record(buf, machine[0], machine[3])
    elif edit == "huge-length":
        off = machine[0]
        struct.pack_into("<Q", buf, off + 8, 1 << 40)
        c = crc32c(bytes(buf[off:off + 16]))
        struct.pack_into("<I", buf, off + 16, c)
    else:
        sys.exit("unknown edit " + edit)
    open(path, "wb").write(buf)

main()

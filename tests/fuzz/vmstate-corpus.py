#!/usr/bin/env python3
# Regenerate the seed corpus of tests/fuzz/fuzz-vmstate.c: state files
# (layout in snapshot/vmstate.h) shaped like what the VMM writes, a few
# damaged ones, and records that steer the target's decoders (record type
# modulo 6 picks one).  Its own CRC-32C, so it checks ours too.
# Usage: vmstate-corpus.py OUTDIR
import os
import struct
import sys


def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff


assert crc32c(b'123456789') == 0xE3069283


def record(type_, index, data):
    head = struct.pack('<IIQ', type_, index, len(data))
    crc = crc32c(data, crc32c(head))
    pad = b'\0' * (-len(data) % 8)
    return head + struct.pack('<II', crc, 0) + data + pad


def state_file(records, version=1, flags=0):
    body = b''.join(record(*r) for r in records)
    head = b'SBXSTATE' + struct.pack('<IIQI', version, flags, 32 + len(body), len(records))
    return head + struct.pack('<I', crc32c(head)) + body


def vcpu(i):
    regs = struct.pack('<18Q', *range(i, i + 18))
    msrs = struct.pack('<I', 3) + b''.join(struct.pack('<IQ', m, v) for m, v in
                                         ((0x10, 123456789), (0x6e0, 987654321), (0xc0000080, 0xd01)))
    return [(0, i, regs + b'\0' * 25),           # fixed fields
            (1, i, struct.pack('<I', 40) + bytes(range(40)) + struct.pack('<Q', 7)),  # blob
            (2, i, msrs),                         # counted array
            (3, i, b'lapic' * 7),
            (4, i, bytes(range(256)) * 4),        # xsave-sized
            (5, i, struct.pack('<H', 9) + b'tail')]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        'empty': state_file([]),
        'one-vcpu': state_file(vcpu(0)),
        'two-vcpus': state_file(vcpu(0) + vcpu(1) + [(0x100, 0, b'pic'), (0x101, 0, b'\1' * 24)]),
        'zero-lengths': state_file([(t, 0, b'') for t in range(6)]),
        'devices': state_file([(0x200 + d, d, struct.pack('<8I', *range(d, d + 8))) for d in range(12)]),
        'version2': state_file(vcpu(0), version=2),
        'flags': state_file(vcpu(0)[:2], flags=1),
        'huge-count': state_file([(2, 0, struct.pack('<I', 0xffffffff) + b'\0' * 12)]),
    }
    bad = bytearray(seeds['one-vcpu'])
    bad[100] ^= 1
    seeds['flipped'] = bytes(bad)
    seeds['truncated'] = seeds['two-vcpus'][:-5]
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


main()

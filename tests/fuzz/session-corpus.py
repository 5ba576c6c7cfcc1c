#!/usr/bin/env python3
# Regenerate the seed corpus of tests/fuzz/fuzz-session.c: scripts of a guest
# that behaves (and a few that do not), in the input format described at the
# top of that file.  Usage: session-corpus.py OUTDIR
import os
import struct
import sys

HELLO, ERROR, EXEC, DATA, EOF, WINDOW, SIGNAL, EXIT, STARTED = 1, 2, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16
OPEN, ACCEPT, CLOSE = 0x20, 0x21, 0x22
RESEEDED = 0x07
G = 0xf0  # sel for the guest's stream ids: G + n is PROTO_STREAM_GUEST | n
WAIT = {'HELLO': 0, 'EXEC': 1, 'SIGNAL': 2, 'POWEROFF': 3, 'WINDOW': 4, 'EOF': 5, 'DATA': 6,
        'ACCEPT': 9, 'CLOSE': 10, 'RESEED': 11}


def frame(type_, stream, payload=b'', flags=0):
    if len(payload) < 256:
        return bytes([0, type_, flags, stream, 0, len(payload)]) + payload
    return bytes([0, type_, flags, stream, 1]) + struct.pack('<H', len(payload)) + payload


def filler(type_, stream, pages, flags=0):
    """pages * 4 KiB of 'x' (mode 3)."""
    return bytes([0, type_, flags, stream, 3 | pages << 2])


def lie(type_, stream, declared, payload, flags=0):
    return bytes([0, type_, flags, stream, 2]) + struct.pack('<IB', declared, len(payload)) + payload


def wait(what):
    return bytes([2, WAIT[what]])


def hello(version=3, banner=b'sbx-init'):
    return frame(HELLO, 0, struct.pack('<III', version, 65536, 256 << 10) + banner)


def started(s):
    return frame(STARTED, s, struct.pack('<I', 42))


def exit_(s, code=0, flags=0):
    return frame(EXIT, s, struct.pack('<iI', code, flags))


def plan(nexec, poweroff, opts, serve=False, accept=False, refuse_odd=False, reseed=False):
    return bytes([(nexec - 1) | (4 if poweroff else 0) | (8 if serve else 0) |
                  (16 if accept else 0) | (32 if refuse_odd else 0) | (64 if reseed else 0)] + opts)


def reseeded(flags=3):
    """ANSWER: a RESEEDED echoing the host's last RESEED."""
    return bytes([3 | 8, flags])


def open_(n, kind=1):
    return frame(OPEN, G + n, bytes([kind, 0x39, 0x30]))


def close(n, reason=0):
    return frame(CLOSE, G + n, struct.pack('<I', reason))


def answer(s, out=b'out\n', err=b'err\n', code=0):
    return (wait('EXEC') + started(s) + frame(DATA, s, out, 1) + frame(DATA, s, err, 2) +
            frame(EOF, s, flags=1) + frame(EOF, s, flags=2) + exit_(s, code))


seeds = {
    'hello-only': plan(1, True, [0]) + hello(),
    'bad-version': plan(1, False, [0]) + hello(version=1),
    'session': plan(2, True, [0x20, 0x01]) + hello() + answer(1) + answer(2, code=3) + wait('POWEROFF'),
    'stdin-window': plan(1, True, [0x03]) + hello() + wait('EXEC') + started(1) +
    wait('DATA') * 4 + frame(WINDOW, 1, struct.pack('<I', 256 << 10)) + wait('EOF') +
    exit_(1) + wait('POWEROFF'),
    'stdin-pipe': plan(1, True, [0x22]) + hello() + wait('EXEC') + started(1) + wait('EOF') +
    exit_(1) + wait('POWEROFF'),
    'flood': plan(1, True, [0x00]) + hello() + wait('EXEC') + started(1) +
    filler(DATA, 1, 16, 1) * 4 + wait('WINDOW') + filler(DATA, 1, 16, 1) +
    frame(EOF, 1, flags=1) + exit_(1) + wait('POWEROFF'),
    'sink-fails': plan(1, True, [0x08]) + hello() + wait('EXEC') + started(1) +
    filler(DATA, 1, 1, 1) + exit_(1),
    'gave-up': plan(2, True, [0x00, 0x00]) + hello() + wait('EXEC') + wait('SIGNAL') +
    frame(DATA, 1, b'late', 1) + frame(EOF, 1, flags=1) + exit_(1, 137, 1) + answer(2) + wait('POWEROFF'),
    'interrupt': plan(1, True, [0x04]) + hello() + wait('EXEC') + started(1) + wait('SIGNAL') +
    exit_(1, 143, 1) + wait('POWEROFF'),
    'guest-error': plan(1, False, [0]) + hello() + wait('EXEC') + frame(ERROR, 0, b'no space\x1b[31m'),
    'lying-length': plan(1, False, [0]) + hello() + wait('EXEC') + lie(DATA, 1, 0x7fffffff, b'abc', 1),
    'eof-midframe': plan(1, False, [0]) + hello() + wait('EXEC') + started(1) + bytes([1, 5]) + b'BS\x11\x01\x01',
    'data-no-wait': plan(1, False, [0]) + hello() + wait('EXEC') + filler(DATA, 1, 16, 1) * 5,
    'huge-frame': plan(1, False, [0]) + hello() + wait('EXEC') + filler(DATA, 1, 63, 1),
    'data-after-eof': plan(1, False, [0]) + hello() + wait('EXEC') + started(1) +
    frame(EOF, 1, flags=1) + frame(DATA, 1, b'more', 1),
    'gone-bad-data': plan(2, False, [0, 0]) + hello() + wait('EXEC') + wait('SIGNAL') +
    frame(DATA, 1, b'late', 3),
    'poweroff-stall': plan(1, True, [0x03]) + hello() + wait('EXEC') + started(1) +
    frame(WINDOW, 1, struct.pack('<I', 256 << 10)) + exit_(1) + bytes([3 | 4]),
    # Streams the guest opens, served while an exec runs and after it.
    'stream-echo': plan(1, True, [0x00], serve=True, accept=True) + hello() + wait('EXEC') +
    open_(1) + wait('ACCEPT') + frame(DATA, G + 1, b'GET / HTTP/1.1\r\n\r\n') +
    frame(EOF, G + 1) + started(1) + frame(EOF, 1, flags=1) + frame(EOF, 1, flags=2) + exit_(1) +
    wait('DATA') + wait('EOF') + frame(WINDOW, G + 1, struct.pack('<I', 40)) + wait('WINDOW') +
    close(1) + wait('CLOSE') + wait('POWEROFF'),
    'stream-refused': plan(1, True, [0x00], serve=True, accept=True, refuse_odd=True) + hello() +
    open_(1) + open_(2) + open_(3, kind=9) + frame(DATA, G + 2, b'early') + wait('CLOSE') +
    close(2) + answer(1) + wait('POWEROFF'),
    'stream-no-callback': plan(1, True, [0x00], serve=True) + hello() + open_(1) + answer(1) +
    wait('CLOSE') + close(1) + open_(1) + wait('POWEROFF'),
    'stream-over-credit': plan(1, False, [0x00], serve=True, accept=True) + hello() + open_(4) +
    filler(DATA, G + 4, 16) * 3 + answer(1),
    'stream-reset': plan(1, True, [0x00], serve=True, accept=True) + hello() + open_(5) +
    filler(DATA, G + 5, 8) + close(5, 2) + wait('CLOSE') + answer(1) + wait('POWEROFF'),
    # After a snapshot restore: RESEED answered (ok, failed, never, unasked, malformed).
    'reseed': plan(1, True, [0x00], reseed=True) + hello() + wait('RESEED') + reseeded() +
    answer(1) + wait('POWEROFF'),
    'reseed-failed': plan(1, True, [0x00], reseed=True) + hello() + wait('RESEED') + reseeded(2) +
    answer(1) + wait('POWEROFF'),
    'reseed-silent': plan(1, True, [0x00], reseed=True) + hello() + wait('RESEED') + answer(1) +
    reseeded() + wait('POWEROFF'),
    'reseed-unasked': plan(1, True, [0x00]) + hello() + wait('EXEC') + reseeded(),
    'reseed-short': plan(1, True, [0x00], reseed=True) + hello() + wait('RESEED') +
    frame(RESEEDED, 0, b'\0' * 27),
    'four-execs': plan(4, True, [0x40, 0x10, 0x21, 0x00]) + hello() + answer(1) + answer(2) +
    answer(3, code=127) + answer(4) + wait('POWEROFF'),
}

out = sys.argv[1]
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)

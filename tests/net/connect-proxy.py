#!/usr/bin/env python3
"""connect-proxy.py: a tiny logging CONNECT proxy for exploring what a client reaches.

Listens on 127.0.0.1. `CONNECT host:port` is tunnelled only when --map names that
host:port (to the address given there: e.g. api.anthropic.com:443 sent to a fake API
on 127.0.0.1); every other CONNECT, and every plain-HTTP request, gets 403. Each
request is logged as a JSON line (time, method, target, decision). A stand-in for
the git-sbx host proxy in host-only experiments; standard library only.

  connect-proxy.py --map api.anthropic.com:443=127.0.0.1:PORT [--map ...] \
      [--port 0] [--port-file F] [--log proxy.jsonl]
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time

LOCK = threading.Lock()
LOG = None
MAP = {}
MAX_HEAD = 16384


def log(rec):
    rec["t"] = round(time.time(), 3)
    with LOCK:
        if LOG:
            LOG.write(json.dumps(rec, sort_keys=True) + "\n")
            LOG.flush()


def pump(src, dst, counter, key):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            counter[key] += len(b)
            dst.sendall(b)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(c):
    c.settimeout(30)
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            b = c.recv(4096)
            if not b:
                c.close()
                return
            head += b
            if len(head) > MAX_HEAD:
                raise ValueError("head too large")
    except (OSError, ValueError) as e:
        log({"error": str(e)})
        c.close()
        return
    head, _, rest = head.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    method, target = (parts + ["", ""])[:2]
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        k = k.strip().lower()
        hdrs[k] = "<%d bytes>" % len(v.strip()) if k in ("x-api-key", "authorization",
                                                         "proxy-authorization") else v.strip()
    rec = {"method": method, "target": target, "headers": hdrs}
    if method != "CONNECT" or target.lower() not in MAP:
        rec["decision"] = "deny"
        log(rec)
        msg = b"denied by connect-proxy.py\n"
        c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n%s" % (len(msg), msg))
        c.close()
        return
    to = MAP[target.lower()]
    try:
        u = socket.create_connection(to, timeout=10)
    except OSError as e:
        rec["decision"] = "error"
        rec["error"] = str(e)
        log(rec)
        c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        c.close()
        return
    rec["decision"] = "allow"
    rec["to"] = "%s:%d" % to
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    c.settimeout(None)
    u.settimeout(None)
    if rest:
        u.sendall(rest)
    counter = {"up": len(rest), "down": 0}
    t0 = time.time()
    a = threading.Thread(target=pump, args=(c, u, counter, "up"), daemon=True)
    b = threading.Thread(target=pump, args=(u, c, counter, "down"), daemon=True)
    a.start()
    b.start()
    a.join()
    b.join()
    c.close()
    u.close()
    rec.update(counter)
    rec["secs"] = round(time.time() - t0, 3)
    log(rec)


def main():
    global LOG
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--map", action="append", default=[], help="HOST:PORT=ADDR:PORT")
    a = ap.parse_args()
    for m in a.map:
        src, _, dst = m.partition("=")
        h, _, p = dst.rpartition(":")
        MAP[src.lower()] = (h, int(p))
    LOG = open(a.log, "a") if a.log else None
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", a.port))
    s.listen(64)
    port = s.getsockname()[1]
    print("proxy %d" % port, flush=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(a.port_file + ".tmp", a.port_file)
    signal.signal(signal.SIGTERM, lambda *x: os._exit(0))
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())

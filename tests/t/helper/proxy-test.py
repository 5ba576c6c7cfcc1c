#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Upstream servers and raw clients for tests/t/t6000-proxy.sh and tests/bench/net.sh.

  proxy-test.py serve-http DIR PORTFILE            HTTP server on 127.0.0.1:0
  proxy-test.py serve-tls DIR CERT KEY PORTFILE    HTTPS server on 127.0.0.1:0
  proxy-test.py raw PROXYPORT HEXFILE|-            send bytes (stdin), print the reply
  proxy-test.py sni PROXYPORT HOST PORT SNI|- CAFILE
        CONNECT HOST:PORT, then TLS with server name SNI ('-': none); prints
        the HTTP response to GET /small.txt or 'refused: <why>'
  proxy-test.py hold PROXYPORT HOST PORT CAFILE GARBAGE
        opens a tunnel, sends GARBAGE (a file) on a second connection, then
        uses the first tunnel: prints the second's reply and the first's body
  proxy-test.py idle PROXYPORT N     open N connections, send nothing, then one more: print its reply
  proxy-test.py latency N PORT [PROXYPORT]
        N sequential connections each fetching /small.txt from 127.0.0.1:PORT
        (through a CONNECT tunnel when PROXYPORT is given); prints mean ms per connection
"""
import http.server
import os
import socket
import socketserver
import ssl
import sys
import time


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 256


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def copyfile(self, source, outputfile):
        # sendfile(2) where the socket allows it, so the server is not what a benchmark measures
        outputfile.flush()
        self.connection.sendfile(source)


def serve(directory, portfile, ctx=None):
    handler = lambda *a, **kw: Handler(*a, directory=directory, **kw)
    srv = Server(("127.0.0.1", 0), handler)
    if ctx:
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


def connect_tunnel(pport, host, port):
    s = socket.create_connection(("127.0.0.1", pport), timeout=20)
    s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port, host.encode(), port))
    reply = b""
    while b"\r\n\r\n" not in reply:
        b = s.recv(4096)
        if not b:
            break
        reply += b
    return s, reply


def tls_get(s, sni, cafile, path="/small.txt"):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    t = ctx.wrap_socket(s, server_hostname=None if sni == "-" else sni)
    t.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
    out = b""
    while True:
        b = t.recv(65536)
        if not b:
            break
        out += b
    return out


def main():
    cmd = sys.argv[1]
    if cmd == "serve-http":
        serve(sys.argv[2], sys.argv[3])
    elif cmd == "serve-tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        serve(sys.argv[2], sys.argv[5], ctx)
    elif cmd == "raw":
        data = sys.stdin.buffer.read()
        s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=20)
        try:
            s.sendall(data)
        except OSError as e:
            print("send failed:", e)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except OSError as e:
            out += b"\n(recv: %s)" % str(e).encode()
        sys.stdout.buffer.write(out)
    elif cmd == "sni":
        pport, host, port, sni, cafile = sys.argv[2:7]
        s, reply = connect_tunnel(int(pport), host, int(port))
        if not reply.startswith(b"HTTP/1.1 200"):
            print("refused:", reply.decode(errors="replace"))
            return
        try:
            sys.stdout.buffer.write(tls_get(s, sni, cafile))
        except (ssl.SSLError, OSError) as e:
            print("refused: tls:", e)
    elif cmd == "hold":
        pport, host, port, cafile, garbage = sys.argv[2:7]
        s, reply = connect_tunnel(int(pport), host, int(port))
        assert reply.startswith(b"HTTP/1.1 200"), reply
        g = socket.create_connection(("127.0.0.1", int(pport)), timeout=20)
        g.sendall(open(garbage, "rb").read())
        out = b""
        while True:
            b = g.recv(65536)
            if not b:
                break
            out += b
        print("second:", out.split(b"\r\n")[0].decode(errors="replace"))
        sys.stdout.buffer.write(b"first: " + tls_get(s, host, cafile).split(b"\r\n\r\n", 1)[1])
    elif cmd == "idle":
        pport, n = int(sys.argv[2]), int(sys.argv[3])
        held = [socket.create_connection(("127.0.0.1", pport)) for _ in range(n)]
        extra = socket.create_connection(("127.0.0.1", pport), timeout=20)
        out = b""
        while True:
            b = extra.recv(65536)
            if not b:
                break
            out += b
        sys.stdout.buffer.write(out)
        for h in held:
            h.close()
    elif cmd == "latency":
        n, port = int(sys.argv[2]), int(sys.argv[3])
        pport = int(sys.argv[4]) if len(sys.argv) > 4 else 0
        req = b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        t0 = time.monotonic()
        for _ in range(n):
            if pport:
                s, reply = connect_tunnel(pport, "127.0.0.1", port)
                assert reply.startswith(b"HTTP/1.1 200"), reply
            else:
                s = socket.create_connection(("127.0.0.1", port), timeout=20)
            s.sendall(req)
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
            assert out.startswith(b"HTTP/1.1 200"), out[:100]
            s.close()
        print("%.3f" % ((time.monotonic() - t0) * 1000 / n))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()

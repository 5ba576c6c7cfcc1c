#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An HTTPS upstream that checks an API key, for tests/kvm/net.kvm.

  key-server.py CERT KEY PORTFILE LOG

Reads the expected key from the environment (SBX_TEST_REAL_KEY), never
from its arguments, so the key is in no command line.  Every request is
answered 200 "key ok" when its x-api-key header is the expected key, else
401 "key wrong"; LOG gets one line per request: the method, the path, and
"ok", "wrong" or "missing" (never the key or what was sent instead).
"""
import http.server
import os
import socketserver
import ssl
import sys


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    cert, key, portfile, log = sys.argv[1:5]
    expected = os.environ["SBX_TEST_REAL_KEY"]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            got = self.headers.get("x-api-key")
            verdict = "missing" if got is None else "ok" if got == expected else "wrong"
            with open(log, "a") as f:
                f.write("%s %s %s\n" % (self.command, self.path, verdict))
            body = ("key %s\n" % verdict).encode()
            self.send_response(200 if verdict == "ok" else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

    srv = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()

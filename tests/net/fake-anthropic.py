#!/usr/bin/env python3
"""fake-anthropic.py: a scripted stand-in for the Anthropic Messages API, for tests.

Serves HTTPS (and optionally plain HTTP) on 127.0.0.1. POST /v1/messages follows a
script of assistant turns (tool uses, then a final text), streaming (SSE) or not.
Every request must carry `x-api-key: <--expect-key>`; one that does not gets a 401
in Anthropic's error shape. Every request is logged as one JSON line (the key's
value is never logged: only whether it matched).

Which turn a main request gets is computed from the request itself, not from a
counter: it is the number of assistant messages already in `messages`. So retries
and side calls never advance the script. A request is a "side call" (a title or
topic summary, a quota probe, ...) when it offers no tools or offers none of the
tools the script uses; side calls get a short text answer and end_turn.

Standard library only. Usage:
  fake-anthropic.py --cert server.pem --key server.key --expect-key KEY \
      [--port 0] [--port-file F] [--http-port N --http-port-file F] \
      [--log log.jsonl] [--dump-dir DIR] [--script script.json] [--other 403|drop]

Script (JSON): {"steps": [step, ...]} where a step is
  {"tool": "Write", "input": {...}}      an assistant tool_use of that tool
  {"text": "..."}                        a final assistant text, stop_reason end_turn
Past the last step, the last text step is repeated.
"""

import argparse
import http.server
import json
import os
import signal
import socketserver
import ssl
import sys
import threading
import time
import uuid

DEFAULT_SCRIPT = {
    "steps": [
        {"tool": "Write",
         "input": {"file_path": "{cwd}/hello.txt",
                   "content": "hello from the fake Anthropic API\n"}},
        {"tool": "Bash",
         "input": {"command": "echo ran > ran.txt",
                   "description": "Record that the shell tool ran"}},
        {"text": "Done: wrote hello.txt and ran a command."},
    ]
}

MAX_BODY = 64 << 20

LOG_LOCK = threading.Lock()


class State:
    args = None
    script = None
    log = None
    dump_seq = 0


def log_line(rec):
    rec["t"] = round(time.time(), 3)
    line = json.dumps(rec, sort_keys=True)
    with LOG_LOCK:
        if State.log is not None:
            State.log.write(line + "\n")
            State.log.flush()


def new_id(prefix):
    return prefix + uuid.uuid4().hex[:24]


def script_tools():
    return {s["tool"] for s in State.script["steps"] if "tool" in s}


def cwd_of(body):
    """The working directory the CLI announces in its system prompt, if any."""
    sys_txt = body.get("system")
    if isinstance(sys_txt, list):
        sys_txt = "\n".join(b.get("text", "") for b in sys_txt if isinstance(b, dict))
    texts = [sys_txt or ""]
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            texts.append(c)
        elif isinstance(c, list):
            texts += [b.get("text", "") for b in c if isinstance(b, dict)]
    for t in texts:
        for line in t.splitlines():
            line = line.strip().lstrip("-").strip()
            for tag in ("Working directory:", "Primary working directory:"):
                if line.startswith(tag):
                    return line[len(tag):].strip()
    return None


def fill(obj, cwd):
    if isinstance(obj, str):
        return obj.replace("{cwd}", cwd or ".")
    if isinstance(obj, dict):
        return {k: fill(v, cwd) for k, v in obj.items()}
    if isinstance(obj, list):
        return [fill(v, cwd) for v in obj]
    return obj


def tool_results(body):
    out = []
    msgs = body.get("messages", [])
    if msgs and msgs[-1].get("role") == "user" and isinstance(msgs[-1].get("content"), list):
        for b in msgs[-1]["content"]:
            if isinstance(b, dict) and b.get("type") == "tool_result":
                c = b.get("content")
                if isinstance(c, list):
                    c = "".join(x.get("text", "") for x in c if isinstance(x, dict))
                out.append({"id": b.get("tool_use_id"), "is_error": bool(b.get("is_error")),
                            "content": (c or "")[:500]})
    return out


def plan(body):
    """Returns (kind, step index or None, content blocks, stop_reason)."""
    offered = [t.get("name") for t in body.get("tools", []) or [] if isinstance(t, dict)]
    if not offered or not (script_tools() & set(offered)):
        # Side calls ask for JSON (a session title: {"title": ...}); one answer fits all.
        return "side", None, [{"type": "text", "text": '{"title": "Scripted session"}'}], "end_turn"
    steps = State.script["steps"]
    n = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
    idx = min(n, len(steps) - 1)
    step = steps[idx]
    if "tool" in step:
        block = {"type": "tool_use", "id": new_id("toolu_"), "name": step["tool"],
                 "input": fill(step["input"], cwd_of(body))}
        return "main", idx, [block], "tool_use"
    return "main", idx, [{"type": "text", "text": step["text"]}], "end_turn"


def sse(event, data):
    return ("event: %s\ndata: %s\n\n" % (event, json.dumps(data))).encode()


def stream_body(msg):
    out = []
    head = dict(msg, content=[], stop_reason=None, stop_sequence=None)
    head["usage"] = dict(msg["usage"], output_tokens=1)
    out.append(sse("message_start", {"type": "message_start", "message": head}))
    for i, b in enumerate(msg["content"]):
        if b["type"] == "text":
            out.append(sse("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": {"type": "text", "text": ""}}))
            txt = b["text"]
            for j in range(0, len(txt), 16):
                out.append(sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                       "delta": {"type": "text_delta",
                                                                 "text": txt[j:j + 16]}}))
        else:
            out.append(sse("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": {"type": "tool_use",
                                                                     "id": b["id"],
                                                                     "name": b["name"],
                                                                     "input": {}}}))
            js = json.dumps(b["input"])
            for j in range(0, len(js), 24):
                out.append(sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                       "delta": {"type": "input_json_delta",
                                                                 "partial_json": js[j:j + 24]}}))
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(sse("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": msg["stop_reason"],
                                               "stop_sequence": None},
                                     "usage": {"output_tokens": msg["usage"]["output_tokens"]}}))
    out.append(sse("message_stop", {"type": "message_stop"}))
    return out


def error_body(etype, message):
    return {"type": "error", "error": {"type": etype, "message": message},
            "request_id": new_id("req_")}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1"

    def log_message(self, fmt, *a):
        pass

    def setup(self):
        # The TLS handshake runs here, in this connection's thread, with a
        # deadline: a client that stalls cannot hold up the accept loop.
        self.request.settimeout(30)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def send(self, code, payload, ctype="application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", new_id("req_"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_chunked(self, events):
        """SSE as the real API sends it: chunked, one event per chunk, flushed."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", new_id("req_"))
        self.end_headers()
        for ev in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            self.wfile.flush()
            time.sleep(0.005)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def handle_any(self):
        rec = {"method": self.command, "path": self.path,
               "scheme": "https" if isinstance(self.connection, ssl.SSLSocket) else "http"}
        if isinstance(self.connection, ssl.SSLSocket):
            rec["sni"] = getattr(self.connection, "sbx_sni", None)
            rec["alpn"] = self.connection.selected_alpn_protocol()
            rec["tls"] = self.connection.version()
        key = self.headers.get("x-api-key")
        rec["key"] = "match" if key == State.args.expect_key else (
            "missing" if key is None else "mismatch")
        hdrs = {}
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in ("x-api-key", "authorization", "cookie"):
                v = "<%d bytes>" % len(v)
            hdrs[lk] = v
        rec["headers"] = hdrs
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            rec["status"] = 413
            log_line(rec)
            self.send(413, error_body("request_too_large", "body too large"))
            return
        raw = self.rfile.read(n) if n else b""
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if State.args.dump_dir and raw:
            with LOG_LOCK:
                State.dump_seq += 1
                seq = State.dump_seq
            with open(os.path.join(State.args.dump_dir, "req-%03d.json" % seq), "wb") as f:
                f.write(raw)
            rec["dump"] = seq
        if isinstance(body, dict):
            for k in ("model", "max_tokens", "stream"):
                if k in body:
                    rec[k] = body[k]
            if "tools" in body:
                rec["tools"] = [t.get("name") for t in body["tools"] if isinstance(t, dict)]
            rec["n_messages"] = len(body.get("messages", []) or [])
        path = self.path.split("?", 1)[0]
        if rec["key"] != "match":
            rec["status"] = 401
            log_line(rec)
            self.send(401, error_body("authentication_error", "invalid x-api-key"))
            return
        if self.command == "POST" and path == "/v1/messages" and isinstance(body, dict):
            self.messages(rec, body)
        elif State.args.other != "404":
            # Everything but the Messages API refused, as a strict path policy would.
            rec["status"] = State.args.other
            log_line(rec)
            if State.args.other == "drop":
                self.close_connection = True
                self.connection.close()
                return
            self.send(int(State.args.other),
                      error_body("permission_error", "fake API: refused %s" % path))
        elif self.command == "POST" and path == "/v1/messages/count_tokens":
            rec["status"] = 200
            log_line(rec)
            self.send(200, {"input_tokens": max(1, len(raw) // 4)})
        elif self.command == "GET" and path == "/v1/models":
            rec["status"] = 200
            log_line(rec)
            self.send(200, {"data": [{"type": "model", "id": m, "display_name": m,
                                      "created_at": "2025-01-01T00:00:00Z"}
                                     for m in ("claude-sonnet-4-5", "claude-haiku-4-5")],
                            "has_more": False, "first_id": None, "last_id": None})
        else:
            rec["status"] = 404
            log_line(rec)
            self.send(404, error_body("not_found_error", "fake API: no %s %s" % (self.command, path)))

    def messages(self, rec, body):
        kind, idx, content, stop = plan(body)
        rec["kind"] = kind
        rec["step"] = idx
        rec["tool_results"] = tool_results(body)
        rec["reply"] = [b.get("name") or "text" for b in content]
        rec["status"] = 200
        log_line(rec)
        msg = {"id": new_id("msg_"), "type": "message", "role": "assistant",
               "model": body.get("model", "claude-fake"), "content": content,
               "stop_reason": stop, "stop_sequence": None,
               "usage": {"input_tokens": 10, "output_tokens": 5,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        if body.get("stream") and State.args.chunked:
            self.send_chunked(stream_body(msg))
        elif body.get("stream"):
            self.send(200, b"".join(stream_body(msg)), "text/event-stream; charset=utf-8")
        else:
            self.send(200, msg)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(srv):
    try:
        srv.serve_forever()
    except Exception:  # pragma: no cover
        pass


def write_port(path, port):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--http-port", type=int, default=-1, help="also plain HTTP (0: any port)")
    ap.add_argument("--http-port-file")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--expect-key", required=True)
    ap.add_argument("--log")
    ap.add_argument("--dump-dir", help="save every request body here (req-NNN.json)")
    ap.add_argument("--script")
    ap.add_argument("--no-chunked", dest="chunked", action="store_false",
                    help="send SSE with Content-Length instead of chunked, event by event")
    ap.add_argument("--alpn", default="http/1.1", help="ALPN protocols offered, by preference")
    ap.add_argument("--other", default="404",
                    help="answer to anything but /v1/messages: 404 (default; count_tokens "
                         "and /v1/models are answered), another status, or drop")
    State.args = ap.parse_args()
    if State.args.script:
        with open(State.args.script) as f:
            State.script = json.load(f)
    else:
        State.script = DEFAULT_SCRIPT
    if State.args.dump_dir:
        os.makedirs(State.args.dump_dir, exist_ok=True)
    State.log = open(State.args.log, "a") if State.args.log else None

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(State.args.cert, State.args.key)
    ctx.set_alpn_protocols(State.args.alpn.split(","))

    def on_sni(sock, name, _ctx):
        sock.sbx_sni = name
    ctx.sni_callback = on_sni
    tls = Server(("127.0.0.1", State.args.port), Handler)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True,
                                 do_handshake_on_connect=False)
    threads = [threading.Thread(target=serve, args=(tls,), daemon=True)]
    port = tls.server_address[1]
    print("https %d" % port, flush=True)
    plain = None
    if State.args.http_port >= 0:
        plain = Server(("127.0.0.1", State.args.http_port), Handler)
        threads.append(threading.Thread(target=serve, args=(plain,), daemon=True))
        print("http %d" % plain.server_address[1], flush=True)
        write_port(State.args.http_port_file, plain.server_address[1])
    write_port(State.args.port_file, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    for t in threads:
        t.start()
    while not stop.wait(0.5):
        pass
    tls.shutdown()
    if plain:
        plain.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""http_fixture.py - a small department REST API for the connector tests.

Usage: http_fixture.py PORTFILE TOKEN
Listens on 127.0.0.1 on a free port (written to PORTFILE once listening).

Endpoints:
  GET  /items?page=N           paged JSON list; needs "Authorization: Bearer TOKEN" (401 otherwise)
  GET  /flaky?key=K            503 on the first two requests for K, then 200
  GET  /ratelimited?key=K      429 on the first request for K, then 200
  GET  /retry-after?key=K      503 with "Retry-After: 1" on the first request for K, then 200
  GET  /always500?key=K        always 500
  GET  /count?key=K            how many requests the endpoints above saw for K
  GET  /slow?ms=N              sleeps N ms, then 200
  POST /echo                   201 with the request body and its Content-Type
  GET  /peer                   the client's source port (to see connection reuse)
  GET  /big?n=N                N bytes of "a" with a Content-Length
  GET  /huge                   1 GiB of "a", chunked (no Content-Length)
  GET  /redirect-local         302 to /items?page=1 on this server
  GET  /redirect-foreign       302 to the same path on http://localhost:PORT (another host name)
Hostile sources (tests/fault/hostile_source.sh):
  GET  /endless?page=N         a page of two new death records for every N: paging never ends
  GET  /repeat?page=N          the same page whatever N (a service that ignores the page parameter)
  GET  /repeat-keys?page=N     the same records on every page, the page number in the body
  GET  /bigfield?mb=N          a good record, one whose "note" is N MiB, another good record
  GET  /many?page=N            1000 good death records a page for pages 1-15, each page 100 ms late,
                               then an empty page (a long read, for the progress lines)
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ITEMS = [
    {"id": 1, "name": "张三", "id_no": "11010519491231002X"},
    {"id": 2, "name": "李四", "id_no": None},
    {"id": 3, "name": "阿卜杜·热合曼", "id_no": "650102198001011234"},
    {"id": 4, "name": "王五", "id_no": "110105194912310021"},
    {"id": 5, "name": "赵六", "id_no": "110105194912310030"},
]
PAGE_SIZE = 2


class State:
    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.counts = {}

    def hit(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def count(self, key):
        with self.lock:
            return self.counts.get(key, 0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections

    def log_message(self, fmt, *args):  # quiet: the test output stays readable
        pass

    def send(self, status, body, ctype="application/json", extra=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        key = q.get("key", "")
        p = url.path
        if p == "/items":
            if self.headers.get("Authorization") != "Bearer " + st.token:
                return self.send(401, json.dumps({"error": "unauthorized"}))
            page = int(q.get("page", "1"))
            lo = (page - 1) * PAGE_SIZE
            items = ITEMS[lo:lo + PAGE_SIZE]
            nxt = page + 1 if lo + PAGE_SIZE < len(ITEMS) else None
            return self.send(200, json.dumps({"page": page, "items": items, "next": nxt},
                                             ensure_ascii=False))
        if p == "/flaky":
            n = st.hit("flaky-" + key)
            if n <= 2:
                return self.send(503, json.dumps({"error": "busy", "attempt": n}))
            return self.send(200, json.dumps({"ok": True, "attempt": n}))
        if p == "/ratelimited":
            n = st.hit("ratelimited-" + key)
            if n <= 1:
                return self.send(429, json.dumps({"error": "slow down"}))
            return self.send(200, json.dumps({"ok": True, "attempt": n}))
        if p == "/retry-after":
            n = st.hit("retry-after-" + key)
            if n <= 1:
                return self.send(503, json.dumps({"error": "later"}), extra={"Retry-After": "1"})
            return self.send(200, json.dumps({"ok": True, "attempt": n}))
        if p == "/always500":
            n = st.hit("always500-" + key)
            return self.send(500, json.dumps({"error": "broken", "attempt": n}))
        if p == "/count":
            return self.send(200, str(st.count(key)), "text/plain")
        if p == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            return self.send(200, json.dumps({"ok": True}))
        if p == "/peer":
            return self.send(200, str(self.client_address[1]), "text/plain")
        if p == "/huge":
            # 1 GiB in 64 KiB chunks, no Content-Length: the client must stop
            # reading at its limit (a broken pipe here is expected).
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"a" * 65536
            frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
            try:
                for _ in range(16384):
                    self.wfile.write(frame)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        if p == "/big":
            return self.send(200, b"a" * int(q.get("n", "0")), "application/octet-stream")
        if p in ("/endless", "/repeat", "/repeat-keys"):
            page = int(q.get("page", "1")) if p != "/repeat" else 1
            if p == "/repeat-keys":
                page_key = 1
            else:
                page_key = page
            items = [{"id": "R%d-%d" % (page_key, k), "name": "某", "death_date": "2024-01-02",
                      "basis": "cremation"} for k in (1, 2)]
            return self.send(200, json.dumps({"page": page, "items": items}, ensure_ascii=False))
        if p == "/bigfield":
            n = int(float(q.get("mb", "50")) * 1048576)
            rec = lambda i, note: {"id": i, "name": "某", "death_date": "2024-01-02",
                                   "basis": "cremation", "note": note}
            body = json.dumps({"items": [rec("B1", "ok"), rec("B2", "x" * n), rec("B3", "ok")]})
            return self.send(200, body)
        if p == "/many":
            page = int(q.get("page", "1"))
            time.sleep(0.1)
            items = [] if page > 15 else [
                {"id": "M%d-%d" % (page, k), "name": "某", "death_date": "2024-01-02", "basis": "cremation"}
                for k in range(1000)]
            return self.send(200, json.dumps({"page": page, "items": items}, ensure_ascii=False))
        if p == "/redirect-local":
            return self.send(302, "", "text/plain", {"Location": "/items?page=1"})
        if p == "/redirect-foreign":
            port = self.server.server_address[1]
            return self.send(302, "", "text/plain",
                             {"Location": "http://localhost:%d/items?page=1" % port})
        return self.send(404, json.dumps({"error": "no such endpoint"}))

    def do_POST(self):
        if urlparse(self.path).path != "/echo":
            return self.send(404, json.dumps({"error": "no such endpoint"}))
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n > 0 else b""
        return self.send(201, body, self.headers.get("Content-Type", "application/octet-stream"))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients that time out or refuse oversized bodies hang up on purpose.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: http_fixture.py PORTFILE TOKEN")
    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(sys.argv[2])
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, sys.argv[1])  # appears whole, only once listening
    srv.serve_forever()


if __name__ == "__main__":
    main()

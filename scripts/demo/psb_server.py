#!/usr/bin/env python3
"""psb_server.py - the demo public-security (公安) data service: a small HTTP
JSON API over DIR/psb.json, as a department would expose it to the gateway.

    psb_server.py --data DIR/psb.json --token-file DIR/psb.token --port PORT
                  [--pid-file FILE] [--notices FILE] [--fail-first N]

Endpoints (all but /health need "Authorization: Bearer <token>", else 401):
  GET  /api/v1/deaths?page=N&size=M    户籍注销（死亡）: hzbh, gmsfhm, xm, csrq, swrq, zxyy, hfbz
  GET  /api/v1/vehicles?page=N&size=M  机动车登记: xh, hpzl, hphm, clsbdh, syr, djrq, zxrq
  GET  /api/v1/custody?page=N&size=M   羁押/服刑: jybh, gmsfhm, xm, lx, ksrq, jsrq, jycs
  POST /api/v1/notices                 a notice pushed back (JSON object with "id");
                                       idempotent on id: the same body again changes nothing
  GET  /api/v1/notices                 every stored notice, ordered by id (for tests)
  GET  /health                         200 "ok" (no token; for start-up waits)
Pages are 1-based; answers are {"code":0,"msg":"ok","data":{"total":T,"items":[...]}}.
--fail-first N answers the first N API requests with 503 (fault tests).
Notices are kept in memory and written to --notices (default: next to --data)
so a restart keeps them. Python stdlib only.
"""
import argparse
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

COLLECTIONS = {"/api/v1/deaths": "deaths", "/api/v1/vehicles": "vehicles", "/api/v1/custody": "custody"}
MAX_PAGE_SIZE = 1000


class State:
    """Everything the handlers share; guarded by `lock`."""

    def __init__(self, data, token, notices_path, fail_first):
        self.data = data
        self.token = token
        self.notices_path = notices_path
        self.fail_left = fail_first
        self.lock = threading.Lock()
        self.notices = {}
        if os.path.exists(notices_path):
            with open(notices_path, encoding="utf-8") as f:
                self.notices = {n["id"]: n for n in json.load(f)}

    def save_notices(self):
        tmp = self.notices_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump([self.notices[k] for k in sorted(self.notices)], f, ensure_ascii=False, indent=1)
        os.replace(tmp, self.notices_path)


class Handler(BaseHTTPRequestHandler):
    server_version = "psb-demo/1.0"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), fmt % args))

    def reply(self, status, obj):
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def gate(self):
        """Token check and injected failures. True when the request may proceed."""
        st = self.server.state
        with st.lock:
            if st.fail_left > 0:
                st.fail_left -= 1
                self.reply(503, {"code": 503, "msg": "service temporarily unavailable"})
                return False
        auth = self.headers.get("Authorization", "")
        want = "Bearer " + st.token
        if not hmac.compare_digest(auth.encode("utf-8"), want.encode("utf-8")):
            self.reply(401, {"code": 401, "msg": "missing or invalid bearer token"})
            return False
        return True

    def do_GET(self):
        st = self.server.state
        url = urlparse(self.path)
        if url.path == "/health":
            self.reply(200, {"code": 0, "msg": "ok"})
            return
        if url.path not in COLLECTIONS and url.path != "/api/v1/notices":
            self.reply(404, {"code": 404, "msg": "no such endpoint"})
            return
        if not self.gate():
            return
        if url.path == "/api/v1/notices":
            with st.lock:
                items = [st.notices[k] for k in sorted(st.notices)]
            self.reply(200, {"code": 0, "msg": "ok", "data": {"total": len(items), "items": items}})
            return
        q = parse_qs(url.query)
        try:
            page = int(q.get("page", ["1"])[0])
            size = int(q.get("size", ["100"])[0])
        except ValueError:
            self.reply(400, {"code": 400, "msg": "page and size must be integers"})
            return
        if page < 1 or size < 1 or size > MAX_PAGE_SIZE:
            self.reply(400, {"code": 400, "msg": "page >= 1 and 1 <= size <= %d" % MAX_PAGE_SIZE})
            return
        rows = st.data[COLLECTIONS[url.path]]
        items = rows[(page - 1) * size: page * size]
        self.reply(200, {"code": 0, "msg": "ok", "data": {"total": len(rows), "page": page, "size": size,
                                                          "items": items}})

    def do_POST(self):
        st = self.server.state
        url = urlparse(self.path)
        if url.path != "/api/v1/notices":
            self.reply(404, {"code": 404, "msg": "no such endpoint"})
            return
        if not self.gate():
            return
        try:
            n = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(n).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            self.reply(400, {"code": 400, "msg": "body is not JSON: %s" % e})
            return
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
            self.reply(400, {"code": 400, "msg": "notice must be an object with a non-empty string id"})
            return
        with st.lock:
            old = st.notices.get(body["id"])
            if old is not None and old["notice"] == body:
                created = False
            else:
                now = time.strftime("%Y-%m-%d %H:%M:%S")
                st.notices[body["id"]] = {
                    "id": body["id"], "notice": body,
                    "received_at": old["received_at"] if old else now,
                    "updated_at": now, "updates": (old["updates"] + 1) if old else 0,
                }
                st.save_notices()
                created = old is None
        self.reply(200, {"code": 0, "msg": "ok", "data": {"id": body["id"], "created": created}})


def main():
    ap = argparse.ArgumentParser(description="demo public-security data service")
    ap.add_argument("--data", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid-file")
    ap.add_argument("--notices", help="where notices are kept (default: psb_notices.json next to --data)")
    ap.add_argument("--fail-first", type=int, default=0, help="answer the first N API requests with 503")
    args = ap.parse_args()

    with open(args.data, encoding="utf-8") as f:
        data = json.load(f)
    for k in COLLECTIONS.values():
        if not isinstance(data.get(k), list):
            sys.exit("psb_server: %s has no list %r" % (args.data, k))
    with open(args.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        sys.exit("psb_server: empty token in %s" % args.token_file)
    notices = args.notices or os.path.join(os.path.dirname(os.path.abspath(args.data)), "psb_notices.json")

    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    httpd.state = State(data, token, notices, args.fail_first)
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write("psb_server: listening on 127.0.0.1:%d\n" % args.port)
    try:
        httpd.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        httpd.server_close()
        if args.pid_file and os.path.exists(args.pid_file):
            os.unlink(args.pid_file)


if __name__ == "__main__":
    main()

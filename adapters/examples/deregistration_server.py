#!/usr/bin/env python3
"""deregistration_server.py - the fixture of the worked example
deregistration_http.lua: a public-security household-registration service
(公安户籍) that lists household deregistrations (户籍注销) as paged JSON.

Usage: deregistration_server.py PORTFILE TOKEN
Listens on 127.0.0.1 on a free port (written to PORTFILE once listening).

GET /api/v1/zxdj?page=N&size=M   (needs "Authorization: Bearer TOKEN", else 401)
  -> {"code": 0, "data": {"total": T, "items": [...]}}
Each item: zxbh 注销编号 (record key), ry {gmsfhm 公民身份号码, xm 姓名},
csrq 出生日期 and swrq 死亡日期 as 'YYYY/M/D', zxyy 注销原因 (死亡 death,
迁出 moved away), hfbz 恢复标志 ('0', '1' = registration restored), hjdz 户籍地址.
100 generated deaths, then planted mistakes (ZX2024P01..P06).
"""
import json
import os
import random
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(region, y, m, d, seq):
    body = "%s%04d%02d%02d%03d" % (region, y, m, d, seq)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


def slash_date(y, m, d):
    return "%d/%d/%d" % (y, m, d)


def build_items():
    rnd = random.Random(20240312)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = ["秀英", "建国", "桂兰", "德福", "玉珍", "志强", "淑芬", "文斌", "丽华", "振华"]
    regions = ["110105", "320502", "440306", "610103", "420106"]
    items = []
    for i in range(1, 101):
        y, m, d = rnd.randint(1925, 1950), rnd.randint(1, 12), rnd.randint(1, 28)
        items.append({
            "zxbh": "ZX2024%04d" % i,
            "ry": {"gmsfhm": id_number(rnd.choice(regions), y, m, d, rnd.randint(100, 999)),
                   "xm": rnd.choice(surnames) + rnd.choice(given)},
            "csrq": slash_date(y, m, d),
            "swrq": slash_date(2024, rnd.randint(1, 9), rnd.randint(1, 28)),
            "zxyy": "死亡", "hfbz": "0", "hjdz": "示例市示例区%d号" % i,
        })
    planted = [
        # an id with a letter in it: a fact, but listed as an invalid id
        ("ZX2024P01", "11010519491231002Y", "钱小红", "1949/12/31", "2024/3/12", "死亡", "0"),
        # 30 February: rejected
        ("ZX2024P02", id_number("110105", 1936, 4, 2, 511), "冯国栋", "1936/4/2", "2024/2/30", "死亡", "0"),
        # restore flag 'X' is not in the code table: rejected
        ("ZX2024P03", id_number("320502", 1931, 8, 9, 224), "韩美玲", "1931/8/9", "2024/5/6", "死亡", "X"),
        # stated birth date disagrees with the id: a fact, with a warning
        ("ZX2024P04", id_number("440306", 1944, 2, 18, 337), "曹建军", "1944/3/18", "2024/6/1", "死亡", "0"),
        # moved away, not a death: the adapter's row function skips it
        ("ZX2024P05", id_number("610103", 1960, 1, 1, 118), "邓家明", "1960/1/1", "", "迁出", "0"),
        # registration restored after a wrong death report: revoked = true
        ("ZX2024P06", id_number("420106", 1939, 11, 30, 426), "许慧敏", "1939/11/30", "2024/7/7", "死亡", "1"),
    ]
    for zxbh, idno, xm, csrq, swrq, zxyy, hfbz in planted:
        items.append({"zxbh": zxbh, "ry": {"gmsfhm": idno, "xm": xm}, "csrq": csrq, "swrq": swrq,
                      "zxyy": zxyy, "hfbz": hfbz, "hjdz": "示例市示例区"})
    return items


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, obj):
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/api/v1/zxdj":
            return self.send(404, {"code": 404, "msg": "no such endpoint"})
        if self.headers.get("Authorization") != "Bearer " + self.server.token:
            return self.send(401, {"code": 401, "msg": "token missing or wrong"})
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            page, size = int(q.get("page", "1")), min(int(q.get("size", "20")), 100)
        except ValueError:
            return self.send(400, {"code": 400, "msg": "page and size are numbers"})
        items = self.server.items
        lo = (page - 1) * size
        return self.send(200, {"code": 0, "data": {"total": len(items), "items": items[lo:lo + size]}})


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: deregistration_server.py PORTFILE TOKEN")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.token = sys.argv[2]
    srv.items = build_items()
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""check_e2e.py - checks a gateway run over the demo city against the oracle.

    check_e2e.py check DIR EXPORT.jsonl [--config conf/demo.ini]
        Compares the alerts export (one JSON object per line) with DIR/expected.json
        written by gen_city.py: per rule, every planted alert must be there with the
        same id, amount, confidence and periods, no control may have an alert, and
        nothing unexpected may appear (precision and recall 1.0). Then checks the
        quarantine (DIR/state.db) and the sinks: every alert routed to hr / grid /
        civil / psb ([route] of the config; "@sources" = the sources of the alert's
        evidence) is in yl_ycyj / wg_hcrw / mz_yjxx / the PSB notices exactly once,
        with matching content, and nothing else is there.
    check_e2e.py dump DIR OUT
        Writes a canonical dump of all four sinks to OUT (for byte comparison).
    check_e2e.py status EXPORT.jsonl ALERT_ID STATUS
        Asserts the status of one alert in an export.
    check_e2e.py warnings DIR RUN.log
        Asserts that the run's log holds every warning of DIR/expected.json
        (e.g. a lenient date dropped), as a warning of the right source.

Needs GG_PG_PORT and GG_PSB_PORT in the environment (the city's servers).
Prints "ok - ..." / "FAIL - ..." lines and "N passed, M failed"; exits 1 on any
failure. Python stdlib only; PostgreSQL is queried with psql.
"""
import argparse
import configparser
import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG = os.path.join(HERE, "..", "..", "conf", "demo.ini")
SINK_SOURCES = ("hr", "grid", "civil", "psb")


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % what)
        else:
            self.failed += 1
            print("FAIL - %s%s" % (what, (": " + detail) if detail else ""))
        return cond

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


# ---------------------------------------------------------------- access to the city

def psql(db, sql):
    port = os.environ.get("GG_PG_PORT")
    if not port:
        sys.exit("check_e2e: GG_PG_PORT is not set")
    r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                        "-p", port, "-U", "postgres", "-d", db, "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql %s: %s" % (db, r.stderr.strip()))
    return [line.split("\t") for line in r.stdout.splitlines()]


def psb_get(dirpath, path):
    port = os.environ.get("GG_PSB_PORT")
    if not port:
        sys.exit("check_e2e: GG_PSB_PORT is not set")
    with open(os.path.join(dirpath, "psb.token"), encoding="utf-8") as f:
        token = f.read().strip()
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path),
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode("utf-8"))


def civil_rows(dirpath, sql):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(dirpath, "civil.db"), uri=True)
    db.text_factory = bytes  # GBK and UTF-8 bytes alike; decoded below
    try:
        return [[decode(v) for v in row] for row in db.execute(sql).fetchall()]
    finally:
        db.close()


def decode(v):
    if isinstance(v, bytes):
        for enc in ("utf-8", "gbk"):
            try:
                return v.decode(enc)
            except UnicodeDecodeError:
                pass
        return v.hex()
    return v


def load_export(path):
    alerts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                alerts.append(json.loads(line))
            except ValueError as e:
                raise SystemExit("check_e2e: %s:%d is not JSON: %s" % (path, n, e))
    return alerts


def load_routes(config_path):
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    cp.read(config_path, encoding="utf-8")
    return {rule: [s.strip() for s in v.split(",") if s.strip()] for rule, v in cp["route"].items()}


def sinks_of(alert, routes):
    out = set()
    for s in routes.get(alert["rule"], []):
        if s == "@sources":
            out.update(ev.get("source") for ev in alert.get("evidence") or [] if ev.get("source"))
        else:
            out.add(s)
    return out & set(SINK_SOURCES)


def yuan(fen):
    return "%s%d.%02d" % ("-" if fen < 0 else "", abs(fen) // 100, abs(fen) % 100)


def num_eq(text, fen):
    """A numeric column's text (e.g. '18600.00', '18600', 18600.5) equals fen."""
    try:
        from decimal import Decimal
        return Decimal(str(text)) * 100 == fen
    except Exception:
        return False


# ---------------------------------------------------------------- the oracle

def check_oracle(ck, exp, alerts):
    by_id = {}
    dups = set()
    for a in alerts:
        if a.get("id") in by_id:
            dups.add(a.get("id"))
        by_id[a.get("id")] = a
    ck.ok(not dups, "export: every alert id once", ", ".join(sorted(map(str, dups))[:10]))
    rules = sorted({a["rule"] for a in exp["alerts"]} | {c["rule"] for c in exp["controls"]}
                   | {a.get("rule") for a in alerts})
    planted = {a["id"]: a for a in exp["alerts"]}
    table = []
    for rule in rules:
        want = [a for a in exp["alerts"] if a["rule"] == rule]
        got = [a for a in alerts if a.get("rule") == rule]
        correct = 0
        for w in want:
            g = by_id.get(w["id"])
            if not ck.ok(g is not None, "%s %s present (%s)" % (rule, w["id"], w["note"])):
                continue
            diffs = []
            for field in ("rule", "amount", "confidence", "periods"):
                if g.get(field) != w[field]:
                    diffs.append("%s: got %r, want %r" % (field, g.get(field), w[field]))
            if g.get("subject") and "*" not in g["subject"] and g["subject"] != w["subject"]:
                diffs.append("subject: got %r, want %r" % (g["subject"], w["subject"]))
            if ck.ok(not diffs, "%s %s matches amount/confidence/periods" % (rule, w["id"]), "; ".join(diffs)):
                correct += 1
        for c in [c for c in exp["controls"] if c["rule"] == rule]:
            ck.ok(c["id"] not in by_id, "%s control %s silent (%s)" % (rule, c["id"], c["why"]))
        unexpected = [a["id"] for a in got if a["id"] not in planted]
        ck.ok(not unexpected, "%s: no unexpected alerts" % rule, ", ".join(unexpected[:10]))
        precision = correct / len(got) if got else (1.0 if not want else 0.0)
        recall = correct / len(want) if want else 1.0
        table.append((rule, len(want), len(got), correct, len(unexpected), precision, recall))
        ck.ok(precision == 1.0 and recall == 1.0, "%s: precision and recall 1.0" % rule,
              "precision %.2f recall %.2f" % (precision, recall))
    # Data quality over every row: the conflict that lives only in rows no rule
    # needs (a resident's HR contribution rows under another name) is reported
    # with both records as evidence.
    for w in [a for a in exp["alerts"] if a["note"].startswith("data quality:")]:
        g = by_id.get(w["id"]) or {}
        srcs = sorted({e.get("source") for e in g.get("evidence", [])})
        ck.ok(srcs == ["grid", "hr"], "%s: reported with the grid and HR records as evidence" % w["note"],
              "evidence sources %r" % srcs)
    print()
    print("%-28s %7s %5s %7s %10s %9s %6s" % ("rule", "planted", "found", "correct", "unexpected",
                                               "precision", "recall"))
    for r in table:
        print("%-28s %7d %5d %7d %10d %9.2f %6.2f" % r)
    print()


def check_quarantine(ck, dirpath, exp):
    path = os.path.join(dirpath, "state.db")
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        rows = db.execute("SELECT source, ref, reason FROM quarantine").fetchall()
        dq = db.execute("SELECT DISTINCT source FROM dq").fetchall()
        db.close()
    except sqlite3.Error as e:
        ck.ok(False, "quarantine readable in %s" % path, str(e))
        return
    for q in exp["quarantine"]:
        hits = [r for r in rows if r[0] == q["source"] and r[1] == q["ref"]]
        ck.ok(any(q["reason_contains"].lower() in (r[2] or "").lower() for r in hits),
              "quarantine holds %s %s with a reason containing '%s'" % (q["source"], q["ref"], q["reason_contains"]),
              "found %r" % [r[2] for r in hits])
    counted = {r[0] for r in dq}
    for src in sorted({q["source"] for q in exp["quarantine"]}):
        ck.ok(src in counted, "data-quality counts recorded for source %s" % src)


# ---------------------------------------------------------------- the sinks

def check_sinks(ck, dirpath, exp, alerts, routes):
    want = {s: {a["id"]: a for a in alerts if s in sinks_of(a, routes)} for s in SINK_SOURCES}
    grid_of = {a["id"]: a["grid"] for a in exp["alerts"] if "grid" in a}

    def same_set(sink, ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        ck.ok(not dup, "%s sink: every alert exactly once" % sink, ", ".join(dup[:10]))
        missing = sorted(set(want[sink]) - set(ids))
        extra = sorted(set(ids) - set(want[sink]))
        ck.ok(not missing and not extra, "%s sink: holds the %d alerts routed to it and nothing else"
              % (sink, len(want[sink])), "missing %s extra %s" % (missing[:10], extra[:10]))

    # HR: yl_ycyj
    rows = psql("hr", "SELECT yjbh, coalesce(sfzhm,''), yjlx, je::text, coalesce(qsny,''), coalesce(zzny,'') "
                      "FROM yl_ycyj ORDER BY yjbh")
    same_set("hr", [r[0] for r in rows])
    bad = []
    for yjbh, sfzhm, yjlx, je, qsny, zzny in rows:
        a = want["hr"].get(yjbh)
        if a is None:
            continue
        per = a.get("periods") or []
        exp_row = (a.get("id_no") or "", a["rule"], per[0].replace("-", "") if per else "",
                   per[-1].replace("-", "") if per else "")
        if (sfzhm, yjlx, qsny, zzny) != exp_row or not num_eq(je, a["amount"]):
            bad.append("%s: %r" % (yjbh, (sfzhm[:4] + "…", yjlx, je, qsny, zzny)))
    ck.ok(not bad, "hr sink: id, rule, amount (yuan) and periods match the export", "; ".join(bad[:5]))

    # grid: wg_hcrw
    rows = psql("grid", "SELECT rwbh, wgbm, yjlx, length(nr), zt, coalesce(hcjg,'') FROM wg_hcrw ORDER BY rwbh")
    same_set("grid", [r[0] for r in rows])
    bad = []
    for rwbh, wgbm, yjlx, nrlen, zt, hcjg in rows:
        a = want["grid"].get(rwbh)
        if a is None:
            continue
        cell = grid_of.get(rwbh)
        if yjlx != a["rule"] or int(nrlen) < 10 or (cell is not None and wgbm != (cell or "未分配")):
            bad.append("%s: cell %s (want %s), rule %s, text length %s" % (rwbh, wgbm, cell, yjlx, nrlen))
    ck.ok(not bad, "grid sink: tasks in the person's cell (未分配 when none) with the explanation",
          "; ".join(bad[:5]))
    unassigned = [i for i, c in grid_of.items() if c == "" and i in want["grid"]]
    ck.ok(bool(unassigned), "grid sink: the oracle has an alert without a grid cell (未分配 case)")

    # civil: mz_yjxx (SQLite)
    rows = civil_rows(dirpath, "SELECT yjbh, coalesce(ajbh,''), yjlx, je FROM mz_yjxx ORDER BY yjbh")
    same_set("civil", [r[0] for r in rows])
    # The civil system is a GBK legacy database (encoding = GBK in the config):
    # what the gateway writes must be GBK too, or its own screens show mojibake.
    raw = sqlite3.connect("file:%s?mode=ro" % os.path.join(dirpath, "civil.db"), uri=True)
    raw.text_factory = bytes
    bad = []
    for yjbh, sm in raw.execute("SELECT yjbh, sm FROM mz_yjxx ORDER BY yjbh"):
        a = want["civil"].get(yjbh.decode("ascii", "replace"))
        title = (a or {}).get("rule_title")
        try:
            text = (sm or b"").decode("gbk")
        except UnicodeDecodeError:
            text = None
        if a is not None and title and (text is None or title not in text):
            bad.append(yjbh.decode("ascii", "replace"))
    raw.close()
    ck.ok(not bad, "civil sink: summary text written in the source's encoding (GBK)",
          "%d rows not GBK, e.g. %s" % (len(bad), ", ".join(bad[:3])))
    bad = []
    for yjbh, ajbh, yjlx, je in rows:
        a = want["civil"].get(yjbh)
        if a is None:
            continue
        if yjlx != a["rule"] or not num_eq(je, a["amount"]) or ajbh != (a.get("case") or ""):
            bad.append("%s: %r" % (yjbh, (ajbh, yjlx, je)))
    ck.ok(not bad, "civil sink: case, rule and amount match the export", "; ".join(bad[:5]))

    # psb: notices
    try:
        notices = psb_get(dirpath, "/api/v1/notices")["data"]["items"]
    except (urllib.error.URLError, KeyError, ValueError) as e:
        ck.ok(False, "psb notices readable", str(e))
        return
    same_set("psb", [n["id"] for n in notices])
    idc_psb = [a["id"] for a in exp["alerts"] if a["rule"] == "identity_conflict"
               and a["id"] in want["psb"]]
    ck.ok(len(idc_psb) >= 2, "psb sink: the identity conflicts found in PSB records were noticed there",
          "%d such alerts routed to psb" % len(idc_psb))


def dump(dirpath, out):
    with open(out, "w", encoding="utf-8") as f:
        f.write("== hr.yl_ycyj\n")
        for r in psql("hr", "SELECT * FROM yl_ycyj ORDER BY yjbh"):
            f.write("\t".join(r) + "\n")
        f.write("== grid.wg_hcrw\n")
        for r in psql("grid", "SELECT * FROM wg_hcrw ORDER BY rwbh"):
            f.write("\t".join(r) + "\n")
        f.write("== civil.mz_yjxx\n")
        for r in civil_rows(dirpath, "SELECT * FROM mz_yjxx ORDER BY yjbh"):
            f.write("\t".join("NULL" if v is None else str(v) for v in r) + "\n")
        f.write("== psb.notices\n")
        f.write(json.dumps(psb_get(dirpath, "/api/v1/notices"), ensure_ascii=False, sort_keys=True, indent=1))
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description="checks a gateway run over the demo city")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("export")
    c.add_argument("--config", default=DEFAULT_CONFIG)
    d = sub.add_parser("dump")
    d.add_argument("dir")
    d.add_argument("out")
    s = sub.add_parser("status")
    s.add_argument("export")
    s.add_argument("id")
    s.add_argument("status")
    w = sub.add_parser("warnings")
    w.add_argument("dir")
    w.add_argument("log")
    args = ap.parse_args()

    if args.cmd == "dump":
        dump(args.dir, args.out)
        return 0
    ck = Checker()
    if args.cmd == "status":
        got = [a.get("status") for a in load_export(args.export) if a.get("id") == args.id]
        ck.ok(got == [args.status], "alert %s has status %s" % (args.id, args.status), "got %r" % got)
        return ck.finish()
    with open(os.path.join(args.dir, "expected.json"), encoding="utf-8") as f:
        exp = json.load(f)
    if args.cmd == "warnings":
        with open(args.log, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        for wn in exp.get("warnings", []):
            hit = [ln for ln in lines if "[warn] %s: " % wn["source"] in ln and wn["contains"] in ln]
            ck.ok(len(hit) == 1, "log warns once (%s): %s" % (wn["source"], wn["contains"]), "%d lines" % len(hit))
        return ck.finish()
    alerts = load_export(args.export)
    ck.ok(len(alerts) > 0, "export holds alerts (%d)" % len(alerts))
    check_oracle(ck, exp, alerts)
    check_quarantine(ck, args.dir, exp)
    try:
        check_sinks(ck, args.dir, exp, alerts, load_routes(args.config))
    except RuntimeError as e:
        ck.ok(False, "sinks readable", str(e))
    return ck.finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""benchlib.py - helpers for scripts/bench/run.sh (Python stdlib only; not meant
to be run by hand). Subcommands:

  stamp LOG TLOG          copy stdin to LOG, and to TLOG with each line prefixed
                          by the wall clock (epoch seconds, microseconds) at which
                          it arrived: stage times finer than the log's seconds
  snapshot STATE_DB OUT   alerts and outbox rows before a cycle, for counters
  counters STATE_DB [SNAP]
                          JSON: the last cycle's id and what it wrote in the state
                          store (facts written/new, alerts touched, deliveries;
                          with SNAP, by comparing rows with the snapshot); null
                          for what this store's schema does not expose
  rules-tsv CITY OUT      death.tsv and custody.tsv for the rules-vs-SQL check,
                          from psb.json and civil.db (the grid reports come by COPY)
  rules-compare EXPORT SQL1 SQL5 RAWIDS
                          compares gridgate's pension_after_death and
                          pension_in_custody alerts (alerts export) with the SQL
                          results (id<TAB>fen), on ids that need no normalization
  alerts-compare A B      compares two alerts exports on (id, amount, confidence)
                          of the alerts that are not withdrawn; JSON
  alerts-count EXPORT     JSON: open alerts per rule
"""
import json
import re
import sqlite3
import sys
import time

CLEAN = re.compile(r"^[0-9]{17}[0-9X]$")
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def valid_id(s):
    """A GB 11643 id in its clean 18-character form with a right check character."""
    if not CLEAN.match(s or ""):
        return False
    return "10X98765432"[sum(int(c) * w for c, w in zip(s[:17], W)) % 11] == s[17]


def stamp(log, tlog):
    with open(log, "w", encoding="utf-8", errors="replace") as a, \
            open(tlog, "w", encoding="utf-8", errors="replace") as b:
        for line in sys.stdin.buffer:
            t = time.time()
            s = line.decode("utf-8", "replace")
            a.write(s)
            b.write("%.6f %s" % (t, s))
    return 0


def _rows(db, q):
    try:
        return {str(r[0]): list(r[1:]) for r in db.execute(q)}
    except sqlite3.Error:
        return None


SNAP_ALERTS = "SELECT id, version, status, updated_at, status_at, fingerprint, amount FROM alerts"
SNAP_OUTBOX = "SELECT id, status, attempts, done_at FROM outbox"


def snapshot(path, out):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"alerts": _rows(db, SNAP_ALERTS), "outbox": _rows(db, SNAP_OUTBOX)}, f)
    return 0


def counters(path, snap=None):
    out = {"cycle": None, "facts_written": None, "facts_new": None, "facts_total": None,
           "alerts_touched": None, "deliveries": None}
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    except sqlite3.Error as e:
        out["error"] = str(e)
        print(json.dumps(out))
        return 0

    def one(q, *a):
        try:
            r = db.execute(q, a).fetchone()
            return r[0] if r else None
        except sqlite3.Error:
            return None
    c = one("SELECT max(id) FROM cycles")
    start = one("SELECT started_at FROM cycles WHERE id = ?", c)
    out["cycle"] = c
    out["facts_written"] = one("SELECT count(*) FROM facts WHERE last_cycle = ?", c)
    out["facts_new"] = one("SELECT count(*) FROM facts WHERE first_cycle = ?", c)
    out["facts_total"] = one("SELECT count(*) FROM facts")
    if start is not None:
        out["alerts_touched"] = one("SELECT count(*) FROM alerts WHERE updated_at >= ?1 OR status_at >= ?1", start)
        out["deliveries"] = one("SELECT count(*) FROM outbox WHERE done_at >= ?", start)
    if snap:
        # against a snapshot taken before the cycle (run.sh waits a second first,
        # so a rewrite shows in the one-second updated_at even with equal values)
        with open(snap, encoding="utf-8") as f:
            before = json.load(f)
        al, ob = _rows(db, SNAP_ALERTS), _rows(db, SNAP_OUTBOX)
        if al is not None and before["alerts"] is not None:
            out["alerts_touched"] = sum(1 for k, v in al.items() if before["alerts"].get(k) != v)
        if ob is not None and before["outbox"] is not None:
            out["deliveries"] = sum(1 for k, v in ob.items() if before["outbox"].get(k) != v and v[0] == "done")
            out["outbox_new"] = len(set(ob) - set(before["outbox"]))
    print(json.dumps(out))
    return 0


def rules_tsv(city, outdir):
    with open(city + "/psb.json", encoding="utf-8") as f:
        psb = json.load(f)
    n = 0
    with open(outdir + "/death.tsv", "w", encoding="utf-8") as f:
        for d in psb["deaths"]:
            if d.get("swrq") and d.get("gmsfhm"):
                f.write("%s\t%s\thousehold_deregistration\t%s\n" % (d["gmsfhm"], d["swrq"],
                                                                    "t" if d.get("hfbz") == "1" else "f"))
                n += 1
        db = sqlite3.connect(city + "/civil.db")
        for sfzhm, swrq in db.execute("SELECT sfzhm, swrq FROM mz_hhdj WHERE sfzhm IS NOT NULL AND swrq <> ''"):
            f.write("%s\t%s\tcremation\tf\n" % (sfzhm, swrq))
            n += 1
    with open(outdir + "/custody.tsv", "w", encoding="utf-8") as f:
        for c in psb["custody"]:
            f.write("%s\t%s\t%s\t%s\n" % (c.get("gmsfhm") or "\\N", c.get("lx") or "\\N",
                                          c.get("ksrq") or "\\N", c.get("jsrq") or "\\N"))
    return 0


def load_export(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


def rules_compare(export, sql1, sql5, rawids):
    """Ids that need no normalization: every raw id form seen for them in the
    rows loaded for SQL is already the clean 18-character form, and the id is
    valid. Ids with any other spelling (15 digits, lower-case x, blanks,
    full-width digits) are left out on both sides."""
    dirty = set()
    with open(rawids, encoding="utf-8") as f:
        for line in f:
            raw = line.rstrip("\n")
            if not CLEAN.match(raw):
                norm = raw.strip().upper().translate({0xFF10 + i: 0x30 + i for i in range(10)})
                norm = norm.replace(" ", "").replace("\u3000", "").replace("Ｘ", "X")
                if re.match(r"^[0-9]{15}$", norm):      # legacy 15 digits: born 19xx
                    b = norm[:6] + "19" + norm[6:]
                    norm = b + "10X98765432"[sum(int(c) * w for c, w in zip(b, W)) % 11]
                dirty.add(norm)
    res = {}
    for rule, path in (("pension_after_death", sql1), ("pension_in_custody", sql5)):
        sql = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    i, fen = line.rstrip("\n").split("\t")
                    sql[i] = int(fen)
        gg = {}
        for a in load_export(export):
            if a.get("rule") != rule or a.get("status") == "withdrawn":
                continue
            subj = a.get("subject", "")
            if subj.startswith("person:"):
                gg[subj[7:]] = a.get("amount")
        keep = lambda i: valid_id(i) and i not in dirty  # noqa: E731
        s = {i: v for i, v in sql.items() if keep(i)}
        g = {i: v for i, v in gg.items() if keep(i)}
        diff = sorted(set(s) ^ set(g)) + sorted(i for i in set(s) & set(g) if s[i] != g[i])
        res[rule] = {"sql": len(s), "gridgate": len(g), "same": len(s) - len([i for i in diff if i in s]),
                     "differ": len(diff), "sql_fen": sum(s.values()), "gridgate_fen": sum(g.values()),
                     "left_out_sql": len(sql) - len(s), "left_out_gridgate": len(gg) - len(g),
                     "examples": [i[:4] + "*" * 10 + i[-4:] for i in diff[:3]]}
    print(json.dumps(res))
    return 0


def alerts_compare(a, b):
    def key(path):
        return {x["id"]: (x.get("amount"), x.get("confidence")) for x in load_export(path)
                if x.get("status") != "withdrawn"}
    ka, kb = key(a), key(b)
    only_a, only_b = sorted(set(ka) - set(kb)), sorted(set(kb) - set(ka))
    changed = sorted(i for i in set(ka) & set(kb) if ka[i] != kb[i])
    print(json.dumps({"a": len(ka), "b": len(kb), "only_a": len(only_a), "only_b": len(only_b),
                      "changed": len(changed), "same": not (only_a or only_b or changed),
                      "examples": (only_a + only_b + changed)[:3]}))
    return 0


def alerts_count(path):
    c = {}
    for a in load_export(path):
        if a.get("status") != "withdrawn":
            c[a["rule"]] = c.get(a["rule"], 0) + 1
    print(json.dumps(dict(sorted(c.items()))))
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "counters":
        return counters(argv[2], argv[3])
    cmds = {"stamp": (stamp, 2), "counters": (counters, 1), "snapshot": (snapshot, 2), "rules-tsv": (rules_tsv, 2),
            "rules-compare": (rules_compare, 4), "alerts-compare": (alerts_compare, 2),
            "alerts-count": (alerts_count, 1)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        sys.stderr.write(__doc__)
        return 2
    return cmds[argv[1]][0](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

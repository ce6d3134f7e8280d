#!/usr/bin/env python3
"""collect.py - turns one benchmark size's raw files (gridgate logs, GNU time
output, exit codes, the generator's scale.json) into result-N.json for
report.py. Called by scripts/bench/run.sh; not meant to be run by hand.

    collect.py --work DIR --residents N --floor S --floor-ordered S
               --floor-parts JSON --psql-connect S --gen-seconds S --gen-rss-kb K
               --load-seconds S --alerts JSON --state-bytes B --build-type T
               --steady-counts JSON --rules-sql JSON --incremental JSON [--profiled]
               --cycles "cold1 .. steady1 .. nopush1 incfull1 inc1 recompute1" --out FILE

DIR holds city/scale.json and, per run,
NAME.log (gridgate's stderr), NAME.out, NAME.time (/usr/bin/time -v),
NAME.rc, NAME.wall (seconds measured by run.sh), NAME.load (the 1-minute
load average before the run) and NAME.tlog (the log with each line's arrival
time, for stage times finer than the log's one-second stamps), for NAME in
--cycles and perf. Kinds: cold (full cycle with push, empty store), steady (the
next cycle, nothing changed), nopush (full cycle without push), incfull (full
cycle with the incremental adapter), inc (after 1% changed), recompute (full
recomputation of the changed data from an empty store).
"""
import argparse
import datetime as dt
import json
import os
import re
import sys

STREAM_RE = re.compile(
    r"^(\S+) \[info\] (\S+): stream (\S+) \((\S+)\): (\d+) records, (\d+) kept, (\d+) not of interest, "
    r"(\d+) rejected, (\d+) invalid ids, ([0-9.]+)s$")
LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \[(\w+)\] ([^:]+): (.*)$")
# the first match of a store builds the touched log's indexes (store/touched.c)
INDEX_BUILD_RE = re.compile(r"touched log on: its indexes were built in ([0-9.]+) s"
                            r"|index build beside the core: waited ([0-9.]+) s")
PHASE2_KINDS = {"payment", "income"}


def parse_time_file(path):
    """GNU time -v output -> dict of the figures we use."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            k, _, v = line.strip().rpartition(": ")
            if k == "Maximum resident set size (kbytes)":
                out["max_rss_kb"] = int(v)
            elif k == "User time (seconds)":
                out["user_s"] = float(v)
            elif k == "System time (seconds)":
                out["sys_s"] = float(v)
    return out


def ts(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")


def parse_log(path):
    """gridgate's log -> streams, the cycle summary, coarse phase times (the
    log's timestamps have one-second resolution), warnings/errors count."""
    res = {"streams": [], "summary": None, "identity": None, "warnings": 0, "errors": 0, "phases_coarse": {}}
    if not os.path.exists(path):
        return res
    marks = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = STREAM_RE.match(line)
            if m:
                when, source, stream, kind, records, kept, skipped, rejected, invalid, secs = m.groups()
                res["streams"].append(dict(source=source, stream=stream, kind=kind, records=int(records),
                                           kept=int(kept), skipped=int(skipped), rejected=int(rejected),
                                           invalid_ids=int(invalid), seconds=float(secs),
                                           phase=2 if kind in PHASE2_KINDS else 1))
                key = "end_phase2" if kind in PHASE2_KINDS else "end_phase1"
                marks[key] = ts(when)
                continue
            m = LINE_RE.match(line)
            if not m:
                continue
            when, level, comp, msg = m.groups()
            if level == "warn":
                res["warnings"] += 1
            elif level == "error":
                res["errors"] += 1
            if comp == "cycle" and msg.startswith("cycle") and "started" in msg:
                marks["start"] = ts(when)
            elif comp == "cycle" and msg.startswith("subjects of interest"):
                marks["interest"] = ts(when)
                res["interest"] = msg
            elif comp == "identity":
                marks["identity"] = ts(when)
                res["identity"] = msg
            elif comp == "cycle" and " done: " in msg:
                marks["done"] = ts(when)
                try:
                    res["summary"] = json.loads(msg.split(" done: ", 1)[1])
                except ValueError:
                    pass

    def span(a, b):
        if a in marks and b in marks:
            return (marks[b] - marks[a]).total_seconds()
        return None

    # The early phase 2 (an unchanged night): the payment and income streams
    # ran beside phase 1 and the interest line comes after them.
    early = "interest" in marks and "end_phase2" in marks and marks["interest"] >= marks["end_phase2"]
    res["early_phase2"] = early
    res["phases_coarse"] = {
        "phase1_pull": span("start", "end_phase1"),
        "interest": None if early else span("end_phase1", "interest"),
        "phase2_pull": span("start", "end_phase2") if early else span("interest", "end_phase2"),
        "load_and_identity": span("end_phase2", "identity"),
        "rules_and_alerts": span("identity", "done"),
    }
    return res


def parse_tlog(path):
    """Stage times (seconds) from the arrival-stamped log: pull of the
    person/death/... streams, interest set, payment/income pulls, loading the
    kept facts + identity resolution, rules + alerts (+ delivery when pushing)."""
    marks = {}
    index_build = None  # the one-time index builds the match waited for (in "rules_alerts")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            t, _, rest = line.rstrip("\n").partition(" ")
            try:
                t = float(t)
            except ValueError:
                continue
            m = STREAM_RE.match(rest)
            if m:
                marks["end_phase2" if m.group(4) in PHASE2_KINDS else "end_phase1"] = t
                continue
            m = LINE_RE.match(rest)
            if not m:
                continue
            comp, msg = m.group(3), m.group(4)
            if comp == "cycle" and msg.startswith("cycle") and msg.endswith("started"):
                marks["start"] = t
            elif comp == "cycle" and msg.startswith("subjects of interest"):
                marks["interest"] = t
            elif comp == "identity":
                marks["identity"] = t
            elif comp == "cycle" and " done: " in msg:
                marks["done"] = t
            elif comp == "state":
                ib = INDEX_BUILD_RE.search(msg)
                if ib:  # the touched log's build and the wait for the build beside the match, summed
                    index_build = (index_build or 0.0) + float(ib.group(1) or ib.group(2))

    def span(a, b):
        return round(marks[b] - marks[a], 3) if a in marks and b in marks else None
    early = "interest" in marks and "end_phase2" in marks and marks["interest"] >= marks["end_phase2"]
    if early:  # phase 2 beside phase 1 (see parse_log)
        return {"pull_phase1": span("start", "end_phase1"), "pull_phase2_beside_phase1": span("start", "end_phase2"),
                "rest": span("end_phase2", "done")}
    return {"pull_phase1": span("start", "end_phase1"), "interest": span("end_phase1", "interest"),
            "pull_phase2": span("interest", "end_phase2"), "load_identity": span("end_phase2", "identity"),
            "rules_alerts": span("identity", "done"), "identity_rules": span("end_phase2", "done"),
            "index_builds_waited": index_build}


def cycle_result(work, name):
    if not os.path.exists(os.path.join(work, name + ".rc")):
        return None
    with open(os.path.join(work, name + ".rc")) as f:
        rc = int(f.read().strip() or "-1")
    with open(os.path.join(work, name + ".wall")) as f:
        wall = float(f.read().strip())
    r = {"exit": rc, "wall_s": wall}
    load = os.path.join(work, name + ".load")
    if os.path.exists(load):
        with open(load) as f:
            r["load"] = float(f.read().strip() or "0")
    r.update(parse_time_file(os.path.join(work, name + ".time")))
    r.update(parse_log(os.path.join(work, name + ".log")))
    r["stages"] = parse_tlog(os.path.join(work, name + ".tlog"))
    pulls = sum(s["seconds"] for s in r["streams"])
    r["pull_s"] = round(pulls, 3)
    if r["summary"] and "seconds" in r["summary"]:
        r["cycle_s"] = r["summary"]["seconds"]
        r["non_pull_s"] = round(r["summary"]["seconds"] - pulls, 3)
    return r


def summarize(runs):
    """Several runs of one kind -> the run with the median wall time (its
    streams and phases stand for the kind), plus min/median/max figures."""
    if not runs:
        return None
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    rep = dict(ordered[(len(ordered) - 1) // 2])
    cpu = sorted(r.get("user_s", 0) + r.get("sys_s", 0) for r in runs)
    rep.update(runs=len(runs), wall_min_s=ordered[0]["wall_s"], wall_max_s=ordered[-1]["wall_s"],
               cpu_median_s=round(cpu[(len(cpu) - 1) // 2], 2),
               max_rss_kb=max(r.get("max_rss_kb", 0) for r in runs),
               loads=[r.get("load") for r in runs], exits=[r["exit"] for r in runs])
    return rep


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--residents", type=int, required=True)
    ap.add_argument("--floor", type=float, required=True)
    ap.add_argument("--floor-ordered", type=float, required=True)
    ap.add_argument("--floor-parts", required=True, help='{"pg:hr.yl_ffmx": [seconds, rows], ...}')
    ap.add_argument("--gen-rss-kb", type=int, default=0)
    ap.add_argument("--steady-counts", default="{}")
    ap.add_argument("--rules-sql", default="null")
    ap.add_argument("--incremental", default="null")
    ap.add_argument("--psql-connect", type=float, required=True)
    ap.add_argument("--gen-seconds", type=float, required=True)
    ap.add_argument("--load-seconds", type=float, required=True)
    ap.add_argument("--alerts", required=True)
    ap.add_argument("--state-bytes", type=int, required=True)
    ap.add_argument("--build-type", required=True)
    ap.add_argument("--profiled", action="store_true")
    ap.add_argument("--cycles", required=True, help="run names, e.g. 'cold1 cold2 steady1 steady2'")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    with open(os.path.join(a.work, "city", "scale.json"), encoding="utf-8") as f:
        scale = json.load(f)
    res = {
        "residents": a.residents,
        "measured_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "build_type": a.build_type,
        "scale": scale,
        "generate_s": a.gen_seconds,
        "load_s": a.load_seconds,
        "floor_s": a.floor,
        "floor_ordered_s": a.floor_ordered,
        "floor_parts": json.loads(a.floor_parts),
        "generate_rss_kb": a.gen_rss_kb,
        "steady_counts": json.loads(a.steady_counts),
        "rules_sql": json.loads(a.rules_sql),
        "incremental": json.loads(a.incremental),
        "psql_connect_s": a.psql_connect,
        "alerts_found": json.loads(a.alerts),
        "state_db_bytes": a.state_bytes,
        "runs": {name: cycle_result(a.work, name) for name in a.cycles.split() + ["perf"]},
        "profiled": a.profiled,
    }
    res["runs"] = {k: v for k, v in res["runs"].items() if v is not None}
    res["cycles"] = {kind: summarize([v for k, v in res["runs"].items() if re.fullmatch(kind + r"\d+", k)])
                     for kind in ("cold", "steady", "nopush", "incfull", "inc", "recompute")}
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

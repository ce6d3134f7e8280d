#!/usr/bin/env python3
"""report.py - writes BENCHMARKS.md from the result-N.json files of
scripts/bench/run.sh (and the perf-N-*.txt profiles next to them).

    report.py --results DIR --out BENCHMARKS.md

The hand-written analysis between the markers
  <!-- analysis:begin --> ... <!-- analysis:end -->
of an existing BENCHMARKS.md is kept; everything else is regenerated.
"""
import argparse
import glob
import json
import os
import platform
import re
import subprocess
import sys

BEGIN, END = "<!-- analysis:begin -->", "<!-- analysis:end -->"
DEFAULT_ANALYSIS = BEGIN + "\n(no analysis written yet)\n" + END


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "mem": "%.1f GiB" % (mem_kb / 1048576),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        "cc": sh("cc --version | head -n 1"),
        "postgres": sh("\"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/postgres\" --version"),
        "python": platform.python_version(),
    }


def fmt_s(v):
    return "-" if v is None else "%.2f s" % v


def fmt_n(v):
    return "-" if v is None else "{:,}".format(v)


def mib(kb):
    return "-" if kb is None else "%.0f MiB" % (kb / 1024)


def ratio(a, b):
    return "-" if a is None or not b else "%.2fx" % (a / b)


def stream(c, name):
    for s in (c or {}).get("streams", []):
        if s["stream"] == name:
            return s
    return None


def rows_per_s(s):
    if not s or not s["seconds"]:
        return "-"
    return "{:,.0f}".format(s["records"] / s["seconds"])


def size_section(r, results_dir):
    n = r["residents"]
    sc = r["scale"]["counts"]
    cold, steady = r["cycles"].get("cold"), r["cycles"].get("steady")
    out = ["## %s residents" % fmt_n(n), ""]
    out.append("Measured %s, build %s. Source rows: %s pension payments (yl_ffmx), %s residents (wg_jmxx), "
               "%s contribution rows (sb_jfjs), %s cases with %s members and %s case payments, "
               "%s deregistrations, %s cremations, %s grid death reports, %s vehicles. "
               "Generated in %.0f s, loaded into PostgreSQL (COPY + indexes + VACUUM ANALYZE) in %.0f s."
               % (r["measured_at"], r["build_type"], fmt_n(sc["yl_ffmx"]), fmt_n(sc["wg_jmxx"]),
                  fmt_n(sc["sb_jfjs"]), fmt_n(sc["mz_dbaj"]), fmt_n(sc["mz_jtcy"]), fmt_n(sc["mz_jzff"]),
                  fmt_n(sc["psb_deaths"]), fmt_n(sc["mz_hhdj"]), fmt_n(sc["grid_death_reports"]),
                  fmt_n(sc["psb_vehicles"]), r["generate_s"], r["load_s"]))
    out.append("")
    ft = r["floor_tables_s"]
    out += ["| measure | value |", "|---|---|",
            "| floor: COPY of the adapters' columns, yl_ffmx + wg_jmxx + sb_jfjs (median of 3) | %s |"
            % fmt_s(r["floor_s"]),
            "| ... per table, one round | yl_ffmx %s, wg_jmxx %s, sb_jfjs %s |"
            % (fmt_s(ft.get("yl_ffmx")), fmt_s(ft.get("wg_jmxx")), fmt_s(ft.get("sb_jfjs"))),
            "| floor with the adapters' ORDER BY | %s |" % fmt_s(r["floor_ordered_s"]),
            "| ... of which psql start + connect, per table (`SELECT 1`) | %s |" % fmt_s(r.get("psql_connect_s"))]
    for label, c in (("cycle from an empty state store", cold), ("next cycle, same state store", steady)):
        if not c:
            out.append("| %s | not run |" % label)
            continue
        out.append("| %s: wall time of the process, median of %d | %s (min %s, max %s; exit %s; "
                   "load average before: %s) |"
                   % (label, c["runs"], fmt_s(c["wall_s"]), fmt_s(c["wall_min_s"]), fmt_s(c["wall_max_s"]),
                      "/".join(str(e) for e in c["exits"]),
                      ", ".join("%.1f" % x for x in c["loads"] if x is not None)))
        out.append("| ... ratio to the floor (median / min) | **%s** / %s |"
                   % (ratio(c["wall_s"], r["floor_s"]), ratio(c["wall_min_s"], r["floor_s"])))
        out.append("| ... peak RSS (max over runs) | %s |" % mib(c.get("max_rss_kb")))
        out.append("| ... CPU user + sys, median | %s |" % fmt_s(c.get("cpu_median_s")))
        pp = stream(c, "pension_payments")
        out.append("| ... payment stream (pension_payments) | %s rows in %s = %s rows/s, %s kept |"
                   % (fmt_n(pp["records"]) if pp else "-", fmt_s(pp["seconds"]) if pp else "-", rows_per_s(pp),
                      fmt_n(pp["kept"]) if pp else "-"))
        out.append("| ... all stream pulls / the rest of the cycle (interest, load, identity, rules, alerts) "
                   "| %s / %s |" % (fmt_s(c.get("pull_s")), fmt_s(c.get("non_pull_s"))))
    out.append("| state store after the first cycle | %.1f MiB |" % (r["state_db_bytes"] / 1048576))
    planted, found = r["scale"]["planted"], r["alerts_found"]
    rules = sorted(set(planted) | set(found))
    out.append("| alerts found / planted | %s |" % ", ".join(
        "%s %d/%d%s" % (k, found.get(k, 0), planted.get(k, 0),
                        "" if found.get(k, 0) == planted.get(k, 0) else " **(differs)**")
        for k in rules if found.get(k, 0) or planted.get(k, 0)))
    out.append("")
    if cold:
        out += ["Per stream (first cycle | second cycle):", "",
                "| source | stream | kind | records | kept | rejected | invalid ids | seconds | seconds (2nd) |",
                "|---|---|---|---|---|---|---|---|---|"]
        for s in cold["streams"]:
            s2 = stream(steady, s["stream"])
            out.append("| %s | %s | %s | %s | %s | %s | %s | %.2f | %s |"
                       % (s["source"], s["stream"], s["kind"], fmt_n(s["records"]), fmt_n(s["kept"]),
                          fmt_n(s["rejected"]), fmt_n(s["invalid_ids"]), s["seconds"],
                          "%.2f" % s2["seconds"] if s2 else "-"))
        pc = cold.get("phases_coarse") or {}
        out += ["", "Phases of the first cycle from the log's timestamps (one-second resolution): "
                + ", ".join("%s %s" % (k.replace("_", " "), "-" if v is None else "%.0f s" % v)
                            for k, v in pc.items()) + ".",
                "", "Log: `%s`; `%s`." % (cold.get("interest") or "", cold.get("identity") or ""), ""]
    if r.get("profiled"):
        for name, title in (("perf-%d.txt", "Profile of a further cycle from an empty state store (`perf record -F 199 "
                                            "--call-graph dwarf`, broken down by `scripts/bench/perf_breakdown.py`)"),
                            ("perf-%d-dso.txt", "Self time by shared object")):
            p = os.path.join(results_dir, name % n)
            if os.path.exists(p):
                with open(p, encoding="utf-8", errors="replace") as f:
                    lines = [re.sub(r"(\s+-)+\s*$", "", ln.rstrip()) for ln in f]
                while lines and not lines[-1]:
                    lines.pop()
                if lines:
                    out += [title + ":", "", "```"] + lines + ["```", ""]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    results = []
    for p in glob.glob(os.path.join(a.results, "result-*.json")):
        with open(p, encoding="utf-8") as f:
            results.append(json.load(f))
    if not results:
        sys.exit("report.py: no result-*.json in %s" % a.results)
    results.sort(key=lambda r: r["residents"])

    analysis = DEFAULT_ANALYSIS
    if os.path.exists(a.out):
        with open(a.out, encoding="utf-8") as f:
            old = f.read()
        m = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), old, re.S)
        if m:
            analysis = m.group(0)

    mc = machine()
    out = ["# Benchmarks", "",
           "Generated by `scripts/bench/run.sh` (figures) and kept up to date by hand (analysis). "
           "Speed is measured here, not asserted in tests. The city is the demo city scaled up by "
           "`scripts/bench/gen_scale.py` in the demo's native schemas, read through the unchanged demo "
           "adapters and `conf/demo.ini`; `gridgate run --once --no-push` is timed from an empty state store "
           "and again on the same store.", "",
           "Roadmap target (not yet required): a full cycle at 1M residents within 1.5x the time of merely "
           "reading the source tables, with memory that grows with deaths and cases rather than with all "
           "payment rows.", "",
           "Machine: %d CPUs (%s), %s RAM, %s, kernel %s; %s; %s; Python %s."
           % (mc["nproc"], mc["cpu"], mc["mem"], mc["os"], mc["kernel"], mc["cc"], mc["postgres"], mc["python"]),
           "PostgreSQL runs on the same machine (loopback, fsync off), as does the Python PSB service.", "",
           "## Summary", "",
           "| residents | payment rows | floor | cycle (empty store) | ratio | CPU | peak RSS | 2nd cycle | ratio | "
           "peak RSS | payment stream rows/s | alerts found/planted |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        cold, steady = r["cycles"].get("cold") or {}, r["cycles"].get("steady") or {}
        planted, found = r["scale"]["planted"], r["alerts_found"]
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |"
                   % (fmt_n(r["residents"]), fmt_n(r["scale"]["counts"]["yl_ffmx"]), fmt_s(r["floor_s"]),
                      fmt_s(cold.get("wall_s")), ratio(cold.get("wall_s"), r["floor_s"]),
                      fmt_s(cold.get("cpu_median_s")), mib(cold.get("max_rss_kb")),
                      fmt_s(steady.get("wall_s")), ratio(steady.get("wall_s"), r["floor_s"]),
                      mib(steady.get("max_rss_kb")), rows_per_s(stream(cold, "pension_payments")),
                      sum(found.values()), sum(planted.values())))
    out += ["", "floor: reading the adapters' columns of yl_ffmx, wg_jmxx and sb_jfjs with `psql -c \"COPY (SELECT "
            "...) TO STDOUT\" > /dev/null` (sum of the three, median of 3 rounds). cycle: wall time of "
            "`gridgate run --once --no-push` (median of the runs; each from an empty state store); CPU: its "
            "user + sys time; 2nd cycle: again on the same state store. ratio = cycle / floor. Wall times "
            "depend on other load on the machine (see the load averages per size); CPU times much less.",
            "", "## Analysis", "", analysis, ""]
    for r in results:
        out += size_section(r, a.results)
    out += ["## Reproducing", "",
            "```sh",
            "bash scripts/bench/run.sh --residents 100000 --residents 1000000   # builds build-bench/, "
            "writes BENCHMARKS.md",
            "python3 scripts/bench/gen_scale.py --residents 100000 --out /tmp/city   # the city only",
            "```", "",
            "run.sh starts its own PostgreSQL cluster and PSB service on random free ports and removes them and "
            "its temporary directory on exit; raw results and logs stay in `build-bench/results/`.", ""]
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

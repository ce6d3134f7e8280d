#!/usr/bin/env bash
# tests/integration/daemon.sh - `gridgate run` as a daemon over the demo city,
# at debug level with log_format = json and a log_file: every log line is a
# JSON object with ts/level/component/msg; the file is created 0600; SIGHUP
# with a broken configuration keeps the daemon running on the old one and logs
# why (file:line); SIGHUP with a changed label applies it (the changed source
# is re-pulled, the unchanged ones keep their schedule); a logrotate-style
# rename plus SIGHUP reopens the file; SIGTERM exits 0 within shutdown_timeout;
# and no line of the run carries a demo id number in any form or a resident's
# name. Every wait is bounded.
set -uo pipefail
. "$(dirname "$0")/../lib/city.sh"

city_start
log=$work/gg.log
conf() { # conf LABEL_OF_HR [extra]: the demo config with the daemon settings
  city_conf "$work/gg.ini" "$2"
  sed -i -e "s#^log_level = info#log_level = debug\nlog_format = json\nlog_file = $log\nshutdown_timeout = 10#" \
    -e "0,/^label = 人社\$/s//label = $1/" "$work/gg.ini"
}
conf 人社 ""
umask 022

"$gg" -v run --interval 2 -c "$work/gg.ini" >"$work/run.out" 2>"$work/run.err" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; city_cleanup' EXIT

# wait_for SECONDS COMMAND...: polls every 0.25 s; 0 when COMMAND succeeded
wait_for() {
  local n=$(( $1 * 4 )); shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; kill -0 "$pid" 2>/dev/null || return 1; sleep 0.25; done
  return 1
}
cycles() { grep -c '^cycle ' "$work/run.out"; }
log_has() { grep -qF -- "$1" "$log" 2>/dev/null; }

check "the first cycle completes (within 90 s)" wait_for 90 bash -c "grep -q '^cycle 1:' '$work/run.out'"
check "the log file is created mode 0600" [ "$(stat -c %a "$log" 2>/dev/null)" = 600 ]
check "nothing but JSON lines in the log file, each with ts, level, component, msg" python3 - "$log" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    j = json.loads(line)
    assert isinstance(j, dict), line
    for k in ("ts", "level", "component", "msg"):
        assert isinstance(j.get(k), str), (k, line)
    assert j["level"] in ("debug", "info", "warn", "error"), line
    n += 1
assert n >= 5, n
PY
check "debug lines are there (-v)" grep -q '"level":"debug"' "$log"
check "structured fields: the next pull per source" \
  bash -c "grep '\"msg\":\"next pull scheduled\"' '$log' | grep -q '\"source\":\"hr\",\"failures\":\"0\",\"next\":'"
check "a second cycle runs on schedule (within 30 s)" wait_for 30 bash -c "[ \$(grep -c '^cycle ' '$work/run.out') -ge 2 ]"

# SIGHUP with a broken file: rejected with file:line, the old one runs on.
cp "$work/gg.ini" "$work/good.ini"
printf '[source hr]\nschedule.interval = 15x\n' >>"$work/gg.ini"
bad_line=$(wc -l <"$work/gg.ini")
kill -HUP "$pid"
check "broken configuration: rejected with file:line, logged" \
  wait_for 20 log_has "new configuration rejected, the running one is kept: $work/gg.ini:$bad_line: key schedule.interval"
c0=$(cycles)
check "broken configuration: the daemon keeps running its cycles" wait_for 30 bash -c "[ \$(grep -c '^cycle ' '$work/run.out') -gt $c0 ]"
# a syntax error and an adapter that does not exist
cp "$work/good.ini" "$work/gg.ini"; echo 'this is not ini' >>"$work/gg.ini"
kill -HUP "$pid"
check "syntax error: rejected with file:line" wait_for 20 log_has "the running one is kept: $work/gg.ini:$(wc -l <"$work/gg.ini"): syntax error"
check "still alive after two broken reloads" kill -0 "$pid"

# SIGHUP with a valid changed configuration: hr's label changes; hr is pulled
# again, the others keep their schedule.
conf 人社局 ""
kill -HUP "$pid"
check "valid configuration applied: hr changed, re-pulled, new label in the log" \
  wait_for 20 log_has '"component":"hr","msg":"configuration or adapter changed (label 人社局): pulled again from'
check "unchanged sources keep their schedule" \
  log_has '"component":"grid","msg":"configuration and adapter unchanged: schedule kept"'
check "reload completes" wait_for 10 log_has '"msg":"configuration reloaded: 4 sources'
c0=$(cycles)
check "cycles go on after the reload" wait_for 30 bash -c "[ \$(grep -c '^cycle ' '$work/run.out') -gt $c0 ]"

# logrotate: rename, SIGHUP, the daemon writes to a new file of that name.
mv "$log" "$log.1"
kill -HUP "$pid"
check "after rename + SIGHUP a new log file is written" wait_for 20 log_has 'configuration reloaded: 4 sources'
check "the new log file is mode 0600 too" [ "$(stat -c %a "$log" 2>/dev/null)" = 600 ]
check "the rotated file ends with the SIGHUP line" bash -c "tail -n 1 '$log.1' | grep -q 'SIGHUP: reloading'"
wait_for 30 bash -c "[ \$(grep -c '^cycle ' '$work/run.out') -gt $(cycles) ]"

# SIGTERM: exit 0, within shutdown_timeout (10 s) plus a margin.
t0=$(date +%s%N)
kill -TERM "$pid"
for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
wait "$pid"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
trap city_cleanup EXIT
check "SIGTERM: exit 0 in ${ms} ms (bound 12000)" bash -c "[ $rc = 0 ] && [ $ms -le 12000 ]"
check "the stop is logged" log_has '"msg":"stopping on signal'

# No id number in any form and no resident name in any line of the run.
check "no demo id number (18 or 15 digits, x/X, birth date+sequence) and no name in any log line" \
  python3 - "$GG_DEMO_DIR" "$log.1" "$log" "$work/run.err" "$work/run.out" <<'PY'
import json, re, sys
city, files = sys.argv[1], sys.argv[2:]
text = "\n".join(open(f, encoding="utf-8", errors="replace").read() for f in files)
raw = "".join(open(f"{city}/{n}", encoding="utf-8").read() for n in ("hr.sql", "grid.sql", "psb.json"))
ids = set(re.findall(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])", raw))
psb = json.load(open(f"{city}/psb.json", encoding="utf-8"))
names = {r["xm"] for k in ("deaths", "custody") for r in psb[k] if r.get("xm")}
copy = None
for line in open(f"{city}/grid.sql", encoding="utf-8"):
    if line.startswith("COPY "):
        cols = line[line.index("(") + 1:line.index(")")].split(", ")
        copy = cols.index("xm") if "xm" in cols else None
    elif line.startswith("\\."):
        copy = None
    elif copy is not None:
        names.add(line.rstrip("\n").split("\t")[copy])
names = {n for n in names if n and n != "\\N"}
assert len(ids) > 50 and len(names) > 50, (len(ids), len(names))
flat = re.sub(r"[\s\-]", "", text)
bad = []
for i in ids:
    forms = {i, i.lower(), i[:6] + i[8:17], i[6:17]}
    bad += [f for f in forms if f in text or f in flat]
bad += [n for n in names if n in text]
if bad:
    print("found:", sorted(bad)[:10]); sys.exit(1)
print(f"  scanned {len(text.splitlines())} lines for {len(ids)} ids and {len(names)} names")
PY

city_finish

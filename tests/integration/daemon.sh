#!/usr/bin/env bash
# tests/integration/daemon.sh - `gridgate run` as a daemon over the demo city,
# at debug level with log_format = json and a log_file: every log line is a
# JSON object with ts/level/component/msg; the file is created 0600; SIGHUP
# with a broken configuration keeps the daemon running on the old one and logs
# why (file:line); SIGHUP with a changed label applies it (the changed source
# is re-pulled, the unchanged ones keep their schedule); a logrotate-style
# rename plus SIGHUP reopens the file; SIGTERM exits 0 within shutdown_timeout,
# also while a pull hangs (abandoned, the state store intact);
# the heap asks for huge pages (GLIBC_TUNABLES, the operator's own kept);
# the audit log records pulls (rows, adapter hash), pushes and the unmasked
# export with who; and no line of the run (or of `audit list`) carries a demo id number in any form or a resident's
# name. Every wait is bounded.
set -uo pipefail
. "$(dirname "$0")/../lib/city.sh"

city_start
log=$work/gg.log
conf() { # conf LABEL_OF_HR [CIVIL_SCHEDULE_LINE]: the demo config with the daemon settings
  city_conf "$work/gg.ini"
  sed -i -e "s#^log_level = info#log_level = debug\nlog_format = json\nlog_file = $log\nshutdown_timeout = 10#" \
    -e "0,/^label = 人社\$/s//label = $1/" "$work/gg.ini"
  [ -z "$2" ] || sed -i "s/^label = 民政\$/label = 民政\n$2/" "$work/gg.ini"
}
conf 人社 ""
umask 022

# a tunable of the operator's own is kept beside the huge pages' (app/main.c)
GLIBC_TUNABLES=glibc.malloc.arena_max=4 "$gg" -v run --interval 2 -c "$work/gg.ini" >"$work/run.out" 2>"$work/run.err" &
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
# (glibc splits the variable at its colons in place: each tunable is looked
# for on its own)
check "the daemon runs with huge pages for its heap, the operator's tunables kept (same pid)" \
  bash -c "grep -aq 'glibc.malloc.hugetlb=1' /proc/$pid/environ && grep -aq 'GLIBC_TUNABLES=glibc.malloc.arena_max=4' /proc/$pid/environ"
check "... and keeps its name (ps, top, the journal)" [ "$(cat /proc/$pid/comm 2>/dev/null)" = gridgate ]
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

# SIGHUP with a valid changed configuration: hr's label changes and civil gets
# schedule.interval = 1h; both are pulled again at once, the others keep their
# schedule; from then on civil sits out the 2-second cycles.
conf 人社局 "schedule.interval = 1h"
kill -HUP "$pid"
check "valid configuration applied: hr changed, re-pulled, new label in the log" \
  wait_for 20 log_has '"component":"hr","msg":"configuration or adapter changed (label 人社局): pulled again from'
check "unchanged sources keep their schedule" \
  log_has '"component":"grid","msg":"configuration and adapter unchanged: schedule kept"'
check "reload completes" wait_for 10 log_has '"msg":"configuration reloaded: 5 sources'
c0=$(cycles)
check "cycles go on after the reload" wait_for 30 bash -c "[ \$(grep -c '^cycle ' '$work/run.out') -gt $c0 ]"
after_reload() { sed -n '/configuration reloaded: 5 sources/,$p' "$log" | grep -c "\"component\":\"$1\",\"msg\":\"due: pulled in this cycle\""; }
export -f after_reload; export log
check "per-source schedules: hr (2 s) is pulled 3 times after the reload (within 30 s)" \
  wait_for 30 bash -c '[ $(after_reload hr) -ge 3 ]'
check "per-source schedules: meanwhile civil (schedule.interval = 1h) was pulled once" [ "$(after_reload civil)" = 1 ]

# A source that keeps failing backs off: psb pointed at a closed port with
# schedule.backoff = 1s and backoff_max = 4s; each failure is logged with the
# count and the cap, and hr goes on being pulled.
dead=$(free_port)
conf 人社局 "schedule.interval = 1h"
sed -i -e "s#^conn.api = http:http://127.0.0.1:.*#conn.api = http:http://127.0.0.1:$dead\nschedule.backoff = 1s\nschedule.backoff_max = 4s#" "$work/gg.ini"
kill -HUP "$pid"
check "failing source: the third failure in a row backs off up to 4 s" \
  wait_for 40 log_has '"component":"psb","msg":"pull failed 3 time(s) in a row: backing off up to 4s","source":"psb","failures":"3"'
check "failing source: the first failure backed off up to 1 s" \
  log_has '"msg":"pull failed 1 time(s) in a row: backing off up to 1s"'
n_hr=$(after_reload hr)
check "the other sources keep being pulled meanwhile" wait_for 20 bash -c "[ \$(after_reload hr) -gt $n_hr ]"

# logrotate: rename, SIGHUP, the daemon writes to a new file of that name.
mv "$log" "$log.1"
kill -HUP "$pid"
check "after rename + SIGHUP a new log file is written" wait_for 20 log_has 'configuration reloaded: 5 sources'
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

# SIGTERM during a pull that does not end: psb's service accepts connections
# and never answers. With shutdown_timeout = 2 the daemon abandons the pull
# and exits 0; the state store is intact and holds what it held before.
alerts_before=$(sqlite3 "$GG_DEMO_DIR/state.db" 'SELECT count(*) FROM alerts')
hole=$(free_port)
# The hole takes the connection and never answers; it notes that the pull
# reached it (hole.hit), so SIGTERM comes while the pull hangs, however busy
# the machine is.
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
s.settimeout(120)
try:
    while True:
        c, _ = s.accept(); held.append(c); open(sys.argv[2], "w").close()
except OSError:
    pass' "$hole" "$work/hole.hit" &
hole_pid=$!
conf 人社局 ""
sed -i -e "s#^conn.api = http:http://127.0.0.1:.*#conn.api = http:http://127.0.0.1:$hole\nconn.api.timeout_ms = 120000#" \
  -e "s#^shutdown_timeout = 10#shutdown_timeout = 2#" "$work/gg.ini"
# The log file already holds the first daemon's lines (psb and civil pulled):
# only what this daemon appends counts.
log_from=$(stat -c %s "$log" 2>/dev/null || echo 0)
log2_has() { tail -c +$((log_from + 1)) "$log" 2>/dev/null | grep -qF -- "$1"; }
"$gg" -v run --interval 2 -c "$work/gg.ini" >"$work/run2.out" 2>"$work/run2.err" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; kill "$hole_pid" 2>/dev/null; wait; city_cleanup' EXIT
check "slow source: the pull of psb starts" wait_for 60 log2_has '"component":"psb","msg":"due: pulled in this cycle"'
# hr, grid and civil are pulled before psb: wait until psb's pull hangs
wait_for 60 log2_has '"component":"civil"'
wait_for 60 test -e "$work/hole.hit"
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$pid"
for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
wait "$pid"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill "$hole_pid" 2>/dev/null; wait "$hole_pid" 2>/dev/null
trap city_cleanup EXIT
check "SIGTERM during a hanging pull: exit 0 in ${ms} ms (shutdown_timeout 2 s, bound 4000)" \
  bash -c "[ $rc = 0 ] && [ $ms -ge 1500 ] && [ $ms -le 4000 ]"
check "the abandoned pull is reported" grep -q 'shutdown_timeout reached during a pull' "$work/run2.err"
check "the state store is intact after the abandoned pull" \
  bash -c "[ \"\$(sqlite3 '$GG_DEMO_DIR/state.db' 'PRAGMA integrity_check')\" = ok ]"
check "no alert lost or half-written: $alerts_before alerts before and after" \
  bash -c "[ \$(sqlite3 '$GG_DEMO_DIR/state.db' 'SELECT count(*) FROM alerts') = $alerts_before ]"
check "gridgate alerts list still reads the store" bash -c "'$gg' alerts list -c '$work/gg.ini' | tail -n 1 | grep -q '^$alerts_before alerts'"

# The audit log: each stream pulled with rows and the adapter's content hash,
# each push with its result, each unmasked export with who.
"$gg" audit list --kind pull --limit 0 -c "$work/gg.ini" >"$work/audit.pull" 2>&1
hash=$(python3 -c 'import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("fnv1a64:%016x" % h)' "$root/adapters/hr_pension.lua")
check "audit: hr's pulls carry rows and the adapter file's FNV-1a hash" \
  grep -Eq "pull +uid=$(id -u)\(.*hr/[a-z_]+ rows=[1-9][0-9]* adapter=$hash +ok" "$work/audit.pull"
check "audit: every source's pulls are there" \
  bash -c "for s in hr grid civil psb; do grep -q \" \$s/\" '$work/audit.pull' || exit 1; done"
"$gg" audit list --kind push --limit 0 -c "$work/gg.ini" >"$work/audit.push" 2>&1
check "audit: pushes with alert id, sink, version and result" \
  grep -Eq "push +uid=.* [A-Z]{3}-[0-9a-f]{16} -> (hr|grid) v[0-9]+ +delivered" "$work/audit.push"
"$gg" alerts export --mask -c "$work/gg.ini" >/dev/null 2>&1
"$gg" audit list --kind access -c "$work/gg.ini" >"$work/audit.acc0" 2>&1
check "audit: a masked export is not an access to unmasked data" grep -q '^0 audit records' "$work/audit.acc0"
"$gg" alerts export -c "$work/gg.ini" >/dev/null 2>&1
"$gg" audit list --kind access -c "$work/gg.ini" >"$work/audit.acc" 2>&1
check "audit: the unmasked export is recorded with uid and user" \
  grep -Eq "access +uid=$(id -u)\($(id -un)\).*alerts export \(unmasked\) +ok" "$work/audit.acc"
check "audit: the table is append-only" \
  bash -c "! sqlite3 '$GG_DEMO_DIR/state.db' 'DELETE FROM audit' 2>/dev/null && [ \$(sqlite3 '$GG_DEMO_DIR/state.db' 'SELECT count(*) FROM audit') -gt 0 ]"

# No id number in any form and no resident name in any line of the run.
check "no demo id number (18 or 15 digits, x/X, birth date+sequence) and no name in any log line" \
  python3 - "$GG_DEMO_DIR" "$log.1" "$log" "$work/run.err" "$work/run.out" "$work/run2.err" "$work/run2.out" "$work"/audit.* <<'PY'
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

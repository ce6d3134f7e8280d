#!/usr/bin/env bash
# tests/integration/admin.sh - the daemon's admin endpoint over the demo city:
# `gridgate run` with an [admin] section serves /readyz, /healthz (JSON, per
# source), /metrics (Prometheus text, checked by a strict parser: promtool when
# installed, else tests/integration/promtext.py) whose pulled-records counter
# matches the rows counted in the department systems themselves; 401 without
# or with a wrong token, 404 elsewhere; `gridgate status` prints the table,
# and both show the first cycle while it runs (held by a table lock);
# SIGTERM ends the daemon with status 0. Refused starts: a token file readable
# by others, a port already taken.
set -uo pipefail
. "$(dirname "$0")/../lib/city.sh"

city_start
port=$(free_port)
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$token" >"$work/admin.token"
chmod 600 "$work/admin.token"
city_conf "$work/gg.ini" "
[admin]
listen = 127.0.0.1:$port
token_file = $work/admin.token"
base=http://127.0.0.1:$port

# get PATH [curl args]: prints the body to $work/body, the status to stdout
get() { local p=$1; shift; curl -s -m 10 -o "$work/body" -w '%{http_code}' "$@" "$base$p"; }
auth=(-H "Authorization: Bearer $token")

# The demo city's first cycle is over in a second: to see it running, a
# session holds a lock on the pension payments table (as a long migration
# would) until both views of the running cycle were taken (30 s at most).
mkfifo "$work/lock.fifo"
psql -X -q -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d hr <"$work/lock.fifo" >/dev/null 2>&1 &
exec 3>"$work/lock.fifo"
echo "BEGIN; LOCK TABLE yl_ffmx IN ACCESS EXCLUSIVE MODE; SELECT 1;" >&3
for _ in $(seq 100); do
  [ "$(psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d hr \
       -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'yl_ffmx' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && break
  sleep 0.1
done
unlock() { [ -e /dev/fd/3 ] && { echo "COMMIT;" >&3; exec 3>&-; }; return 0; }

"$gg" run --interval 3600 -c "$work/gg.ini" >"$work/run.out" 2>"$work/run.err" &
pid=$!
stop_daemon() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
trap 'unlock; stop_daemon; city_cleanup' EXIT

# ready once the first cycle is done (bounded: 90 s); meanwhile /healthz
# shows the first cycle running
ready=0
for i in $(seq 1 900); do
  [ "$(get /readyz)" = 200 ] && { ready=1; break; }
  if [ ! -s "$work/running.json" ] && [ "$(get /healthz)" != 000 ] &&
     python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("running_cycle") else 1)' \
       "$work/body" 2>/dev/null; then
    cp "$work/body" "$work/running.json"
  fi
  # ... and so does `gridgate status` (tried until it did: the cycle may end between the two)
  if [ -s "$work/running.json" ] && ! grep -q '^running' "$work/status-running.out" 2>/dev/null; then
    "$gg" status -c "$work/gg.ini" >"$work/status.try" 2>&1
    grep -q '^running' "$work/status.try" && mv "$work/status.try" "$work/status-running.out"
  fi
  { [ -s "$work/status-running.out" ] || [ "$i" -ge 300 ]; } && unlock
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
check "readyz 200 after the first cycle" [ "$ready" = 1 ]
check "healthz showed the first cycle running: since when, for how long, pulling the five sources" \
  python3 - "$work/running.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
r = h["running_cycle"]
assert r["sources"] == 5 and r["seconds"] >= 0 and r["started"].endswith("Z"), r
assert h["last_cycle"] is None, h
PY
check "gridgate status during the first cycle prints it running" \
  grep -Eq '^running +a cycle since [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z \([0-9]+s\), pulling 5 sources$' "$work/status-running.out"
[ "$ready" = 1 ] || { tail -n 20 "$work/run.err"; city_finish; exit 1; }

code=$(get /healthz)
check "healthz 200 without a token" [ "$code" = 200 ]
check "healthz is JSON naming the five sources, none stale" python3 - "$work/body" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
srcs = {s["source"]: s for s in h["sources"]}
assert h["status"] == "ok", h
assert h["running_cycle"] is None, h  # between cycles
assert set(srcs) == {"hr", "grid", "civil", "psb", "street"}, srcs
for s in srcs.values():
    assert s["last_success"] and s["last_error"] is None and s["staleness_seconds"] < 120 and not s["stale"], s
assert h["last_cycle"]["number"] >= 1
PY
check "metrics 401 without a token" [ "$(get /metrics)" = 401 ]
check "metrics 401 with a wrong token" [ "$(get /metrics -H "Authorization: Bearer ${token}x")" = 401 ]
check "metrics 401 with a token of another length" [ "$(get /metrics -H 'Authorization: Bearer a')" = 401 ]
check "401 carries WWW-Authenticate: Bearer" \
  bash -c "curl -s -m 10 -D - -o /dev/null '$base/metrics' | grep -qi '^WWW-Authenticate: Bearer'"
check "unknown path 404" [ "$(get /nope "${auth[@]}")" = 404 ]
check "POST on /metrics 405" [ "$(get /metrics "${auth[@]}" -X POST -d x)" = 405 ]
code=$(get /metrics "${auth[@]}")
cp "$work/body" "$work/metrics.txt"
check "metrics 200 with the token" [ "$code" = 200 ]
if command -v promtool >/dev/null; then
  check "promtool check metrics" bash -c "promtool check metrics <'$work/metrics.txt'"
fi
check "metrics text passes the strict parser" bash -c "python3 '$root/tests/integration/promtext.py' check <'$work/metrics.txt'"

# Rows in the department systems, counted there with each stream's own query.
pg() { psql -X -q -t -A -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d "$1" -c "$2"; }
hr=$(( $(pg hr 'SELECT count(*) FROM yl_ffmx') + $(pg hr 'SELECT count(*) FROM sb_jfjs') ))
grid=$(( $(pg grid 'SELECT count(*) FROM wg_jmxx') + $(pg grid "SELECT count(*) FROM wg_sjsb WHERE sjlx = '死亡'") \
       + $(pg grid 'SELECT count(*) FROM wg_hcrw WHERE hcjg IS NOT NULL') ))
civil=$(sqlite3 "$GG_DEMO_DIR/civil.db" 'SELECT (SELECT count(*) FROM mz_jtcy m JOIN mz_dbaj a ON a.ajbh = m.ajbh)
   + (SELECT count(*) FROM mz_jzff f JOIN mz_dbaj a ON a.ajbh = f.ajbh) + (SELECT count(*) FROM mz_hhdj)
   + (SELECT count(*) FROM mz_ajff f JOIN mz_dbaj a ON a.ajbh = f.ajbh)')
psb=$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(sum(len(v) for v in d.values() if isinstance(v, list)))' "$GG_DEMO_DIR/psb.json")
python3 "$root/tests/integration/promtext.py" by gridgate_records_pulled_total source <"$work/metrics.txt" >"$work/pulled.tsv"
for s in hr grid civil psb; do
  want=${!s}
  got=$(awk -F'\t' -v s="$s" '$1 == s {print $2}' "$work/pulled.tsv")
  check "records pulled from $s: metric $got = $want rows in the source" [ "$got" = "$want" ]
done
check "pull duration histogram per stream" grep -q '^gridgate_pull_duration_seconds_bucket{source="hr",stream=' "$work/metrics.txt"
check "alerts by rule and status" grep -q '^gridgate_alerts{rule="pension_after_death",status=' "$work/metrics.txt"
check "one ok cycle counted" grep -q '^gridgate_cycles_total{result="ok"} 1$' "$work/metrics.txt"
check "outbox by sink and status" grep -q '^gridgate_outbox{sink="grid",status="done"}' "$work/metrics.txt"
check "state store size" grep -Eq '^gridgate_state_store_bytes [1-9][0-9]*$' "$work/metrics.txt"
# (ids could only hide in names and labels: the sample value, a float such as
# 0.0045982959999999462, is left out of the search)
check "no raw id number in the metrics" bash -c "! sed 's/ [^ ]*\$//' '$work/metrics.txt' | grep -Eq '[0-9]{17}[0-9Xx]'"

"$gg" status -c "$work/gg.ini" >"$work/status.out" 2>&1
rc=$?
check "gridgate status exits 0" [ "$rc" = 0 ]
check "gridgate status prints the source table" bash -c "grep -q '^SOURCE *LAST SUCCESS *STALENESS' '$work/status.out' &&
  for s in hr grid civil psb; do grep -Eq \"^\$s +[0-9]{4}-[0-9]{2}-[0-9]{2}T\" '$work/status.out' || exit 1; done &&
  grep -q '^cycle    1 finished' '$work/status.out' && grep -q '^outbox   0 pending, 0 dead' '$work/status.out'"
sed 's/^/  | /' "$work/status.out"

# A second daemon on the same state store is refused at once, naming the
# holder's pid; on another store but the same port, the port refuses it.
timeout 60 "$gg" run --once -c "$work/gg.ini" >/dev/null 2>"$work/dup.err"
rc=$?
check "a second daemon on the same state store exits 1 naming the holder's pid" \
  bash -c "[ $rc = 1 ] && grep -q 'is in use by another gridgate (pid $pid holds ' '$work/dup.err'"
sed "s#^state = .*#state = $work/other.db#" "$work/gg.ini" >"$work/gg2.ini"
timeout 60 "$gg" run --once -c "$work/gg2.ini" >/dev/null 2>"$work/dup2.err"
rc=$?
check "a second daemon on the taken port exits 1 with a message" \
  bash -c "[ $rc = 1 ] && grep -q 'cannot listen on 127.0.0.1:$port' '$work/dup2.err'"

t0=$(date +%s)
kill -TERM "$pid"
wait "$pid"
rc=$?
check "SIGTERM: the daemon exits 0 (in $(( $(date +%s) - t0 ))s)" [ "$rc" = 0 ]
trap city_cleanup EXIT
check "after SIGTERM the port is closed" bash -c "! curl -s -m 2 -o /dev/null '$base/readyz'"
check "gridgate status reports the daemon down (exit 1)" bash -c "! '$gg' status -c '$work/gg.ini' >/dev/null 2>&1"

# A source that fails: psb's service unreachable, stale_after 1 s. The cycle
# completes (ready) but /healthz answers 503 naming psb, the error text only
# for token holders; `gridgate status` marks it and exits 3.
dead=$(free_port)
cp "$work/gg.ini" "$work/bad.ini"
printf '%s\n' "stale_after = 1" "[source psb]" "conn.api = http:http://127.0.0.1:$dead" "conn.api.retries = 0" \
  "conn.api.timeout_ms = 2000" >>"$work/bad.ini"
"$gg" run --interval 3600 -c "$work/bad.ini" >/dev/null 2>"$work/bad.err" &
pid=$!
trap 'stop_daemon; city_cleanup' EXIT
ready=0
for _ in $(seq 1 180); do
  [ "$(get /readyz)" = 200 ] && { ready=1; break; }
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
sleep 2
check "failing source: ready, but healthz 503" bash -c "[ $ready = 1 ] && [ \"\$(curl -s -m 10 -o '$work/bad.json' -w '%{http_code}' '$base/healthz')\" = 503 ]"
check "healthz names psb stale with its error withheld without a token" python3 - "$work/bad.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
s = {x["source"]: x for x in h["sources"]}
assert h["status"] == "stale", h
assert s["psb"]["last_success"] is None and s["psb"]["stale"] and s["psb"]["consecutive_failures"] == 1, s["psb"]
assert s["psb"]["last_error"] == "(token required)", s["psb"]
assert s["hr"]["last_error"] is None
PY
get /healthz "${auth[@]}" >/dev/null
check "with the token, healthz gives psb's error" python3 -c '
import json, sys
s = {x["source"]: x for x in json.load(open(sys.argv[1]))["sources"]}
e = s["psb"]["last_error"]
assert "streams failed; stream " in e and "Failed to connect" in e, e
print("# psb last_error:", e[:120])' "$work/body"
get /metrics "${auth[@]}" >/dev/null
check "stream failures counted for psb" grep -Eq '^gridgate_stream_failures_total\{source="psb",stream="[a-z]+"\} 1$' "$work/body"
check "the cycle counted as partial" grep -q '^gridgate_cycles_total{result="partial"} 1$' "$work/body"
"$gg" status -c "$work/bad.ini" >"$work/status2.out" 2>&1
rc=$?
check "gridgate status exits 3 and marks psb stale" bash -c "[ $rc = 3 ] && grep -Eq '^psb +never +[0-9]+s! +1 ' '$work/status2.out'"
stop_daemon
trap city_cleanup EXIT

# systemd notification: READY=1 once serving, STOPPING=1 on the way out.
python3 - "$work/notify.sock" "$work/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "w") as out:
    try:
        while True:
            msg = s.recv(4096).decode()
            out.write(msg.replace("\n", " ") + "\n")
            out.flush()
            if "STOPPING=1" in msg:
                break
    except socket.timeout:
        pass
PY
npid=$!
for _ in $(seq 1 50); do [ -S "$work/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$work/notify.sock timeout 120 "$gg" run --once -c "$work/gg.ini" >/dev/null 2>"$work/notify.err"
rc=$?
wait "$npid"
check "sd_notify: READY=1, a STATUS after the cycle, STOPPING=1 (run exit $rc)" bash -c "
  grep -q '^READY=1' '$work/notify.log' && grep -q 'STATUS=cycle [0-9]* done' '$work/notify.log' &&
  grep -q '^STOPPING=1' '$work/notify.log'"

# Token file readable by others: refused with a clear message, nothing started.
chmod 644 "$work/admin.token"
timeout 60 "$gg" run --once -c "$work/gg.ini" >/dev/null 2>"$work/perm.err"
rc=$?
check "token file 0644 refused (exit $rc)" bash -c "[ $rc != 0 ] && grep -q 'admin.token: mode 644 lets group/others read it; chmod 600 it' '$work/perm.err'"
check "the refusal does not print the token" bash -c "! grep -q '$token' '$work/perm.err'"
city_finish

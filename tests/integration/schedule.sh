#!/usr/bin/env bash
# tests/integration/schedule.sh - the daemon's scheduler over the demo city,
# real processes: each source is pulled on its own schedule (hr, grid every
# 3 s, psb every 2 s, civil and street once an hour); a pull that changes no
# fact does not re-run matching; a death inserted into the grid system's
# PostgreSQL database yields the new pension_after_death alert within one
# interval plus the match debounce; the PSB service stopped mid-way is
# reported stale in /healthz (stale_since, consecutive failures, backoff) and
# by `gridgate status` while the other sources keep being pulled, and it
# recovers once the service is back; SIGTERM as a pull starts exits 0 and
# loses nothing (alerts and outbox intact, integrity_check ok). Every wait is
# bounded.
set -uo pipefail
. "$(dirname "$0")/../lib/city.sh"

city_start
port=$(free_port)
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$token" >"$work/admin.token"
chmod 600 "$work/admin.token"
log=$work/gg.log
city_conf "$work/gg.ini" "
[admin]
listen = 127.0.0.1:$port
token_file = $work/admin.token
stale_after = 6
[source hr]
schedule.interval = 3s
[source grid]
schedule.interval = 3s
[source civil]
schedule.interval = 1h
[source street]
schedule.interval = 1h
[source psb]
schedule.interval = 2s
schedule.backoff = 1s
schedule.backoff_max = 2s
conn.api.retries = 0
conn.api.timeout_ms = 2000"
sed -i "s#^log_level = info#log_level = debug\nlog_format = json\nlog_file = $log\nshutdown_timeout = 10\nmatch_debounce = 1s\nmatch_max_wait = 4s#" \
  "$work/gg.ini"
base=http://127.0.0.1:$port
auth=(-H "Authorization: Bearer $token")

"$gg" -v run --interval 3600 -c "$work/gg.ini" >"$work/run.out" 2>"$work/run.err" &
pid=$!
psb_pid=
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; [ -z "$psb_pid" ] || kill "$psb_pid" 2>/dev/null; city_cleanup' EXIT

# wait_for SECONDS COMMAND...: polls every 0.25 s while the daemon lives
wait_for() {
  local n=$(( $1 * 4 )); shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; kill -0 "$pid" 2>/dev/null || return 1; sleep 0.25; done
  return 1
}
pulls() { grep -c "\"component\":\"$1\",\"msg\":\"due: pulled in this cycle\"" "$log" 2>/dev/null; }
healthz() { curl -s -m 10 "${auth[@]}" "$base/healthz" >"$work/h.json"; }
# src_is SOURCE PYTHON-EXPR: the expression over s (the source's /healthz entry) holds
src_is() { healthz && python3 -c '
import json, sys
s = {x["source"]: x for x in json.load(open(sys.argv[1]))["sources"]}[sys.argv[2]]
sys.exit(0 if eval(sys.argv[3]) else 1)' "$work/h.json" "$1" "$2"; }
pension_alerts() { "$gg" alerts export --rule pension_after_death --mask -c "$work/gg.ini" 2>/dev/null | wc -l; }
match_cycles() { grep -c '^cycle [0-9]*: [0-9]* facts kept' "$work/run.out"; }

check "ready after the first cycle (within 90 s)" wait_for 90 bash -c "curl -s -m 5 -o /dev/null -w '%{http_code}' '$base/readyz' | grep -q 200"
check "the first cycle pulls every source and matches" grep -q '^cycle 1: [0-9]* facts kept' "$work/run.out"

# --- each source on its own schedule; unchanged pulls do not match again
check "hr pulled at least 3 times (within 30 s)" wait_for 30 bash -c "[ \$(grep -c '\"component\":\"hr\",\"msg\":\"due: pulled in this cycle\"' '$log') -ge 3 ]"
check "psb pulled at least as often as hr" bash -c "[ $(pulls psb) -ge 3 ]"
check "civil and street (1h) pulled once only" bash -c "[ $(pulls civil) = 1 ] && [ $(pulls street) = 1 ]"
check "pull-only cycles name what they pulled" grep -q '^cycle [0-9]*: [0-9] sources pulled: ' "$work/run.out"
check "pulls that changed no fact did not re-run matching" bash -c "[ $(match_cycles) = 1 ] &&
  grep -q 'matching not needed (no fact changed)' '$work/run.out'"
echo "# pulls so far: hr $(pulls hr), grid $(pulls grid), psb $(pulls psb), civil $(pulls civil), street $(pulls street)"

# --- a new death in the grid system: the alert within one interval (3 s)
# plus the debounce (1 s) plus a cycle. The deceased: a pensioner paid in the
# last month who has no death anywhere in the city.
psql_cmd=(psql -X -q -At -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -v ON_ERROR_STOP=1)
"${psql_cmd[@]}" -d hr -c "SELECT DISTINCT sfzhm || '|' || coalesce(xm, '') FROM yl_ffmx
  WHERE ffny = (SELECT max(ffny) FROM yl_ffmx) ORDER BY 1" >"$work/pensioners"
"${psql_cmd[@]}" -d grid -c "SELECT sfzhm FROM wg_sjsb WHERE sfzhm IS NOT NULL" >"$work/grid_ids"
pick=$(python3 - "$work/pensioners" "$work/grid_ids" "$GG_DEMO_DIR/psb.json" <<'PY'
import json, sys
known = set(l.strip().upper() for l in open(sys.argv[2]))
def ids(o):
    if isinstance(o, dict):
        for v in o.values(): yield from ids(v)
    elif isinstance(o, list):
        for v in o: yield from ids(v)
    elif isinstance(o, str) and len(o) >= 15: yield o.strip().upper()
known |= set(ids(json.load(open(sys.argv[3], encoding="utf-8"))))
for line in open(sys.argv[1], encoding="utf-8"):
    i, _, n = line.rstrip("\n").partition("|")
    if len(i) == 18 and i.upper() not in known:
        print(i + "|" + n); break
PY
)
before=$(pension_alerts)
m0=$(match_cycles)
check "a living pensioner to report dead" [ -n "$pick" ]
"${psql_cmd[@]}" -d grid -c "INSERT INTO wg_sjsb(sjbh, sjlx, sfzhm, xm, csrq, fsrq, wgbm, ms, sbr)
  VALUES('SJTEST0001', '死亡', '${pick%%|*}', '${pick#*|}', NULL, '2025-01-15', 'WG-TEST', 'test', 'test')"
t0=$(date +%s.%N)
check "the new pension_after_death alert appears within 10 s" wait_for 10 bash -c "[ \$('$gg' alerts export --rule pension_after_death --mask -c '$work/gg.ini' 2>/dev/null | wc -l) -gt $before ]"
t1=$(date +%s.%N)
echo "# new death -> alert in $(python3 -c "print(round($t1 - $t0, 2))") s (interval 3 s, debounce 1 s); alerts $before -> $(pension_alerts)"
check "one matching cycle ran for it" bash -c "[ $(match_cycles) -gt $m0 ]"
check "it matched only the subjects the pulled facts concern" \
  grep -q '"msg":"matching the subjects changed since the last match' "$log"
check "the log names the death nowhere unmasked" bash -c "! grep -qF '${pick%%|*}' '$log' '$work/run.out' '$work/run.err'"

# --- the PSB service stops mid-way: stale in /healthz, the others go on
kill "$(cat "$GG_DEMO_DIR/psb.pid")"
hr0=$(pulls hr)
check "psb reported stale with stale_since, failures and backoff (within 20 s)" \
  wait_for 20 src_is psb 's["stale"] and s["stale_since"] and s["consecutive_failures"] >= 1 and s["backoff_seconds"] >= 1 and s["last_error"]'
check "healthz answers 503 while psb is stale" bash -c "[ \$(curl -s -m 10 -o /dev/null -w '%{http_code}' '$base/healthz') = 503 ]"
check "hr keeps being pulled and stays fresh" bash -c "[ $(pulls hr) -gt $hr0 ] && python3 -c '
import json, sys
s = {x[\"source\"]: x for x in json.load(open(sys.argv[1]))[\"sources\"]}
assert not s[\"hr\"][\"stale\"] and s[\"hr\"][\"consecutive_failures\"] == 0, s[\"hr\"]' '$work/h.json'"
"$gg" status -c "$work/gg.ini" >"$work/status.out" 2>&1
rc=$?
check "gridgate status exits 3 and shows psb's staleness, failures, backoff and stale-since" \
  bash -c "[ $rc = 3 ] && grep -q '^SOURCE .* FAILS *BACKOFF *STALE SINCE *NEXT PULL' '$work/status.out' &&
  grep -Eq '^psb +[0-9T:Z-]+ +[0-9]+s! +[1-9][0-9]* +[12]s +[0-9]{4}-[0-9]{2}-[0-9]{2}T' '$work/status.out'"
sed 's/^/  | /' "$work/status.out"
check "psb backs off: not retried every second" bash -c "f=\$(grep -c '\"component\":\"psb\",\"msg\":\"pull failed' '$log'); [ \$f -ge 1 ] && [ \$f -le 8 ]"

# --- the service comes back: psb recovers
nohup python3 "$root/scripts/demo/psb_server.py" --data "$GG_DEMO_DIR/psb.json" --token-file "$GG_DEMO_DIR/psb.token" \
  --port "$GG_PSB_PORT" --pid-file "$GG_DEMO_DIR/psb.pid" >"$work/psb2.log" 2>&1 </dev/null &
psb_pid=$!
check "psb recovers: fresh, no failures, no backoff (within 20 s)" \
  wait_for 20 src_is psb 'not s["stale"] and s["stale_since"] is None and s["consecutive_failures"] == 0 and s["backoff_seconds"] == 0'
check "healthz 200 again" bash -c "[ \$(curl -s -m 10 -o /dev/null -w '%{http_code}' '$base/healthz') = 200 ]"

# --- SIGTERM as a pull starts: exit 0, nothing lost
"$gg" alerts export --mask -c "$work/gg.ini" 2>/dev/null | python3 -c 'import json,sys; print("\n".join(sorted(json.loads(l)["id"] for l in sys.stdin)))' >"$work/alerts.before"
n_out=$("$gg" outbox list -c "$work/gg.ini" 2>/dev/null | wc -l)
p0=$(( $(pulls hr) + $(pulls psb) + $(pulls grid) ))
c0=$(grep -c '"msg":"due: pulled in this cycle"' "$log")
wait_for 10 bash -c "[ \$(grep -c '\"msg\":\"due: pulled in this cycle\"' '$log') -gt $c0 ]"
ts=$(date +%s%N)
kill -TERM "$pid"
for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
wait "$pid"
rc=$?
ms=$(( ($(date +%s%N) - ts) / 1000000 ))
trap '[ -z "$psb_pid" ] || kill "$psb_pid" 2>/dev/null; city_cleanup' EXIT
check "SIGTERM during a pull: exit 0 in ${ms} ms (bound 12000)" bash -c "[ $rc = 0 ] && [ $ms -le 12000 ] && [ $p0 -gt 0 ]"
"$gg" alerts export --mask -c "$work/gg.ini" 2>/dev/null | python3 -c 'import json,sys; print("\n".join(sorted(json.loads(l)["id"] for l in sys.stdin)))' >"$work/alerts.after"
check "every alert is still there" bash -c "[ -s '$work/alerts.before' ] && [ -z \"\$(comm -23 '$work/alerts.before' '$work/alerts.after')\" ]"
check "the outbox is intact" bash -c "[ \$('$gg' outbox list -c '$work/gg.ini' 2>/dev/null | wc -l) -ge $n_out ]"
check "state store integrity_check ok" bash -c "[ \"\$(sqlite3 '$GG_DEMO_DIR/state.db' 'PRAGMA integrity_check')\" = ok ]"
check "the daemon logged its stop" grep -q 'stopping on signal' "$log"

city_finish

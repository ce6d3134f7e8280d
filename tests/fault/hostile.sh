#!/usr/bin/env bash
# tests/fault/hostile.sh - hostile adapters and sources against the worker
# isolation (docs/worker.md): each hostile source runs next to the demo city's
# four sources and must be stopped or refused within its limit, with a message
# naming the source and stream, while the other sources' facts commit, their
# alerts are produced and delivered, no file is created, and no raw id number
# reaches any output. Fixture adapters are in tests/fault/hostile/.
set -uo pipefail

source "$(dirname "$0")/../lib/city.sh"
fx=$root/tests/fault/hostile
has() { grep -Eq -- "$2" "$1"; }
psql_q() { psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d "$1" -c "$2"; }
city_start

# baseline: the demo alone
conf=$work/base.ini
city_conf "$conf"
"$gg" -c "$conf" run --once >"$work/base.out" 2>"$work/base.err"
check "baseline run exits 0" test $? -eq 0
"$gg" -c "$conf" alerts export | python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in sys.stdin]' | sort >"$work/base.ids"
n_base=$(wc -l <"$work/base.ids")

# an HTTP endpoint that accepts connections and never answers. It binds a port
# of its own choosing and names it only once it listens: a port picked before
# (free_port) can be taken by a parallel test, and a server still starting
# refuses the worker's connection, which fails the stream for another reason.
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$work/hang.port" >/dev/null 2>&1 &
hang_pid=$!
for _ in $(seq 100); do [ -s "$work/hang.port" ] && break; sleep 0.1; done
hang_port=$(cat "$work/hang.port")
check "the hanging HTTP endpoint listens (port $hang_port)" test -n "$hang_port"
trap 'kill $hang_pid 2>/dev/null; city_cleanup' EXIT

# --- 1. every hostile source at once, next to the demo ------------------------
rm -f "$GG_DEMO_DIR"/state.db*
psql_q hr "TRUNCATE yl_ycyj"; psql_q grid "TRUNCATE wg_hcrw"
sed -e "s#@STATE@#$GG_DEMO_DIR/state.db#" "$fx/sqlite_escape.lua" >"$work/sqlite_escape.lua"
conf=$work/hostile.ini
city_conf "$conf" "
[source close_loop]
adapter = $fx/close_loop.lua
pull_timeout = 4

[source find_bomb]
adapter = $fx/find_bomb.lua
pull_timeout = 4

[source slow_sql]
adapter = $fx/slow_sql.lua
pull_timeout = 4
conn.db = pg:host=127.0.0.1 port=\${GG_PG_PORT} dbname=hr user=postgres

[source http_hang]
adapter = $fx/http_hang.lua
pull_timeout = 4
conn.api = http:http://127.0.0.1:$hang_port

[source sqlite_escape]
adapter = $work/sqlite_escape.lua
pull_timeout = 4
conn.db = odbc:Driver=SQLite3;Database=\${GG_DEMO_DIR}/civil.db

[source mem_bomb]
adapter = $fx/mem_bomb.lua
memory_mb = 64
pull_timeout = 10

[source log_flood]
adapter = $fx/log_flood.lua
pull_timeout = 4
"
sed -i 's#^\[gridgate\]#[gridgate]\nworkers = 11#' "$conf"
ls -A "$GG_DEMO_DIR" | grep -v '^state.db' | sort >"$work/files.before"
touch "$work/marker"
start=$(date +%s)
timeout 120 "$gg" -c "$conf" run --once >"$work/h.out" 2>"$work/h.err"
rc=$?
took=$(( $(date +%s) - start ))
check "hostile run: completes with failures (exit $rc) within the limits (${took}s)" \
  bash -c "[ $rc -eq 3 ] && [ $took -lt 40 ]"
for s in close_loop find_bomb slow_sql http_hang log_flood; do
  check "$s: stopped by its 4 s deadline, named with its stream" \
    has "$work/h.err" "stream deaths failed.*source $s: (deadline of 4 s exceeded|CPU time limit)" ||
    grep -m3 -- "$s" "$work/h.err" | cut -c1-300 | sed 's/^/#   /'
done
check "sqlite_escape: ATTACH, load_extension and VACUUM INTO refused, named with file:line" \
  has "$work/h.err" "sqlite_escape: stream deaths failed.*source sqlite_escape, stream 'deaths': .*sqlite_escape.lua:[0-9]+: all 3 escapes refused"
check "sqlite_escape: nothing escaped" bash -c "! grep -q ESCAPED '$work/h.err'"
check "mem_bomb: stopped at its memory cap, named with its stream" \
  has "$work/h.err" "mem_bomb.*stream deaths failed.*(memory|64 MiB|frame)"
check "log flood: no forged line at the start of a line" bash -c "! grep -q '^2026-01-01T00:00:00Z' '$work/h.err'"
flood=$(stat -c %s "$work/h.err")
check "log flood: output bounded ($flood bytes)" test "$flood" -lt 2000000
check "no raw id number in any output" bash -c "! grep -Eq '[0-9]{17}[0-9Xx]' '$work/h.err' '$work/h.out'"
"$gg" -c "$conf" alerts export | python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in sys.stdin]' | sort >"$work/h.ids"
check "the other sources' alerts are all produced ($(wc -l <"$work/h.ids") of $n_base)" cmp -s "$work/base.ids" "$work/h.ids"
check "the demo sources committed their streams" \
  bash -c "for s in hr grid civil psb; do grep -q \"\$s: stream .* records\" '$work/h.err' || exit 1; done"
check "nothing lost at the sinks: no pending or dead delivery" \
  bash -c "[ \$('$gg' -c '$conf' outbox list | grep -cE ' (pending|dead) ') -eq 0 ]"
ls -A "$GG_DEMO_DIR" | grep -v '^state.db' | sort >"$work/files.after"
check "no file created in the city directory" cmp -s "$work/files.before" "$work/files.after"
check "VACUUM INTO created no copy of the state store" test ! -e "$GG_DEMO_DIR/state.db.copy"
left=$(pgrep -f -- "-c $conf run" | wc -l)
check "no worker process left behind ($left)" test "$left" -eq 0

# --- 2. a worker killed by a signal (SIGSEGV) mid-stream -----------------------
rm -f "$GG_DEMO_DIR"/state.db*
conf=$work/segv.ini
city_conf "$conf" "
[source sleeper]
adapter = $fx/sleeper.lua
conn.db = pg:host=127.0.0.1 port=\${GG_PG_PORT} dbname=hr user=postgres"
timeout 60 "$gg" -c "$conf" run --once >"$work/segv.out" 2>"$work/segv.err" &
gpid=$!
victim=
for _ in $(seq 100); do
  sleep 0.2
  ggpid=$(pgrep -P "$gpid" | head -1)   # timeout -> gridgate -> workers
  # the sleeper's worker by its name (gg:<source>), once the demo sources'
  # phase 1 has been logged: the others' workers come and go meanwhile
  victim=$([ -n "$ggpid" ] && pgrep -P "$ggpid" -x gg:sleeper | head -1)
  if [ -n "$victim" ] && grep -q "psb: stream" "$work/segv.err" &&
     grep -q "civil: stream" "$work/segv.err" && grep -q "grid: stream" "$work/segv.err"; then
    break
  fi
  victim=
done
echo "# killing worker ${victim:-(none found)} with SIGSEGV"
[ -n "$victim" ] && kill -SEGV "$victim"
wait "$gpid"
rc=$?
check "SIGSEGV worker: run completes with failures (exit $rc)" test "$rc" -eq 3
check "SIGSEGV worker: named with its stream and the signal" \
  has "$work/segv.err" "sleeper: stream deaths failed.*source sleeper: killed by SEGV.*stream [0-9]+ 'deaths' unfinished"
"$gg" -c "$conf" alerts export | python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in sys.stdin]' | sort >"$work/segv.ids"
check "SIGSEGV worker: the other sources' alerts are all produced" cmp -s "$work/base.ids" "$work/segv.ids"
check "SIGSEGV worker: no raw id number in any output" bash -c "! grep -Eq '[0-9]{17}[0-9Xx]' '$work/segv.err' '$work/segv.out'"

# --- 3. a push that tries to rewrite the gateway's alerts ----------------------
rm -f "$GG_DEMO_DIR"/state.db*
sed -e "s#^  push = function(alert, conns)#  push = function(alert, conns)\n    for _, sql in ipairs({ \"ATTACH DATABASE '$GG_DEMO_DIR/state.db' AS st\", \"UPDATE alerts SET status = 'dismissed'\", \"UPDATE st.alerts SET status = 'dismissed'\", \"SELECT load_extension('libc.so.6', 'exit')\" }) do\n      if pcall(conns.db.exec, conns.db, sql) then error('ESCAPED: ' .. sql) end\n    end\n    if io or require or debug or package or (os and (os.execute or os.remove or os.exit)) then error('ESCAPED: a host library is reachable') end#" \
  "$root/adapters/civil_affairs.lua" >"$work/civil_hostile.lua"
conf=$work/push.ini
city_conf "$conf"
sed -i "s#$root/adapters/civil_affairs.lua#$work/civil_hostile.lua#" "$conf"
timeout 120 "$gg" -c "$conf" run --once >"$work/push.out" 2>"$work/push.err"
rc=$?
check "hostile push: run exits 0 (the pushes themselves succeed)" test "$rc" -eq 0
check "hostile push: no escape" bash -c "! grep -q ESCAPED '$work/push.err'"
dismissed=$("$gg" -c "$conf" alerts list --status dismissed | grep -c -- '-[0-9a-f]\{16\}' || true)
check "hostile push: no alert set to dismissed ($dismissed)" test "$dismissed" -eq 0
n_civil=$("$gg" -c "$conf" outbox list --status done | awk '$3 == "civil"' | wc -l)
n_rows=$(sqlite3 "$GG_DEMO_DIR/civil.db" "SELECT count(*) FROM mz_yjxx" 2>/dev/null || echo 0)
check "hostile push: every civil delivery done and in its table ($n_civil done, $n_rows rows)" \
  bash -c "[ $n_civil -gt 0 ] && [ $n_rows -ge $n_civil ]"
check "hostile push: nothing pending or dead" \
  bash -c "[ \$('$gg' -c '$conf' outbox list | grep -cE ' (pending|dead) ') -eq 0 ]"

city_finish

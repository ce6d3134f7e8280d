#!/usr/bin/env bash
# scripts/demo/setup-city.sh - builds and starts the demo city.
#
#   setup-city.sh DIR PG_PORT PSB_PORT
#
# Generates the city into DIR (gen_city.py; seed from GG_DEMO_SEED, default
# 20240601), starts a PostgreSQL cluster in DIR/pg on 127.0.0.1:PG_PORT
# (scripts/pg-cluster.sh), (re)creates the databases hr and grid and loads
# them, and starts psb_server.py on 127.0.0.1:PSB_PORT in the background (pid
# file DIR/psb.pid, log DIR/psb.log). The civil-affairs system is the SQLite
# file DIR/civil.db. Waits until both servers answer. Idempotent: running it
# again reloads fresh data and restarts the PSB service. Stop with stop-city.sh.
set -euo pipefail

dir=${1:?usage: setup-city.sh DIR PG_PORT PSB_PORT}
pg_port=${2:?missing PG_PORT}
psb_port=${3:?missing PSB_PORT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# A PSB service from an earlier setup of this DIR: stop it (we started it).
if [ -f "$dir/psb.pid" ]; then
  old=$(cat "$dir/psb.pid")
  if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
    kill "$old"
    for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/psb.pid"
fi
rm -f "$dir/psb_notices.json"

python3 "$here/gen_city.py" --out "$dir" --seed "${GG_DEMO_SEED:-20240601}"

bash "$root/scripts/pg-cluster.sh" start "$dir/pg" "$pg_port"
export PGOPTIONS="-c client_min_messages=warning"
psql_cmd=(psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1)
for db in hr grid; do
  "${psql_cmd[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  "${psql_cmd[@]}" -d "$db" -f "$dir/$db.sql" >/dev/null \
    || { echo "setup-city: loading $dir/$db.sql into $db failed" >&2; exit 1; }
done

nohup python3 "$here/psb_server.py" --data "$dir/psb.json" --token-file "$dir/psb.token" \
  --port "$psb_port" --pid-file "$dir/psb.pid" ${GG_PSB_FAIL_FIRST:+--fail-first "$GG_PSB_FAIL_FIRST"} \
  >"$dir/psb.log" 2>&1 </dev/null &
psb_pid=$!

ok=
for _ in $(seq 100); do
  if ! kill -0 "$psb_pid" 2>/dev/null; then
    echo "setup-city: psb_server exited, log:" >&2; tail -n 20 "$dir/psb.log" >&2; exit 1
  fi
  if curl -fsS -o /dev/null "http://127.0.0.1:$psb_port/health" 2>/dev/null \
     && "${psql_cmd[@]}" -d hr -Atc 'SELECT 1' >/dev/null 2>&1; then
    ok=1; break
  fi
  sleep 0.1
done
[ -n "$ok" ] || { echo "setup-city: servers did not come up within 10 s" >&2; exit 1; }
echo "setup-city: city in $dir (PostgreSQL 127.0.0.1:$pg_port, PSB http://127.0.0.1:$psb_port)"

#!/usr/bin/env bash
# scripts/demo.sh - the main job on the demo city: install what is missing,
# build, start the four department systems (HR and grid in PostgreSQL, civil
# affairs in a GBK SQLite file read through ODBC, public security as a paged,
# token-protected HTTP service), run one cycle, print the alerts and explain them.
# The systems keep running afterwards; stop them with scripts/demo/stop-city.sh var/demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh"
bash "$root/scripts/build.sh"
export GG_DEMO_DIR=${GG_DEMO_DIR:-$root/var/demo}
export GG_PG_PORT=${GG_PG_PORT:-55432}
export GG_PSB_PORT=${GG_PSB_PORT:-18080}
bash "$root/scripts/demo/setup-city.sh" "$GG_DEMO_DIR" "$GG_PG_PORT" "$GG_PSB_PORT"
rm -f "$GG_DEMO_DIR/state.db" "$GG_DEMO_DIR/state.db-wal" "$GG_DEMO_DIR/state.db-shm"
gg="$root/build/gridgate"
conf="$root/conf/demo.ini"
echo
echo "== gridgate run --once"
"$gg" -c "$conf" run --once
echo
echo "== gridgate alerts list"
"$gg" -c "$conf" alerts list
echo
echo "== explanations"
"$gg" -c "$conf" alerts export | python3 -c '
import json, sys
seen = set()
for line in sys.stdin:
    a = json.loads(line)
    if a["rule"] not in seen:
        seen.add(a["rule"]); print(a["id"])' | while read -r id; do
  "$gg" -c "$conf" alerts show "$id"
  echo
done
echo "== data quality (last cycle)"
"$gg" -c "$conf" dq
echo
echo "The demo systems are still running (PostgreSQL on 127.0.0.1:$GG_PG_PORT, public security on :$GG_PSB_PORT)."
echo "Stop them with: bash scripts/demo/stop-city.sh $GG_DEMO_DIR"
echo "To run gridgate against them yourself (README, Using it):"
echo "  export GG_DEMO_DIR=$GG_DEMO_DIR GG_PG_PORT=$GG_PG_PORT GG_PSB_PORT=$GG_PSB_PORT"
echo "  build/gridgate -c conf/demo.ini alerts list"

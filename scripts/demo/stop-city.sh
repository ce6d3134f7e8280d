#!/usr/bin/env bash
# scripts/demo/stop-city.sh - stops what setup-city.sh started in DIR: the PSB
# service (by its pid file) and the PostgreSQL cluster in DIR/pg. Data stays.
set -uo pipefail

dir=${1:?usage: stop-city.sh DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rc=0

if [ -f "$dir/psb.pid" ]; then
  pid=$(cat "$dir/psb.pid")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop-city: psb_server $pid did not stop, killing" >&2
      kill -9 "$pid" || rc=1
    fi
  fi
  rm -f "$dir/psb.pid"
fi
if [ -d "$dir/pg" ]; then
  bash "$root/scripts/pg-cluster.sh" stop "$dir/pg" || rc=1
fi
exit $rc

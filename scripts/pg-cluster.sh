#!/usr/bin/env bash
# scripts/pg-cluster.sh - a throwaway PostgreSQL cluster for the demo city and
# the tests. PostgreSQL refuses to run as root (CI runs as root), so when root
# it runs the server as the unprivileged system user "gridgate-pg".
#
#   pg-cluster.sh start DIR PORT   initdb if needed, start on 127.0.0.1:PORT
#   pg-cluster.sh stop DIR         stop (fast) if running
#   pg-cluster.sh status DIR
# Clients connect with: host=127.0.0.1 port=PORT user=postgres (trust auth,
# loopback only; the cluster holds generated data only).
set -euo pipefail

cmd=${1:?usage: pg-cluster.sh start|stop|status DIR [PORT]}
dir=${2:?missing DIR}
port=${3:-55432}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "pg-cluster: no PostgreSQL server found (run scripts/deps.sh)" >&2; exit 1; }

runas=()
if [ "$(id -u)" -eq 0 ]; then
  id gridgate-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin gridgate-pg
  runas=(runuser -u gridgate-pg --)
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ "$(id -u)" -eq 0 ] && chown gridgate-pg "$dir"
data="$dir/data"

case "$cmd" in
start)
  if [ ! -f "$data/PG_VERSION" ]; then
    "${runas[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
CONF
  fi
  if "${runas[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "pg-cluster: already running in $dir"
    exit 0
  fi
  "${runas[@]}" "$bindir/pg_ctl" -D "$data" -o "-p $port" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { echo "pg-cluster: server failed to start, log:" >&2; tail -n 20 "$dir/server.log" >&2; exit 1; }
  echo "pg-cluster: running on 127.0.0.1:$port ($dir)"
  ;;
stop)
  if [ -f "$data/PG_VERSION" ] && "${runas[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    "${runas[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
  ;;
status)
  "${runas[@]}" "$bindir/pg_ctl" -D "$data" status
  ;;
*) echo "pg-cluster: unknown command $cmd" >&2; exit 2 ;;
esac

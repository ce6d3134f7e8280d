#!/usr/bin/env bash
# tests/integration/connectors.sh - the connectors against real servers: a
# throwaway PostgreSQL cluster (libpq and psqlODBC), a SQLite file (SQLite3
# ODBC driver, including GBK bytes in a TEXT column) and the HTTP fixture.
# Runs $GG_BUILD_DIR/connectors_prog, which asserts and prints "N passed, 0 failed".
# Every server started here is stopped and the temp dir removed on any exit.
set -euo pipefail

src=${GG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${GG_BUILD_DIR:?GG_BUILD_DIR must point at the build directory}
prog="$build/connectors_prog"
[ -x "$prog" ] || { echo "connectors.sh: $prog is not built" >&2; exit 1; }
pgc="$src/scripts/pg-cluster.sh"

tmp=$(mktemp -d /tmp/gg-connectors.XXXXXX)
chmod 755 "$tmp" # the cluster runs as an unprivileged user when we are root
fixture_pid=""

cleanup() {
  local rc=$?
  set +e
  # A background start may still be running: let it finish, then stop.
  for _ in $(seq 1 100); do [ -e "$tmp/starting" ] || break; sleep 0.1; done
  [ -d "$tmp/pg" ] && bash "$pgc" stop "$tmp/pg" >/dev/null 2>&1
  if [ -n "$fixture_pid" ]; then kill "$fixture_pid" 2>/dev/null; wait "$fixture_pid" 2>/dev/null; fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Resolve the interpreter once (version-manager shims can be slow to start).
py=$(python3 -c 'import sys; print(sys.executable)')
free_port() { "$py" "$src/tests/lib/free_port.py"; }

# ---- PostgreSQL --------------------------------------------------------------
pgport=$(free_port)
bash "$pgc" start "$tmp/pg" "$pgport" >/dev/null
conninfo="host=127.0.0.1 port=$pgport user=postgres dbname=postgres password=pw-unused-with-trust"
psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$pgport user=postgres dbname=postgres" <<'SQL'
create table people(id integer primary key, name text, note text, big text);
insert into people values
  (1, '张三', 'first', repeat('长', 100000)),
  (2, '李四', null, 'x'),
  (3, '阿卜杜·热合曼', 'third', ''),
  (4, null, null, null);
SQL

# ---- SQLite (for the SQLite3 ODBC driver) ------------------------------------
"$py" - "$tmp/civil.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("create table people(id integer primary key, name text, note text, big text, gbk text)")
rows = [(1, "张三", "first", "长" * 100000), (2, "李四", None, "x"),
        (3, "阿卜杜·热合曼", "third", ""), (4, None, None, None)]
for r in rows:
    # The GBK bytes go in as TEXT, the way a legacy system would have stored them.
    gbk = "NULL" if r[1] is None else "CAST(X'%s' AS TEXT)" % r[1].encode("gbk").hex()
    db.execute("insert into people values (?, ?, ?, ?, %s)" % gbk, r)
db.commit()
PY

# ---- HTTP fixture ------------------------------------------------------------
token="tok-$(date +%s%N)"
"$py" "$src/tests/integration/http_fixture.py" "$tmp/http.port" "$token" &
fixture_pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
[ -s "$tmp/http.port" ] || { echo "connectors.sh: HTTP fixture did not start" >&2; exit 1; }
httpport=$(cat "$tmp/http.port")

# ---- run ---------------------------------------------------------------------
export GG_PG_CONNINFO="$conninfo"
export GG_PG_RESTART_CMD="bash '$pgc' stop '$tmp/pg' >/dev/null && bash '$pgc' start '$tmp/pg' $pgport >/dev/null"
export GG_PG_STOP_CMD="while [ -e '$tmp/starting' ]; do sleep 0.1; done; bash '$pgc' stop '$tmp/pg' >/dev/null"
export GG_PG_START_BG_CMD="touch '$tmp/starting'; (sleep 1; bash '$pgc' start '$tmp/pg' $pgport; rm -f '$tmp/starting') >/dev/null 2>&1 &"
export GG_ODBC_SQLITE="Driver=SQLite3;Database=$tmp/civil.db"
export GG_ODBC_PG="Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=$pgport;Database=postgres;Uid=postgres"
export GG_HTTP_BASE="http://127.0.0.1:$httpport/"
export GG_HTTP_TOKEN="$token"

out=$("$prog" 2>"$tmp/prog.err") || {
  echo "$out"
  echo "connectors.sh: connectors_prog failed:" >&2
  cat "$tmp/prog.err" >&2
  exit 1
}
echo "$out"
# The run must also not have logged any secret.
if grep -q -e "$token" -e "pw-Never-Shown" -e "pw-unused-with-trust" "$tmp/prog.err"; then
  echo "connectors.sh: a secret appeared in the log output" >&2
  exit 1
fi
echo "$out" | grep -Eq '^[0-9]+ passed, 0 failed$' || { echo "connectors.sh: unexpected summary" >&2; exit 1; }

# tests/lib/city.sh - shared by the shell tests that run against the demo city:
# a work directory, free ports, the city started and always stopped, TAP-style
# checks with a closing "N passed, N failed" line. Source it, then call
# city_start; end the test with city_finish.
#
# Sets: root, gg, work, GG_DEMO_DIR, GG_PG_PORT, GG_PSB_PORT (exported).
# GG_KEEP=1 keeps the work directory for inspection.

root=${GG_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
gg=${GRIDGATE:-$root/build/gridgate}
work=$(mktemp -d "${TMPDIR:-/tmp}/gg-test.XXXXXX")
chmod 755 "$work"
pass=0
fail=0

free_port() { python3 "$root/tests/lib/free_port.py"; }
export GG_DEMO_DIR=$work/city GG_PG_PORT=$(free_port) GG_PSB_PORT=$(free_port)
while [ "$GG_PSB_PORT" = "$GG_PG_PORT" ]; do GG_PSB_PORT=$(free_port); done

city_cleanup() {
  bash "$root/scripts/demo/stop-city.sh" "$GG_DEMO_DIR" >/dev/null 2>&1
  if [ -n "${GG_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap city_cleanup EXIT

# check DESCRIPTION COMMAND... : one ok/not ok line
check() {
  local d=$1; shift
  if "$@"; then echo "ok - $d"; pass=$((pass + 1)); else echo "not ok - $d"; fail=$((fail + 1)); return 1; fi
}

# A port drawn by free_port can still be taken by a parallel test before the
# city's servers bind it: a setup that failed for that reason is tried again
# on new ports (twice at most); any other failure ends the test.
city_start() {
  local try
  for try in 1 2 3; do
    if bash "$root/scripts/demo/setup-city.sh" "$GG_DEMO_DIR" "$GG_PG_PORT" "$GG_PSB_PORT" >"$work/setup.log" 2>&1; then
      return 0
    fi
    grep -q "Address already in use" "$work/setup.log" && [ "$try" -lt 3 ] || break
    echo "# city setup: a port was taken (pg $GG_PG_PORT, psb $GG_PSB_PORT), trying new ports"
    bash "$root/scripts/demo/stop-city.sh" "$GG_DEMO_DIR" >/dev/null 2>&1
    GG_PG_PORT=$(free_port) GG_PSB_PORT=$(free_port)
    while [ "$GG_PSB_PORT" = "$GG_PG_PORT" ]; do GG_PSB_PORT=$(free_port); done
  done
  cat "$work/setup.log"; echo "0 passed, 1 failed"; exit 1
}

# city_conf OUT [extra ini text]: conf/demo.ini with absolute adapter paths
city_conf() {
  sed -e "s#\.\./adapters/#$root/adapters/#" "$root/conf/demo.ini" >"$1"
  [ $# -gt 1 ] && printf '%s\n' "$2" >>"$1"
  return 0
}

city_finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

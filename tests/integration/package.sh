#!/usr/bin/env bash
# tests/integration/package.sh - the Debian package: built with cpack from the
# test build, installed with dpkg (the gridgate user, /var/lib/gridgate, the
# admin token, the laid-out files), the installed binary run from its installed
# paths (version; check of the shipped /etc/gridgate/gridgate.ini, as root and
# as the gridgate user; one cycle on the demo city with the installed adapters), the unit verified with systemd-analyze, reinstalled
# (the token is kept), removed (the conffile stays), then purged: user, group,
# state and configuration gone.
#
# It changes the system, so it runs only as root on a machine where no gridgate
# package or user exists yet (CI: Debian 12 as root); otherwise it skips with
# the reason. Env (set by ctest): GG_BUILD_DIR, GG_SOURCE_DIR.
set -uo pipefail

root=${GG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${GG_BUILD_DIR:-$root/build}
pass=0
fail=0
check() {
  local d=$1; shift
  if "$@"; then echo "ok - $d"; pass=$((pass + 1)); else echo "not ok - $d"; fail=$((fail + 1)); fi
}
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
skip() { echo "skip - $*"; finish; }

[ "$(id -u)" = 0 ] || skip "not root: installing a package needs root"
command -v dpkg >/dev/null && command -v cpack >/dev/null || skip "dpkg or cpack missing"
dpkg-query -W -f='${Status}' gridgate 2>/dev/null | grep -q installed && skip "a gridgate package is already installed"
getent passwd gridgate >/dev/null && skip "a gridgate user already exists"
[ -e /etc/gridgate ] && skip "/etc/gridgate already exists"
[ -e /var/lib/gridgate ] && skip "/var/lib/gridgate already exists"
[ -f "$build/CPackConfig.cmake" ] || skip "no CPackConfig.cmake in $build (configure first)"

work=$(mktemp -d "${TMPDIR:-/tmp}/gg-pkg.XXXXXX")
installed=0
city=0
cleanup() {
  # never leave the package or the demo city behind, whatever failed
  [ "$city" = 1 ] && bash "$root/scripts/demo/stop-city.sh" "$GG_DEMO_DIR" >/dev/null 2>&1
  [ "$installed" = 1 ] && dpkg_retry --purge gridgate >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# dpkg waits for no one: retry a few times if another dpkg/apt holds the lock
dpkg_retry() {
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    dpkg "$@" >"$work/dpkg.log" 2>&1 && return 0
    grep -q 'lock' "$work/dpkg.log" || { cat "$work/dpkg.log"; return 1; }
    sleep 3
  done
  cat "$work/dpkg.log"
  return 1
}

# --- build the .deb from the already built tree
if (cd "$work" && timeout 300 cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out") >"$work/cpack.log" 2>&1; then
  deb=$(ls "$work"/out/gridgate_*_*.deb 2>/dev/null | head -n 1)
else
  deb=""
fi
check "cpack builds the .deb" [ -n "$deb" ]
[ -n "$deb" ] || { tail -n 30 "$work/cpack.log"; finish; }
echo "# $(basename "$deb"), $(stat -c %s "$deb") bytes"
check "the .deb declares its shared library dependencies" bash -c "dpkg-deb -f '$deb' Depends | grep -q libmicrohttpd"
check "gridgate.ini is a conffile" bash -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/gridgate/gridgate.ini"

# --- install
installed=1
check "dpkg -i installs it" dpkg_retry -i "$deb"
check "gridgate user: system account, no login shell, home /var/lib/gridgate" bash -c '
  IFS=: read -r n _ uid gid _ home shell < <(getent passwd gridgate) && [ "$uid" -lt 1000 ] &&
  [ "$home" = /var/lib/gridgate ] && [ "$shell" = /usr/sbin/nologin ] && getent group gridgate >/dev/null'
check "/usr/bin/gridgate is executable" test -x /usr/bin/gridgate
check "the four reference adapters in /usr/share/gridgate/adapters" bash -c '
  for a in hr_pension grid civil_affairs public_security; do test -f /usr/share/gridgate/adapters/$a.lua || exit 1; done'
check "/etc/gridgate/gridgate.ini root:gridgate 0640" \
  bash -c '[ "$(stat -c %U:%G:%a /etc/gridgate/gridgate.ini)" = root:gridgate:640 ]'
check "/etc/gridgate/admin.token generated, gridgate 0600, 64 hex digits" \
  bash -c '[ "$(stat -c %U:%a /etc/gridgate/admin.token)" = gridgate:600 ] && grep -Eqx "[0-9a-f]{64}" /etc/gridgate/admin.token'
check "/var/lib/gridgate gridgate:gridgate 0750" \
  bash -c '[ "$(stat -c %U:%G:%a /var/lib/gridgate)" = gridgate:gridgate:750 ]'
check "systemd unit installed" test -f /usr/lib/systemd/system/gridgate.service
check "man pages gridgate(8) and gridgate.ini(5) render" bash -c '
  zcat /usr/share/man/man8/gridgate.8.gz | grep -q "^\.TH \"gridgate\" \"8\"" &&
  zcat /usr/share/man/man5/gridgate.ini.5.gz | grep -q "^\.TH \"gridgate.ini\" \"5\"" &&
  { ! command -v man >/dev/null || man -l /usr/share/man/man8/gridgate.8.gz 2>/dev/null | grep -q "ADMIN ENDPOINT"; }'
version=$(sed -n 's/^#define GG_VERSION "\(.*\)"/\1/p' "$root/gateway/src/app/gg.h")
check "/usr/bin/gridgate version prints $version" bash -c "[ \"\$(cd / && /usr/bin/gridgate version)\" = 'gridgate $version' ]"
(cd / && /usr/bin/gridgate check -c /etc/gridgate/gridgate.ini) >"$work/check.out" 2>&1
rc=$?
check "gridgate check -c /etc/gridgate/gridgate.ini (root) exits 0" [ "$rc" = 0 ]
[ "$rc" = 0 ] || sed 's/^/  | /' "$work/check.out"
check "the check loads the installed adapters" grep -q "adapter /usr/share/gridgate/adapters/hr_pension.lua" "$work/check.out"
(cd / && runuser -u gridgate -- /usr/bin/gridgate check -c /etc/gridgate/gridgate.ini) >"$work/check2.out" 2>&1
rc=$?
check "the same check as the gridgate user exits 0" [ "$rc" = 0 ]
[ "$rc" = 0 ] || sed 's/^/  | /' "$work/check2.out"

# --- the installed binary runs the demo city with the installed adapters
free_port() { python3 "$root/tests/lib/free_port.py"; }
export GG_DEMO_DIR=$work/city GG_PG_PORT=$(free_port) GG_PSB_PORT=$(free_port)
chmod 755 "$work"
if bash "$root/scripts/demo/setup-city.sh" "$GG_DEMO_DIR" "$GG_PG_PORT" "$GG_PSB_PORT" >"$work/city.log" 2>&1; then
  city=1
  sed -e "s#\.\./adapters/#/usr/share/gridgate/adapters/#" "$root/conf/demo.ini" >"$work/demo.ini"
  (cd / && /usr/bin/gridgate -c "$work/demo.ini" run --once) >"$work/demo-run.log" 2>&1
  rc=$?
  check "the installed gridgate runs the demo city with the installed adapters (run --once exits 0)" [ "$rc" = 0 ]
  [ "$rc" = 0 ] || tail -n 20 "$work/demo-run.log" | sed 's/^/  | /'
  (cd / && /usr/bin/gridgate -c "$work/demo.ini" alerts list) 2>/dev/null \
    | grep -oE '(PAD|AHI|AHA|ADM|PIC|DUP|IDC)-[0-9a-f]{16}' | sort -u >"$work/found.ids"
  python3 -c 'import json,sys; print("\n".join(sorted(a["id"] for a in json.load(open(sys.argv[1]))["alerts"])))' \
    "$GG_DEMO_DIR/expected.json" >"$work/planted.ids"
  check "... and lists exactly the alerts planted in the demo city ($(wc -l <"$work/planted.ids") planted)" \
    cmp -s "$work/found.ids" "$work/planted.ids"
else
  check "the demo city starts for the installed binary" false
  tail -n 20 "$work/city.log" | sed 's/^/  | /'
fi

if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /usr/lib/systemd/system/gridgate.service >"$work/verify.log" 2>&1
  rc=$?
  check "systemd-analyze verify gridgate.service" [ "$rc" = 0 ]
  [ "$rc" = 0 ] || sed 's/^/  | /' "$work/verify.log"
else
  echo "# systemd-analyze not installed: unit not verified"
fi
check "the unit: Type=notify, User=gridgate, ProtectSystem=strict, ReadWritePaths=/var/lib/gridgate" bash -c '
  u=/usr/lib/systemd/system/gridgate.service
  for l in Type=notify User=gridgate ProtectSystem=strict ReadWritePaths=/var/lib/gridgate NoNewPrivileges=yes PrivateTmp=yes; do
    grep -qx "$l" $u || exit 1; done'

# --- reinstall (upgrade path): the token and an edited conffile are kept
token=$(cat /etc/gridgate/admin.token)
echo "; edited by the package test" >>/etc/gridgate/gridgate.ini
check "dpkg -i again (reinstall)" dpkg_retry -i --force-confold "$deb"
check "reinstall keeps the admin token" bash -c "[ \"\$(cat /etc/gridgate/admin.token)\" = '$token' ]"
check "reinstall keeps the edited configuration" grep -q "edited by the package test" /etc/gridgate/gridgate.ini

# --- remove, then purge
check "dpkg -r removes it" dpkg_retry -r gridgate
check "after remove: binary and adapters gone, configuration and user kept" bash -c '
  ! test -e /usr/bin/gridgate && ! test -e /usr/share/gridgate && test -f /etc/gridgate/gridgate.ini &&
  getent passwd gridgate >/dev/null'
check "dpkg --purge purges it" dpkg_retry --purge gridgate
installed=0
check "after purge: no package, user, group, /etc/gridgate, /var/lib/gridgate, unit or man page" bash -c '
  ! dpkg-query -W -f="\${Status}" gridgate 2>/dev/null | grep -q installed &&
  ! getent passwd gridgate >/dev/null && ! getent group gridgate >/dev/null &&
  ! test -e /etc/gridgate && ! test -e /var/lib/gridgate && ! test -e /usr/lib/systemd/system/gridgate.service &&
  ! test -e /usr/share/man/man8/gridgate.8.gz && ! test -e /usr/share/doc/gridgate'
finish

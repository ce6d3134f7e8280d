#!/usr/bin/env bash
# scripts/deps.sh - install the Debian 12 packages gridgate builds and tests with,
# only those that are missing. Runs apt-get as root (or through sudo).
set -euo pipefail

PKGS=(build-essential cmake pkg-config python3 curl
      libpq-dev postgresql postgresql-client
      unixodbc unixodbc-dev libsqliteodbc odbc-postgresql sqlite3 libsqlite3-dev
      liblua5.4-dev libjansson-dev libcurl4-openssl-dev libopencc-dev opencc
      libmicrohttpd-dev libinih-dev libcmocka-dev
      libsystemd-dev scdoc libseccomp-dev libxxhash-dev clang)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

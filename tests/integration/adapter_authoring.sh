#!/usr/bin/env bash
# tests/integration/adapter_authoring.sh - the adapter authoring tools against
# real sources: the three worked examples of adapters/README.md (a throwaway
# PostgreSQL cluster, a GBK-encoded SQLite file read through the SQLite3 ODBC
# driver, and the paged REST fixture with a bearer token) run with
# `gridgate adapter test` using adapters/examples/examples.ini, with their
# planted bad rows; `gridgate adapter new` for every kind followed by
# `gridgate check`; refusal to overwrite; a source that is down; Lua and
# declaration errors naming file:line and the source.
# Prints "N passed, 0 failed"; exits nonzero on any failure. Every server
# started here is stopped and the temp dir removed on any exit.
set -euo pipefail

src=${GG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
gg=${GRIDGATE:?GRIDGATE must point at the gridgate binary}
[ -x "$gg" ] || { echo "adapter_authoring.sh: $gg is not executable" >&2; exit 1; }
ex="$src/adapters/examples"
pgc="$src/scripts/pg-cluster.sh"

tmp=$(mktemp -d /tmp/gg-authoring.XXXXXX)
chmod 755 "$tmp" # the cluster runs as an unprivileged user when we are root
fixture_pid=""

cleanup() {
  local rc=$?
  set +e
  [ -d "$tmp/pg" ] && bash "$pgc" stop "$tmp/pg" >/dev/null 2>&1
  if [ -n "$fixture_pid" ]; then kill "$fixture_pid" 2>/dev/null; wait "$fixture_pid" 2>/dev/null; fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 "$src/tests/lib/free_port.py"; }

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# run NAME ARGS...: runs gridgate, output (stdout+stderr) in $tmp/NAME.out, exit code in $rc
run() {
  local name=$1
  shift
  set +e
  "$gg" "$@" >"$tmp/$name.out" 2>&1
  rc=$?
  set -e
}
# expect_rc NAME CODE
expect_rc() {
  if [ "$rc" -eq "$2" ]; then ok; else bad "$1: exit code $rc, expected $2"; sed 's/^/    | /' "$tmp/$1.out" >&2; fi
}
# has NAME EXTENDED-REGEX: some line of NAME's output matches
has() {
  if grep -Eq -- "$2" "$tmp/$1.out"; then ok; else bad "$1: no line matches /$2/"; sed 's/^/    | /' "$tmp/$1.out" >&2; fi
}
# hasnt NAME FIXED-STRING: no line of NAME's output contains it
hasnt() {
  if grep -Fq -- "$2" "$tmp/$1.out"; then bad "$1: output contains '$2'"; else ok; fi
}
# count NAME EXTENDED-REGEX N: exactly N lines match
count() {
  local n
  n=$(grep -Ec -- "$2" "$tmp/$1.out" || true)
  if [ "$n" -eq "$3" ]; then ok; else bad "$1: $n lines match /$2/, expected $3"; fi
}

# ---- the sources ---------------------------------------------------------------
pgport=$(free_port)
bash "$pgc" start "$tmp/pg" "$pgport" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$pgport user=postgres dbname=postgres" -c "CREATE DATABASE hr"
psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$pgport user=postgres dbname=hr" -f "$ex/pension_pg.sql"

python3 "$ex/cremation_gbk.py" "$tmp/cremation.db"
# The names really are GBK bytes on disk (张建国 = d5c5 bda8 b9fa).
if python3 - "$tmp/cremation.db" <<'PY'
import sqlite3, sys
v = sqlite3.connect(sys.argv[1]).execute("select cast(xm as blob) from mz_hhdj where hhbh='HH2024001'").fetchone()[0]
sys.exit(0 if v == "张建国".encode("gbk") else 1)
PY
then ok; else bad "cremation.db does not hold GBK bytes"; fi

token="tok-$(date +%s%N)"
python3 "$ex/deregistration_server.py" "$tmp/http.port" "$token" &
fixture_pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
[ -s "$tmp/http.port" ] || { echo "adapter_authoring.sh: the REST fixture did not start" >&2; exit 1; }

export EXAMPLE_PG_PORT=$pgport EXAMPLE_CREMATION_DB="$tmp/cremation.db"
export EXAMPLE_HUKOU_PORT=$(cat "$tmp/http.port") EXAMPLE_HUKOU_TOKEN=$token
cfg="$ex/examples.ini"

# ---- gridgate check on the examples' configuration ------------------------------
run check -c "$cfg" check
expect_rc check 0
has check '^source hr_pension: ok, adapter .*pension_pg.lua, 1 streams'
has check '^source civil_cremation: ok, adapter .*cremation_odbc.lua, 2 streams'
has check '^source psb_hukou: ok, adapter .*deregistration_http.lua, 1 streams'

# ---- (a) PostgreSQL: pension payments ------------------------------------------
run pg adapter test "$ex/pension_pg.lua" --source hr_pension -c "$cfg"
expect_rc pg 0
has pg '^  YL2024030001 +1101\*{10}1232 +张\*\* +pension +2024-03 +3120\.50 +人社养老保险 +2024-03-10$'
has pg '^  YL2024040001 +1101\*{10}1232 +张\*\* +pension +2024-04 +3120\.50 '
# a legacy 15-digit id is shown in its normalized 18-digit form, masked
has pg '^  YL2024030003 +1101\*{10}1235 +王\*\* +pension +2024-03 +1988\.00 '
has pg '^  YL2024030006 +6501\*{10}4420 +刘\*\* +pension +2024-03 +0\.03 '
has pg '^  rejected YL2024130007: field period \(column ffny\): not a month: .202413.$'
has pg "^  rejected YL2024030008: missing required field 'amount'$"
has pg '^  warning YL2024030004: id_no \*+ is not a valid id number: .*15 or 18'
has pg '^  warning YL2024030005: id_no 4403\*{10}3316 is not a valid id number: bad check character$'
has pg '^  warning YL2024030006: amount 3 fen \(0\.03 yuan\) .*is the column in yuan\? map it with yuan\(\)$'
# a period and payment date decades ahead: implausible (after today + 1 year), rejected
has pg '^  rejected YL2099010009: field period \(column ffny\): implausible month 209901 \(outside 190001\.\.[0-9]{6}\)$'
count pg '^  warning ' 3
count pg '^  rejected ' 3
has pg '^stream pension_payments: 7 facts, 3 rejected, 3 warnings$'
# never a raw id number or name
hasnt pg 110105194103051232
hasnt pg 11010519491231002
hasnt pg 张建国
# --limit stops after N facts
run pglimit adapter test "$ex/pension_pg.lua" --source hr_pension --limit 2 -c "$cfg"
expect_rc pglimit 0
has pglimit '^stream pension_payments: 2 facts, 0 rejected, 0 warnings$'
count pglimit '^  YL' 2
# every column the stream selects is mapped: no unmapped line
count pg '^  unmapped ' 0
# columns selected but not mapped are listed; a name column left unmapped is
# how identity conflicts go unseen, and the line says so
cat >"$tmp/unmapped_pg.lua" <<'LUA'
return {
  streams = {
    pension_payments = {
      kind = "payment", conn = "db", key = "lsh",
      sql  = [[SELECT lsh, sfzhm, xm, ffny, ffje, ffrq FROM yl_ffmx ORDER BY lsh]],
      map  = { id_no = "sfzhm", program = const "pension", period = month "ffny", amount = yuan "ffje" },
    },
  },
}
LUA
run unmappedpg adapter test "$tmp/unmapped_pg.lua" --source hr_pension -c "$cfg"
expect_rc unmappedpg 0
has unmappedpg '^  unmapped columns: xm, ffrq \(a name or birth-date column left unmapped hides identity conflicts\)$'
count unmappedpg '^  unmapped ' 1
# the same without the name column: the list without the identity hint
sed -e 's/sfzhm, xm, ffny/sfzhm, ffny/' "$tmp/unmapped_pg.lua" >"$tmp/unmapped_pg2.lua"
run unmappedpg2 adapter test "$tmp/unmapped_pg2.lua" --source hr_pension -c "$cfg"
has unmappedpg2 '^  unmapped columns: ffrq$'
# adapter test touches no state: no state store appeared next to the config
if [ -e "$ex/gridgate-state.db" ]; then bad "a state store was created in $ex"; else ok; fi

# ---- (b) ODBC, GBK-encoded legacy SQLite: cremations -----------------------------
run odbc adapter test "$ex/cremation_odbc.lua" --source civil_cremation -c "$cfg"
expect_rc odbc 0
has odbc '^== stream cremations: death facts from db'
has odbc '^  HH2024001 +1101\*{10}1232 +张\*\* +1941-03-05 +2024-03-12 +cremation$'
has odbc '^  HH2024002 +3205\*{10}2040 +李\*\* +F +1938-07-12$'
# 阿依古丽·买买提 decoded from GBK: 8 characters, masked to the first and 7 stars
has odbc '^  HH2024003 +6501\*{10}4420 +阿\*{7} +1940-01-05 +2024-01-05 +cremation$'
count odbc '^  rejected HH2024004: column xm: not valid GBK text$' 2
has odbc "^  rejected HH2024005: field death_date \(column swrq\): not a date: '20240231'$"
has odbc "^  rejected HH2024006: field sex \(column xb\): code '9' is not in the code table$"
count odbc '^  warning HH2024007: birth_date 1949-01-10 disagrees with the birth date in the id number$' 2
has odbc '^stream cremated_persons: 5 facts, 2 rejected, 1 warnings$'
has odbc '^stream cremations: 5 facts, 2 rejected, 1 warnings$'
hasnt odbc 阿依古丽
# Chinese text in the SQL is converted to GBK on the way in, so it matches the stored bytes
cat >"$tmp/gbk_where.lua" <<'LUA'
return {
  streams = {
    one = {
      kind = "death", conn = "db", key = "hhbh",
      sql = [[SELECT hhbh, sfzhm, xm, swrq FROM mz_hhdj WHERE xm = '张建国' OR xm = ?]],
      params = { "李秀兰" },
      map = { id_no = "sfzhm", name = "xm", death_date = date "swrq", basis = const "cremation" },
    },
  },
}
LUA
run gbkwhere adapter test "$tmp/gbk_where.lua" --source civil_cremation -c "$cfg"
expect_rc gbkwhere 0
has gbkwhere '^stream one: 2 facts, 0 rejected, 0 warnings$'
has gbkwhere '^  HH2024002 +3205'
# without encoding = GBK the same bytes are not UTF-8: every record with Chinese text is rejected
sed -e '/^encoding = GBK/d' -e "s#^adapter = #adapter = $ex/#" "$cfg" >"$tmp/noenc.ini"
run noenc adapter test "$ex/cremation_odbc.lua" --source civil_cremation -c "$tmp/noenc.ini"
expect_rc noenc 0
has noenc '^  rejected HH2024001: column xm: not valid UTF-8 \(set encoding = GBK'
has noenc '^stream cremations: 0 facts, 7 rejected'

# ---- (c) paged REST API with a bearer token: household deregistrations -------------
run http adapter test "$ex/deregistration_http.lua" --source psb_hukou -c "$cfg"
expect_rc http 0
# 106 items over three pages of 50: 100 generated deaths + P01, P04, P06
has http '^stream deregistrations: 103 facts, 2 rejected, 2 warnings$'
has http '^  ZX20240001 +6101\*{10}507X +张\*\* +1930-02-12 +示例市示例区1号 +2024-01-01 +household_deregistration +false$'
has http '^  ZX20240100 +'
has http '^  ZX2024P06 +4201\*{10}4263 +许\*\* +1939-11-30 +.* +2024-07-07 +household_deregistration +true$'
has http "^  rejected ZX2024P02: field death_date \(column swrq\): not a date: '2024/2/30'$"
has http "^  rejected ZX2024P03: field revoked \(column hfbz\): code 'X' is not in the code table$"
has http '^  warning ZX2024P01: id_no \*{18} is not a valid id number: invalid character'
has http '^  warning ZX2024P04: birth_date 1944-03-18 disagrees with the birth date in the id number$'
hasnt http ZX2024P05 # moved away: skipped by the row function, neither a fact nor a reject
hasnt http "$token"
# a row function may read any key: its stream lists none
count http '^  unmapped ' 0
# HTTP: the item keys seen that the map does not read (ry.xm reads "ry")
cat >"$tmp/unmapped_http.lua" <<'LUA'
return {
  streams = {
    deregistrations = {
      kind = "death", conn = "api", get = "/api/v1/zxdj", items = "data.items",
      page = { param = "page", start = 1, size_param = "size", size = 50 },
      key  = "zxbh",
      map  = { id_no = "ry.gmsfhm", name = "ry.xm", death_date = date "swrq",
               basis = const "household_deregistration" },
    },
  },
}
LUA
run unmappedhttp adapter test "$tmp/unmapped_http.lua" --source psb_hukou -c "$cfg"
has unmappedhttp '^  unmapped item keys: .*csrq.*\(a name or birth-date column left unmapped hides identity conflicts\)$'
has unmappedhttp '^  unmapped item keys: .*hfbz'
has unmappedhttp '^  unmapped item keys: .*hjdz'
count unmappedhttp '^  unmapped item keys: .*(ry|zxbh|swrq)[,( ]' 0
# a wrong token: the stream fails, exit 1, the message names the source and says why
EXAMPLE_HUKOU_TOKEN=wrong-token run http401 adapter test "$ex/deregistration_http.lua" --source psb_hukou -c "$cfg"
expect_rc http401 1
has http401 "source psb_hukou, stream 'deregistrations': GET /api/v1/zxdj\?page=1&size=50 answered HTTP 401 \(check the token\)"
has http401 '^stream deregistrations: 0 facts, 0 rejected, 0 warnings, FAILED$'

# ---- a source that is down ---------------------------------------------------------
downport=$(free_port)
sed -e "s#\${EXAMPLE_PG_PORT}#$downport#" -e "s#^adapter = #adapter = $ex/#" "$cfg" >"$tmp/down.ini"
sed -i "s#^conn.db = pg:.*#&\nconn.db.retries = 0#" "$tmp/down.ini" # fail at once
run down adapter test "$ex/pension_pg.lua" --source hr_pension -c "$tmp/down.ini"
expect_rc down 1
has down '^  ERROR source hr_pension, connection db: .*(refused|could not connect|failed)'
has down '^stream pension_payments: 0 facts, 0 rejected, 0 warnings, FAILED$'

# ---- errors name file:line and the source ---------------------------------------------
cat >"$tmp/lua_error.lua" <<'LUA'
-- a custom pull that fails on line 6
return {
  streams = {
    broken = {
      kind = "payment",
      pull = function(ctx) local rows = nil; return rows[1] end,
    },
  },
}
LUA
run luaerr adapter test "$tmp/lua_error.lua" --source hr_pension -c "$cfg"
expect_rc luaerr 1
has luaerr "source hr_pension, stream 'broken': .*lua_error.lua:6: "
# a map field payment facts do not have: a warning naming file:line, the facts still come
cat >"$tmp/bad_field.lua" <<'LUA'
return {
  streams = {
    payments = {
      kind = "payment", conn = "db", key = "lsh",
      sql = [[SELECT lsh, sfzhm, ffny, ffje FROM yl_ffmx]],
      map = {
        id_no = "sfzhm", program = const "pension", period = month "ffny",
        amount = yuan "ffje",
        sfz = "sfzhm",
      },
    },
  },
}
LUA
run badfield adapter test "$tmp/bad_field.lua" --source hr_pension -c "$cfg"
expect_rc badfield 0
has badfield "^  warning .*bad_field.lua:9: stream 'payments': 'sfz' is not a field of payment facts; it is ignored"
has badfield '^stream payments: 7 facts, 3 rejected, 4 warnings$'
# a spec on the wrong kind of field: the adapter does not load; file:line and the source named
sed 's/period = month "ffny"/period = yuan "ffny"/' "$tmp/bad_field.lua" >"$tmp/bad_spec.lua"
run badspec adapter test "$tmp/bad_spec.lua" --source hr_pension -c "$cfg"
expect_rc badspec 1
has badspec "source hr_pension: .*bad_spec.lua:7: stream 'payments': map.period is not a money field"
# a field the row function sets that payment facts do not have: a warning, the facts still come
cat >"$tmp/unknown_field.lua" <<'LUA'
return {
  streams = {
    payments = {
      kind = "payment", conn = "db", key = "lsh",
      sql = [[SELECT lsh, sfzhm, ffny, ffje FROM yl_ffmx WHERE lsh = 'YL2024030001']],
      map = { id_no = "sfzhm", program = const "pension", period = month "ffny", amount = yuan "ffje" },
      row = function(r) return { bank_account = "622200" } end,
    },
  },
}
LUA
run unknown adapter test "$tmp/unknown_field.lua" --source hr_pension -c "$cfg"
expect_rc unknown 0
has unknown "^  warning stream 'payments': unknown field 'bank_account' for payment facts is ignored$"
has unknown '^stream payments: 1 facts, 0 rejected, 1 warnings$'

# a column the query does not return: the stream fails, naming the source and the column
sed 's/SELECT lsh, sfzhm, ffny, ffje FROM/SELECT lsh, sfzhm, ffny FROM/' "$tmp/bad_field.lua" >"$tmp/no_column.lua"
run nocol adapter test "$tmp/no_column.lua" --source hr_pension -c "$cfg"
expect_rc nocol 1
has nocol "^  ERROR source hr_pension, stream 'payments': .*map.amount reads column 'ffje', which the query does not return \(it returns: lsh, sfzhm, ffny\)"
# the custom pull of README.md section 5, as written there
cat >"$tmp/custom_pull.lua" <<'LUA'
return {
  streams = {
pension_payments = {
  kind = "payment",
  conn = "db",
  pull = function(ctx)
    ctx.conns.db:query([[SELECT lsh, sfzhm, xm, ffny, (ffje * 100)::bigint AS je_fen
                         FROM yl_ffmx WHERE ffny >= $1 ORDER BY lsh]], { "202401" },
      function(row)
        if not row.je_fen then ctx.reject(row.lsh, "no amount (ffje)"); return end
        return ctx.emit{ ref = row.lsh, id_no = row.sfzhm, name = row.xm, program = "pension",
                         period = row.ffny, amount = row.je_fen }
      end)
  end,
},
  },
}
LUA
if grep -qF '(ffje * 100)::bigint AS je_fen' "$src/adapters/README.md"; then ok; else bad "README.md no longer has the custom pull tested here"; fi
run custom adapter test "$tmp/custom_pull.lua" --source hr_pension -c "$cfg"
expect_rc custom 0
has custom '^== stream pension_payments: payment facts from db \(lua pull\)$'
has custom '^  YL2024030001 +1101\*{10}1232 +张\*\* +pension +2024-03 +3120\.50$'
has custom '^  rejected YL2024030008: rejected by the adapter: no amount \(ffje\)$'
# the record key whatever order Lua visits the emitted table in
has custom "^  rejected YL2024130007: field 'period': not a month: '202413'$"
has custom "^  rejected YL2099010009: field 'period': implausible month 209901 \\(outside 190001\\.\\.[0-9]{6}\\)$"
has custom '^stream pension_payments: 7 facts, 3 rejected, 3 warnings$'
run customlimit adapter test "$tmp/custom_pull.lua" --source hr_pension --limit 3 -c "$cfg"
expect_rc customlimit 0
has customlimit '^stream pension_payments: 3 facts, '

# ---- adapter new: one skeleton per kind, each passes check unchanged -------------------
mkdir -p "$tmp/officer"
newcfg="$tmp/officer/gridgate.ini"
: >"$newcfg"
for kind in pg odbc http; do
  (cd "$tmp/officer" && "$gg" adapter new "dept_$kind" --kind "$kind" >"$tmp/new_$kind.stanza" 2>"$tmp/new_$kind.out") \
    && ok || bad "adapter new dept_$kind --kind $kind failed: $(cat "$tmp/new_$kind.out")"
  [ -s "$tmp/officer/adapters/dept_$kind.lua" ] && ok || bad "adapter new did not write adapters/dept_$kind.lua"
  grep -q "^\[source dept_$kind\]$" "$tmp/new_$kind.stanza" && ok || bad "stanza for $kind lacks [source dept_$kind]"
  grep -q "^adapter = adapters/dept_$kind.lua$" "$tmp/new_$kind.stanza" && ok || bad "stanza for $kind names the wrong file"
  cat "$tmp/new_$kind.stanza" >>"$newcfg"
done
grep -q '^conn.db = pg:' "$tmp/new_pg.stanza" && ok || bad "pg stanza has no pg: connection"
grep -q '^conn.db = odbc:' "$tmp/new_odbc.stanza" && ok || bad "odbc stanza has no odbc: connection"
grep -q '^conn.api = http:' "$tmp/new_http.stanza" && ok || bad "http stanza has no http: connection"
grep -q 'row = function' "$tmp/officer/adapters/dept_pg.lua" && grep -q 'push = function' "$tmp/officer/adapters/dept_pg.lua" \
  && grep -q 'yuan "ffje"' "$tmp/officer/adapters/dept_pg.lua" && ok || bad "the pg skeleton lacks the row/push/yuan examples"
run newcheck -c "$newcfg" check
expect_rc newcheck 0
has newcheck '^source dept_pg: ok, adapter .*dept_pg.lua, 1 streams'
has newcheck '^source dept_odbc: ok, adapter .*dept_odbc.lua, 1 streams'
has newcheck '^source dept_http: ok, adapter .*dept_http.lua, 1 streams'
hasnt newcheck ERROR
# refuses to overwrite, leaves the file as it was
echo '-- my edits' >>"$tmp/officer/adapters/dept_pg.lua"
sum_before=$(sha256sum <"$tmp/officer/adapters/dept_pg.lua")
set +e
(cd "$tmp/officer" && "$gg" adapter new dept_pg --kind http) >"$tmp/again.out" 2>&1
rc=$?
set -e
expect_rc again 1
has again 'adapters/dept_pg.lua already exists; not overwriting it'
[ "$(sha256sum <"$tmp/officer/adapters/dept_pg.lua")" = "$sum_before" ] && ok || bad "adapter new changed an existing file"
# usage errors
run badkind adapter new x --kind oracle --dir "$tmp/officer/other"
expect_rc badkind 2
has badkind "--kind 'oracle': use pg, odbc or http"
run badname adapter new Bad-Name --kind pg --dir "$tmp/officer/other"
expect_rc badname 2
[ ! -e "$tmp/officer/other/Bad-Name.lua" ] && ok || bad "adapter new wrote a file for a bad name"
# --dir works, and the skeleton runs against a real source once its table exists:
# the pg skeleton's example query is yl_ffmx, the example (a) table.
run newdir adapter new pension_try --kind pg --dir "$tmp/officer/try"
expect_rc newdir 0
run trypg adapter test "$tmp/officer/try/pension_try.lua" --source hr_pension -c "$cfg"
expect_rc trypg 0
has trypg '^stream pension_payments: 7 facts, 3 rejected, 3 warnings$'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

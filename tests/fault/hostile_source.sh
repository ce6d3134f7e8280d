#!/usr/bin/env bash
# tests/fault/hostile_source.sh - sources that answer with whatever they hold,
# against the real daemon cycle and the HTTP fixture: a REST service whose
# pages never end, one that ignores the page parameter (same body, or the same
# records), a 50 MiB field, and an adapter emitting 1e308 dates, 10^15 yuan and
# negative amounts. Each is stopped or rejected with a message naming source,
# stream and page (or record, field, length and limit); the oversized value is
# never stored; a second source's facts commit; the state store does not grow
# from one cycle to the next.
set -uo pipefail
root=${GG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
gg=${GRIDGATE:-$root/build/gridgate}
work=$(mktemp -d "${TMPDIR:-/tmp}/gg-hostile.XXXXXX")
chmod 755 "$work"
pass=0
fail=0
fixture_pid=""
cleanup() {
  if [ -n "$fixture_pid" ]; then kill "$fixture_pid" 2>/dev/null; wait "$fixture_pid" 2>/dev/null; fi
  if [ -n "${GG_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
check() {
  local d=$1; shift
  if "$@"; then echo "ok - $d"; pass=$((pass + 1)); else echo "not ok - $d"; fail=$((fail + 1)); fi
}
contains() { grep -qF -- "$2" "$1"; }
py=$(python3 -c 'import sys; print(sys.executable)')
q() { "$py" -c 'import sqlite3,sys; print("\n".join("|".join("" if v is None else str(v) for v in r) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))' "$work/state.db" "$1"; }

"$py" "$root/tests/integration/http_fixture.py" "$work/http.port" "tok-unused" &
fixture_pid=$!
for _ in $(seq 1 100); do [ -s "$work/http.port" ] && break; sleep 0.1; done
[ -s "$work/http.port" ] || { echo "HTTP fixture did not start"; echo "0 passed, 1 failed"; exit 1; }
port=$(cat "$work/http.port")

cat >"$work/hostile.lua" <<'LUA'
-- a department REST service that misbehaves in every way it can
local function deaths(path, paged)
  return { kind = "death", conn = "api", get = path, items = "items", key = "id",
           page = paged and { param = "page", start = 1 } or nil,
           map = { name = "name", death_date = date "death_date", basis = "basis" } }
end
return {
  streams = {
    endless     = deaths("/endless", true),
    repeat_body = deaths("/repeat", true),
    repeat_keys = deaths("/repeat-keys", true),
    bigfield    = deaths("/bigfield?mb=50", false),
    emitted = { kind = "payment", pull = function(ctx)
      local p = { id_no = "110105194912310021", program = "pension", period = 202403 }
      local function pay(ref, t)
        local r = { ref = ref }
        for k, v in pairs(p) do r[k] = v end
        for k, v in pairs(t) do r[k] = v end
        ctx.emit(r)
      end
      pay("P1", { amount = 312050 })
      pay("P2", { amount = 100000000000000000 })  -- 10^15 yuan
      pay("P3", { amount = -300 })
      pay("P4", { period = 1e308, amount = 100 })
      pay("P5", { amount = 100, paid_on = 1e308 })
      pay("P6", { amount = 100, paid_on = 18500101 })
    end },
  },
}
LUA
cat >"$work/good.lua" <<'LUA'
return { streams = { deaths = { kind = "death", conn = "api", get = "/bigfield?mb=0", items = "items", key = "id",
  map = { name = "name", death_date = date "death_date", basis = "basis" } } } }
LUA
cat >"$work/gg.ini" <<EOF
[gridgate]
state = $work/state.db

[source hostile]
adapter = $work/hostile.lua
conn.api = http:http://127.0.0.1:$port
conn.api.max_body = 64M
max_pages = 600

[source good]
adapter = $work/good.lua
conn.api = http:http://127.0.0.1:$port
EOF

t0=$(date +%s)
timeout 300 "$gg" -c "$work/gg.ini" run --once >"$work/run1.out" 2>"$work/run1.err"
rc=$?
t1=$(date +%s)
check "run exits 3 (completed with failures), not a crash or a hang (rc $rc, $((t1 - t0)) s)" test "$rc" -eq 3
err=$work/run1.err
check "endless paging: stopped at max_pages, naming source, stream and page" \
  contains "$err" "source hostile, stream 'endless': stopped before page 601: more than 600 pages (max_pages)"
check "endless paging: a progress line every 500 pages" contains "$err" "stream endless: paging: 500 pages"
check "repeating page (same body): stopped at page 2" \
  contains "$err" "source hostile, stream 'repeat_body': page 2 repeats page 1 (same body): the source does not page with 'page'; stopped"
check "repeating records (same first and last keys): stopped at page 2" \
  contains "$err" "source hostile, stream 'repeat_keys': page 2 repeats page 1 (same first and last record keys)"
check "50 MiB field: the record is rejected with field, length and limit" \
  contains "$err" "stream bigfield, record B2: rejected: field note: value of 52428800 bytes is over max_field (4096 bytes)"
check "50 MiB field: the quarantine keeps the reason, not the value" \
  test "$(q "SELECT coalesce(length(raw_json), -1) FROM quarantine WHERE source='hostile' AND ref='B2'")" = "-1"
check "50 MiB field: the other records of the page are kept (B1, B3)" \
  test "$(q "SELECT group_concat(ref) FROM (SELECT ref FROM facts WHERE source='hostile' AND kind='death' ORDER BY ref)")" = "B1,B3"
check "failed streams keep nothing (no fact from endless/repeat pages)" \
  test "$(q "SELECT count(*) FROM facts WHERE ref LIKE 'R%'")" -eq 0
maxraw=$(q "SELECT max(length(coalesce(raw_json,''))) FROM facts")
check "no stored record text is over max_record ($maxraw bytes)" test "${maxraw:-0}" -le 65536
# (the log masker stars long digit runs: the amount shows as 1000********0000.00)
check "10^15 yuan: rejected over the ceiling" \
  grep -Eq "record P2: rejected: field 'amount': amount 1000[0*]{12}\.00 yuan is over the ceiling of 1000000\.00 yuan per record \(max_amount\)" "$err"
check "negative amount: rejected" contains "$err" "record P3: rejected: field 'amount': negative amount -3.00 yuan is not accepted"
check "1e308 month: rejected as out of range (no undefined behaviour)" \
  contains "$err" "record P4: rejected: field period: number 1e+308 is out of range for a month (yyyymm)"
check "1e308 date: rejected as out of range" \
  contains "$err" "record P5: rejected: field paid_on: number 1e+308 is out of range for a date (yyyymmdd)"
check "1850 date: rejected as implausible" contains "$err" "record P6: rejected: field 'paid_on': implausible date 18500101 (before 19000101)"
check "only the plausible payment passes (5 of 6 rejected)" \
  grep -q "stream emitted (payment): 6 records, .* 5 rejected" "$err"
check "the rejected payments are in the quarantine with their reasons" \
  test "$(q "SELECT group_concat(ref) FROM (SELECT ref FROM quarantine WHERE source='hostile' AND stream='emitted' AND reason LIKE 'field %' ORDER BY ref)")" = "P2,P3,P4,P5,P6"
check "the other source's facts committed" \
  test "$(q "SELECT count(*) FROM facts WHERE source='good'")" = 3
check "no raw id number in the logs" bash -c "! grep -Eq '[0-9]{17}[0-9Xx]' '$work/run1.err' '$work/run1.out'"

# the database file holds the data; its WAL file is kept between runs as a
# buffer the next run writes over (state.c, st_wal_keep), sized by the largest
# write a run made, so it is bounded on its own
size1=$(du -sk "$work/state.db" | awk '{print $1}')
timeout 300 "$gg" -c "$work/gg.ini" run --once >"$work/run2.out" 2>"$work/run2.err"
size2=$(du -sk "$work/state.db" | awk '{print $1}')
wal2=$(du -sk "$work/state.db-wal" 2>/dev/null | awk '{print $1}')
check "the state store stays small (${size1} KiB) and does not grow on the next cycle (${size2} KiB)" \
  bash -c "[ ${size1:-0} -lt 4096 ] && [ ${size2:-0} -le $((${size1:-0} + 256)) ]"
check "its kept WAL file stays small too (${wal2:-none} KiB)" bash -c "[ ${wal2:-0} -lt 4096 ]"

# A long read is seen to advance: the worker logs its rows so far every
# progress_interval (1 s here; 15000 records over about 1.6 s of pages), and
# the line names the stream; progress_interval = 0 logs none.
cat >"$work/many.lua" <<'LUA'
return { streams = { many = { kind = "death", conn = "api", get = "/many", items = "items", key = "id",
  page = { param = "page", start = 1 },
  map = { name = "name", death_date = date "death_date", basis = "basis" } } } }
LUA
for interval in 1s 0; do
  cat >"$work/many.ini" <<EOF
[gridgate]
state = $work/many-$interval.db
progress_interval = $interval

[source slowapi]
adapter = $work/many.lua
conn.api = http:http://127.0.0.1:$port
EOF
  timeout 120 "$gg" -c "$work/many.ini" run --once --no-push >"$work/many.out" 2>"$work/many-$interval.err"
  check "long read (progress_interval $interval): 15000 records kept" \
    grep -q "slowapi: stream many (death): 15000 records, 15000 kept" "$work/many-$interval.err"
done
check "long read: a progress line names source and stream, with rows so far" \
  grep -Eq '\[info\] slowapi: stream many: [0-9]+ rows read so far, 0 not of interest, in [0-9]+ s \([0-9]+ rows/s\)' \
  "$work/many-1s.err"
check "long read: progress_interval = 0 logs no progress line" bash -c "! grep -q 'rows read so far' '$work/many-0.err'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

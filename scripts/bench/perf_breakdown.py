#!/usr/bin/env python3
"""perf_breakdown.py - breaks a gridgate profile down by pipeline stage and by
component, from `perf script -F ip,sym` output of a `perf record --call-graph
dwarf` run (samples separated by blank lines, one "<ip> <symbol>" frame per
line, innermost first). Called by scripts/bench/run.sh.

    perf_breakdown.py PERF_SCRIPT_TEXT

Prints three plain-text tables: the share of samples per stage of the cycle
(each sample counted once, in the first stage whose function is on its
stack), per cross-cutting component (a sample may count in several), and the
top symbols by self time.
"""
import collections
import sys

# (label, functions any of which puts a sample in the stage); first match wins,
# so the more specific stages come first.
STAGES = [
    ("startup: config, adapters, OpenCC, state store open", ["gg_ctx_open", "config_load", "opencc_open"]),
    ("interest: reload small-side facts + resolve", ["build_interest"]),
    ("pull: row -> fact mapping, filter, store", ["pull_phase"]),
    ("final load of all facts from the state store", ["load_fact_cb", "state_facts_each"]),
    ("identity resolution", ["identity_resolve"]),
    ("rules", ["rules_run"]),
    ("alerts: upsert, verdicts, routing", ["state_alert_upsert", "apply_verdicts", "route_alert"]),
    ("delivery", ["cycle_deliver"]),
    ("freeing the fact set", ["factset_free"]),
]
# (label, symbol prefixes); a sample counts when any frame starts with one.
COMPONENTS = [
    ("name folding (name_normalize: OpenCC t2s + trims)", ["name_normalize"]),
    ("id normalization (ident_normalize)", ["ident_normalize"]),
    ("SQLite state store (sqlite3_*)", ["sqlite3_step", "sqlite3_prepare", "sqlite3_exec"]),
    ("  of which fact inserts (state_fact_put)", ["state_fact_put"]),
    ("JSON via jansson (json_*)", ["json_loads", "json_dumps", "json_object", "json_string", "json_pack",
                                   "json_decref", "json_delete", "json_array"]),
    ("  of which fields_json parse on load", ["fact_from_fields_json"]),
    ("  of which raw_json evidence per fact", ["adapter_raw_json"]),
    ("libpq (single-row results)", ["PQgetResult", "PQconsumeInput", "pqParseInput3", "PQclear",
                                     "PQgetvalue", "PQisBusy"]),
    ("ODBC (SQLFetch/SQLGetData)", ["SQLFetch", "SQLGetData", "SQLExecDirect"]),
    ("HTTP (curl)", ["curl_easy_perform", "curl_multi_perform"]),
    ("Lua VM (lua_pcall)", ["lua_pcall", "lua_pcallk", "luaV_execute"]),
    ("factset_add (moving facts into the set)", ["factset_add"]),
    ("data quality over every row (name/birth-date checks, invalid-id quarantine)",
     ["ingest_register_may_conflict", "row_conflicts", "state_person_name_check", "ingest_register_load",
      "state_person_name_hashes_each", "quarantine_invalid_id", "state_dq_add"]),
    ("worker channel (encode, pipe, strict decode)", ["ch_fact", "ch_flush", "encode_fact", "ch_reader_feed",
                                                      "decode_fact"]),
    ("malloc/free", ["malloc", "_int_malloc", "free", "_int_free", "cfree", "realloc", "__GI___libc_malloc",
                     "__GI___libc_free", "calloc", "malloc_consolidate"]),
    ("page faults (kernel)", ["exc_page_fault", "asm_exc_page_fault"]),
]


def read_samples(path):
    samples, cur = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                if cur:
                    samples.append(cur)
                    cur = []
                continue
            parts = line.split(None, 1)
            sym = parts[1] if len(parts) > 1 else "[unknown]"
            if sym.endswith(" (inlined)"):
                sym = sym[: -len(" (inlined)")]
            cur.append(sym)
    if cur:
        samples.append(cur)
    return samples


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: perf_breakdown.py PERF_SCRIPT_TEXT")
    samples = read_samples(sys.argv[1])
    total = len(samples)
    if not total:
        sys.exit("perf_breakdown.py: no samples in %s" % sys.argv[1])

    stage_n = collections.Counter()
    comp_n = collections.Counter()
    self_n = collections.Counter()
    for frames in samples:
        names = set(frames)
        for label, funcs in STAGES:
            if any(fn in names for fn in funcs):
                stage_n[label] += 1
                break
        else:
            stage_n["other (process start/exit, unresolved stacks)"] += 1
        for label, prefixes in COMPONENTS:
            if any(fr.startswith(p) for fr in frames for p in prefixes):
                comp_n[label] += 1
        known = [fr for fr in frames if fr != "[unknown]"]
        if frames[0] != "[unknown]" or not known:
            self_n[frames[0]] += 1
        else:  # a library without symbols: name the nearest known caller
            self_n["(unresolved, called from %s)" % known[0]] += 1

    pct = lambda n: 100.0 * n / total  # noqa: E731
    print("%d samples" % total)
    print()
    print("By stage (each sample once):")
    for label, _ in STAGES + [("other (process start/exit, unresolved stacks)", None)]:
        if stage_n[label]:
            print("  %5.1f%%  %s" % (pct(stage_n[label]), label))
    print()
    print("By component (inclusive; overlapping):")
    for label, _ in COMPONENTS:
        if comp_n[label]:
            print("  %5.1f%%  %s" % (pct(comp_n[label]), label))
    print()
    print("Top symbols by self time:")
    for sym, n in self_n.most_common(15):
        print("  %5.1f%%  %s" % (pct(n), sym[:90]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

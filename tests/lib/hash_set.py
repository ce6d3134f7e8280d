#!/usr/bin/env python3
"""hash_set.py STATE_DB SOURCE KIND - what the state store's hash set of
(SOURCE, KIND) is (store/facts.c, table fact_hash_sets): "none" when the store
has none; "ok N" when its N pairs are exactly (FNV-1a 64 of each stored fact's
ref with its NUL, the fact's content hash), one pair a fact; "bad: ..." with
what differs otherwise. Used by the fault and incremental tests: a set that is
there must never be stale."""
import sqlite3
import struct
import sys


def fnv(ref: bytes) -> int:
    h = 14695981039346656037
    for c in ref + b"\0":
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def main() -> None:
    db = sqlite3.connect(sys.argv[1])
    src, kind = sys.argv[2], sys.argv[3]
    parts = [r[0] for r in db.execute(
        "SELECT words FROM fact_hash_sets WHERE source = ? AND kind = ? ORDER BY part", (src, kind))]
    if not parts:
        print("none")
        return
    facts = {fnv(r.encode()): h & 0xFFFFFFFFFFFFFFFF for r, h in db.execute(
        "SELECT ref, content_hash FROM facts WHERE source = ? AND kind = ?", (src, kind))}
    pairs = [struct.unpack_from("<QQ", p, i) for p in parts for i in range(0, len(p), 16)]
    got = dict(pairs)
    if len(got) != len(pairs):
        print("bad: a ref twice")
    elif got != facts:
        differ = sum(1 for k in set(got) | set(facts) if got.get(k) != facts.get(k))
        print("bad: %d pairs, %d facts, %d differ" % (len(pairs), len(facts), differ))
    else:
        print("ok %d" % len(pairs))


main()

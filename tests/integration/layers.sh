#!/usr/bin/env bash
# tests/integration/layers.sh - the house rule that gateway/src's folders are
# layers: no file includes a header of a folder above its own
# (scripts/check-layers.py, docs/architecture.md).
root=${GG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if python3 "$root/scripts/check-layers.py"; then echo "ok - includes follow the layers"; echo "1 passed, 0 failed"
else echo "not ok - includes follow the layers"; echo "0 passed, 1 failed"; exit 1; fi

#!/usr/bin/env python3
"""scripts/check-layers.py - the folders of gateway/src are layers of the
pipeline; a file may include headers of its own folder and of folders below
it, never above. Prints every include that breaks that and exits 1 if any.

The order (lowest first) is the one docs/architecture.md draws. The few
edges that go up on purpose are listed in ALLOWED with the reason."""
import os, re, sys

ORDER = ["core", "model", "conn", "adapter", "worker", "identity", "alerts", "rules",
         "store", "delivery", "app", "daemon"]
# (including folder, included header): why it may go up.
ALLOWED = {
    ("adapter", "alerts/alert.h"): "an adapter's push function is the sink end of the pipeline: it is handed an alert",
    ("delivery", "app/gg.h"): "delivery is handed the daemon context (config, store, adapters)",
    ("delivery", "app/config.h"): "routes and delivery settings are read from the loaded configuration",
    ("delivery", "app/cycle.h"): "delivery counts into the cycle's statistics",
    ("app", "daemon/admin.h"): "app/main.c starts the admin endpoint of `gridgate run`",
    ("app", "daemon/health.h"): "app/main.c feeds the health table",
    ("app", "daemon/record.h"): "app/main.c records each cycle's outcome",
    ("app", "daemon/schedule.h"): "app/main.c runs the per-source schedules",
}
ENTRY = {"app/main.c"}  # the entry point may include anything

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gateway", "src")
inc = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([a-z_0-9]+\.h)"', re.M)
bad = []
for folder in sorted(os.listdir(root)):
    d = os.path.join(root, folder)
    if not os.path.isdir(d):
        continue
    if folder not in ORDER:
        bad.append(f"gateway/src/{folder}/: folder not in the layer order of scripts/check-layers.py")
        continue
    for name in sorted(os.listdir(d)):
        if not name.endswith((".c", ".h")):
            continue
        rel = f"{folder}/{name}"
        if rel in ENTRY:
            continue
        text = open(os.path.join(d, name), encoding="utf-8").read()
        for m in inc.finditer(text):
            target, header = m.group(1), f"{m.group(1)}/{m.group(2)}"
            if target not in ORDER:
                bad.append(f"{rel}: includes {header} from an unknown folder")
            elif ORDER.index(target) > ORDER.index(folder) and (folder, header) not in ALLOWED:
                bad.append(f"{rel}: includes {header} ({target}/ is above {folder}/)")
for b in bad:
    print("layer violation:", b)
print(f"layers: {len(bad)} violations")
sys.exit(1 if bad else 0)

#!/usr/bin/env bash
# The long fault matrix of issue #11 (replication.md's acceptance table), one supervisor run per
# scenario, then one table of verdicts. Root for cut-leader and full-disk (skipped otherwise).
#   Tools/chaos/matrix.sh [BINARY] [OUT]     (defaults: .build/release/sluice, /tmp/sluice-chaos-matrix)
# CHAOS_SCALE=0.2 shortens every run to a fifth (a quick look).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-.build/release/sluice}
OUT=${2:-/tmp/sluice-chaos-matrix}
PY=${SLUICE_PYTHON:-.venv/bin/python}
SCALE=${CHAOS_SCALE:-1}
mkdir -p "$OUT"
s() { python3 -c "print(max(20, int($1 * $SCALE)))"; }
runs=(
  "none           --duration $(s 560) --rate 1800"
  "kill-leader    --duration $(s 300) --interval 10 --rate 1000"
  "kill-all       --duration $(s 600) --interval 60 --rate 1000"
  "followers-down --duration $(s 90) --interval 20 --rate 1000"
  "pause-leader   --duration $(s 300) --interval 30 --pause 15 --rate 1000"
  "cut-leader     --duration $(s 300) --interval 60 --pause 20 --rate 1000"
  "full-disk      --duration $(s 240) --interval 60 --pause 20 --rate 1000"
)
for run in "${runs[@]}"; do
  set -- $run
  scenario=$1; shift
  if [ "$(id -u)" -ne 0 ] && { [ "$scenario" = cut-leader ] || [ "$scenario" = full-disk ]; }; then
    echo "== $scenario: skipped (needs root)"; continue
  fi
  echo "== $scenario $*"
  mkdir -p "$OUT/$scenario"
  # librdkafka's own log lines (stderr) go to a file: the progress stays readable.
  "$PY" Tools/chaos/run.py "$scenario" "$@" --binary "$BIN" --out "$OUT/$scenario" 2> "$OUT/$scenario/clients.log" | tail -4
done
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
rows = []
for p in sorted(Path(sys.argv[1]).glob("*/result.json")):
    r = json.loads(p.read_text()); v = r["verdict"]; f = r["failover_s"]
    fmt = lambda x: "-" if x is None else "%.1f" % x
    rows.append("| %s | %d | %d | %d | %d | %d/%d/%d | %s / %s | %s | %s |" % (
        r["scenario"], r["duration_s"], r["faults"], v["outcomes"].get("ok", 0),
        sum(n for k, n in v["outcomes"].items() if k != "ok"), v["lost"], v["duplicated"],
        v["inconsistent"], fmt(f["median"]), fmt(f["max"]), fmt(r.get("isr_restored_s")), "valid" if r["valid"] else "INVALID"))
print("| scenario | s | faults | acknowledged | not acknowledged | lost/dup/inconsistent | failover median / worst s | ISR whole after s | verdict |")
print("|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
PY

#!/usr/bin/env bash
# Times `fos eval` against the textbook Python baseline (../shared/bench/baseline_eval.py) on the
# same manifest, side by side in one hyperfine run, and prints both reports' figures.
# Usage: bench/eval_vs_baseline.sh [MANIFEST]   (default: ../shared/data/cwru/manifest.csv)
# Needs: hyperfine (apt-get install hyperfine); creates a venv with numpy+scipy in target/bench-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest="${1:-../shared/data/cwru/manifest.csv}"
venv="${CARGO_TARGET_DIR:-target}/bench-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy scipy
fi
cargo build --release -p fos >/dev/null
fos="${CARGO_TARGET_DIR:-target}/release/fos"
base=../shared/bench/baseline_eval.py
"$venv/bin/python" -c 'import numpy, scipy; print("numpy", numpy.__version__, "scipy", scipy.__version__)'
hyperfine --warmup 2 --runs 15 --export-json "${CARGO_TARGET_DIR:-target}/eval_vs_baseline.json" \
  -n baseline_eval.py "$venv/bin/python $base --test $manifest --json" \
  -n "fos eval" "$fos eval --test $manifest --json" \
  -n "fos eval (+train selection)" "$fos eval --test $manifest --train $manifest --json"
for cmd in "$venv/bin/python $base --test $manifest --json" "$fos eval --test $manifest --train $manifest --json"; do
  $cmd | python3 -c '
import json, sys
d = json.load(sys.stdin)
dg = d["diagnosis"]
print(json.dumps({k: d[k] for k in ("decisions", "precision", "recall", "auroc", "false_alarms_per_hour")}),
      "diagnosis accuracy", dg["accuracy"], "confusion", json.dumps(dg["confusion"]))'
done

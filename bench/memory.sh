#!/usr/bin/env bash
# Streams a long recording through `fos analyze` and reports its peak resident memory.
# Usage: bench/memory.sh [SECONDS]  (default 3600: one hour at 51.2 kHz, a 737 MB float WAV)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-3600}"
cargo build --release -p fos >/dev/null
fos="${CARGO_TARGET_DIR:-target}/release/fos"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$fos" synth "$dir" --healthy-seconds "$secs" 2>/dev/null
ls -l "$dir/healthy_long_run_knocks.wav"
/usr/bin/time -f "peak RSS %M KB, %e s wall" "$fos" analyze "$dir/healthy_long_run_knocks.wav" --signal 0 \
  --fs 51200 --shaft-hz 24 --bearing 9,9.525,46,0 --json > "$dir/out.jsonl"
echo "windows: $(grep -c '"kind":"window"' "$dir/out.jsonl"), flagged: $(grep '"kind":"window"' "$dir/out.jsonl" | grep -c '"faulty":true' || true)"
tail -1 "$dir/out.jsonl" | head -c 600; echo

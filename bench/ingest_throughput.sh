#!/usr/bin/env bash
# Durable ingest throughput of `fos ingest` (generator → WAL with fsync = "always" → historian Parquet)
# side by side with pyarrow writing the very same points to Parquet, in one run (BENCHMARKS.md §ingest).
#   bash bench/ingest_throughput.sh [SCANS] [TAGS]      # default 6000 scans × 10,000 tags = 60 M points
# Runs, each on the same points:
#   fos-historian  generator → WAL (fsync always, group commit) → historian sink (zstd Parquet, commit 1 s)
#   fos-wal-only   the same without the historian: its only sink is NATS at a closed port (drain_s = 0), so the
#                  time is the generator + record encoding + WAL appends and fsyncs (the log is kept: max_mb 8192)
#   fos-perf       the historian run again under `perf record` (when perf works): CPU share per thread and symbol
#   pyarrow        bench/pyarrow_parquet.py, without and with an fsync per file (venv: $PYARROW_VENV)
# Wall and CPU (user + sys) of each fos process by /usr/bin/time; pyarrow's by getrusage in the script.
# Needs ~3 GB free under $WORK (default /tmp/fos-bench-ingest, deleted at the end unless KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
SCANS=${1:-6000}; TAGS=${2:-10000}
WORK=${WORK:-/tmp/fos-bench-ingest}
PYV=${PYARROW_VENV:-/tmp/fos-bench-pyarrow}
cargo build --release -q -p fos
FOS=$(realpath "${CARGO_TARGET_DIR:-target}/release/fos")
if ! "$PYV/bin/python" -c 'import pyarrow, numpy' 2>/dev/null; then
  python3 -m venv "$PYV" && "$PYV/bin/pip" install -q --disable-pip-version-check pyarrow numpy
fi
rm -rf "$WORK"; mkdir -p "$WORK"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r); disk of $WORK: $(df -h --output=source,fstype "$WORK" | tail -1 | xargs)"
echo "points: $TAGS tags × $SCANS scans = $((TAGS * SCANS)); fos $("$FOS" --version 2>/dev/null || true), pyarrow $("$PYV/bin/python" -c 'import pyarrow; print(pyarrow.__version__)')"

config() {  # config FILE SINKS...
  local f=$1; shift
  { printf '[wal]\nfsync = "always"\nmax_mb = 8192\n'; printf '%s\n' "$@"
    printf '[[source]]\nkind = "generator"\nname = "gen"\ntags = %s\nscans_per_batch = 10\nscans = %s\n' "$TAGS" "$SCANS"; } >"$f"
}
config "$WORK/hist.toml" '[historian]' 'enabled = true'
config "$WORK/wal.toml" '[historian]' 'enabled = false' '[nats]' 'url = "nats://127.0.0.1:9"' 'drain_s = 0'

run_fos() {  # run_fos LABEL CONFIG [PREFIX...]: one JSON line with the summary, wall_s, cpu_s, max_rss_kb
  local label=$1 cfg=$2; shift 2
  rm -rf "$WORK/data-$label"; sync
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/$label.time" "$@" "$FOS" ingest --config "$cfg" \
    --data-dir "$WORK/data-$label" --json >"$WORK/$label.json" 2>"$WORK/$label.err"
  read -r wall usr sys rss <"$WORK/$label.time"
  printf '{"mode": "%s", "wall_s": %s, "cpu_s": %s, "max_rss_kb": %s, "summary": %s}\n' \
    "$label" "$wall" "$(awk -v u="$usr" -v s="$sys" 'BEGIN{print u + s}')" "$rss" "$(cat "$WORK/$label.json")" | tee -a "$WORK/results.jsonl"
}

run_fos fos-historian "$WORK/hist.toml"
"$PYV/bin/python" bench/pyarrow_parquet.py --tags "$TAGS" --scans "$SCANS" --verify "$WORK/data-fos-historian" | tee -a "$WORK/results.jsonl"
rm -rf "$WORK/data-fos-historian"
run_fos fos-wal-only "$WORK/wal.toml"
du -sb "$WORK/data-fos-wal-only/pipeline/wal" | awk '{printf "{\"mode\": \"wal bytes\", \"bytes\": %s}\n", $1}' | tee -a "$WORK/results.jsonl"
rm -rf "$WORK/data-fos-wal-only"
"$PYV/bin/python" bench/pyarrow_parquet.py --tags "$TAGS" --scans "$SCANS" --out "$WORK/pyarrow" | tee -a "$WORK/results.jsonl"
rm -rf "$WORK/pyarrow"

if [ "${PERF:-1}" = 1 ] && command -v perf >/dev/null && perf record -q -o /dev/null -- true 2>/dev/null; then
  run_fos fos-perf "$WORK/hist.toml" perf record -q -F 499 -o "$WORK/perf.data" --
  echo "--- perf: CPU samples per thread (fos-perf run) ---"
  perf report -i "$WORK/perf.data" --stdio --sort comm 2>/dev/null | grep -v "^#" | grep -v "^$" | head -12 || true
  echo "--- perf: top symbols ---"
  perf report -i "$WORK/perf.data" --stdio --sort comm,sym 2>/dev/null | grep -v "^#" | grep -v "^$" | head -30 || true
fi

"$PYV/bin/python" - "$WORK/results.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["mode"]: r for r in rows}
hist = by.get("fos historian", {})
print()
print(f"| run | points | wall s | CPU s | M points/s | M points/s per CPU-s | bytes/point on disk |")
print(f"|---|---|---|---|---|---|---|")
for r in rows:
    if "wall_s" not in r or r["mode"] == "fos-perf":
        continue
    pts = r["summary"]["points_acked"] if "summary" in r else r["points"]
    if r["mode"] == "fos-historian":
        size = hist.get("bytes", 0)
    elif r["mode"] == "fos-wal-only":
        size = by.get("wal bytes", {}).get("bytes", 0)
    else:
        size = r.get("bytes", 0)
    bpp = f"{size / pts:.2f}" if size and r["mode"] != "fos-perf" else ""
    note = " (WAL)" if r["mode"] == "fos-wal-only" and bpp else ""
    print(f"| {r['mode']} | {pts:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {pts / r['wall_s'] / 1e6:.2f} | "
          f"{pts / r['cpu_s'] / 1e6:.2f} | {bpp}{note} |")
if hist:
    print(f"\nfos historian: {hist['rows']:,} rows in {hist['files']} files (expected {hist['rows_expected']:,}); "
          f"{hist['values_checked']:,} values of one file equal the formula bit for bit")
for r in rows:
    if "phases_s" in r:
        print(f"{r['mode']} phases (s): {r['phases_s']}")
EOF

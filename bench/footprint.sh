#!/usr/bin/env bash
# Memory footprint of one `fos ingest` process that polls 10,000 Modbus holding registers every second AND
# analyses 16 vibration channels at 25.6 kHz in real time (`vibration` source), historian enabled,
# for SECONDS (default 60) (BENCHMARKS.md §footprint).
#   bash bench/footprint.sh [SECONDS] [TAGS]
# Needs the peers' venv (`PEERS_DIR=/tmp/peers bash peers/scripts/peers.sh install`; only pymodbus is used).
# Starts its own pymodbus server on $MB_PORT (default 15921) with TAGS + 16 registers, samples VmRSS / VmHWM of
# the fos process from /proc/PID/status every second, and stops both processes at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}; TAGS=${2:-10000}
PEERS_DIR=${PEERS_DIR:-/tmp/peers}
MB_PORT=${MB_PORT:-15921}
WORK=${WORK:-/tmp/fos-bench-footprint}
cargo build --release -q -p fos
FOS=$(realpath "${CARGO_TARGET_DIR:-target}/release/fos")
rm -rf "$WORK"; mkdir -p "$WORK"
MB_PID=""; FOS_PID=""
cleanup() {
  for p in $FOS_PID $MB_PID; do kill "$p" 2>/dev/null || true; done
  for p in $FOS_PID $MB_PID; do wait "$p" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
if ss -ltn "( sport = :$MB_PORT )" | grep -q LISTEN; then echo "port $MB_PORT is taken: set MB_PORT" >&2; exit 1; fi
"$PEERS_DIR/venv/bin/python" peers/scripts/modbus_server.py "$MB_PORT" $((TAGS + 16)) >"$WORK/modbus.log" 2>&1 &
MB_PID=$!
for _ in $(seq 100); do ss -ltn "( sport = :$MB_PORT )" | grep -q LISTEN && break; sleep 0.1; done

# The tag list is written out: `{A..B}` ranges are expanded by the CLI (`fos poll`), not in config files.
{
  printf '[historian]\nenabled = true\n'
  printf '[[source]]\nkind = "poll"\nname = "plc"\n'
  printf '[[source.device]]\nname = "plc1"\nurl = "modbus://127.0.0.1:%s?unit=1"\n' "$MB_PORT"
  printf '[[source.device.group]]\nname = "all"\ninterval_ms = 1000\ntags = ['
  seq -s, -f '"hr:%g"' 0 $((TAGS - 1)) | tr -d '\n'
  printf ']\n'
  printf '[[source]]\nkind = "vibration"\nname = "vib"\nchannels = 16\nrate_hz = 25600.0\nblock_ms = 1000\n'
  printf 'realtime = true\nfaulty_channels = [3]\n'
} >"$WORK/footprint.toml"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "fos ingest: $TAGS Modbus registers every 1 s + 16 vibration channels × 25,600 Hz analysed per 1 s block; historian on; $SECS s"
"$FOS" ingest --config "$WORK/footprint.toml" --data-dir "$WORK/data" --seconds "$SECS" --json \
  >"$WORK/summary.json" 2>"$WORK/fos.err" &
FOS_PID=$!
tick=$(getconf CLK_TCK)
printf 't_s\tvmrss_kb\tvmhwm_kb\tcpu_s\n' >"$WORK/samples.tsv"
t=0
while kill -0 "$FOS_PID" 2>/dev/null; do
  st=/proc/$FOS_PID/status
  rss=$(awk '/^VmRSS:/{print $2}' "$st" 2>/dev/null || true)
  hwm=$(awk '/^VmHWM:/{print $2}' "$st" 2>/dev/null || true)
  cpu=$(awk -v k="$tick" '{printf "%.2f", ($14 + $15) / k}' "/proc/$FOS_PID/stat" 2>/dev/null || true)
  [ -n "$rss" ] && printf '%s\t%s\t%s\t%s\n' "$t" "$rss" "$hwm" "$cpu" >>"$WORK/samples.tsv"
  sleep 1; t=$((t + 1))
done
wait "$FOS_PID" && rc=0 || rc=$?
FOS_PID=""
echo "fos exit status $rc; summary: $(cat "$WORK/summary.json")"
echo "warning/error lines on stderr: $(grep -ciE 'warn|error' "$WORK/fos.err" || true)"
grep -iE 'warn|error' "$WORK/fos.err" | head -5 || true
awk -F'\t' -v secs="$SECS" 'NR > 1 { n++; t[n] = $1; r[n] = $2; h[n] = $3; c[n] = $4 }
  END {
    # steady: median VmRSS over the second half of the run
    m = 0; for (i = 1; i <= n; i++) if (t[i] >= secs / 2) s[++m] = r[i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (s[j] < s[i]) { x = s[i]; s[i] = s[j]; s[j] = x }
    med = m ? s[int((m + 1) / 2)] : 0
    printf "samples: %d; peak RSS (VmHWM) %.1f MB; steady RSS (median VmRSS, second half) %.1f MB; last VmRSS %.1f MB\n", n, h[n] / 1024, med / 1024, r[n] / 1024
    printf "CPU: %.1f s in %d s = %.0f %% of one core\n", c[n], t[n], t[n] ? 100 * c[n] / t[n] : 0
  }' "$WORK/samples.tsv"
echo "VmRSS MB every 10 s: $(awk -F'\t' 'NR > 1 && ($1 % 10) == 0 {printf "%.0f ", $2 / 1024}' "$WORK/samples.tsv")"

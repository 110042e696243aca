#!/usr/bin/env bash
# Read throughput of FOS's Modbus TCP and S7 drivers against local third-party peers, side by side with
# Python clients reading the same tags in the same run (BENCHMARKS.md §connectivity).
#   bash bench/connect_throughput.sh [SECONDS] [TAGS]
# Needs the peers installed (`bash peers/scripts/peers.sh install`; PEERS_DIR, default /tmp/peers).
# Starts its own peers on ports 15920 (pymodbus, TAGS registers) and 10920 (native Snap7, 2*TAGS bytes of DB1),
# and stops them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}; TAGS=${2:-1000}
PEERS_DIR=${PEERS_DIR:-/tmp/peers}
MB_PORT=15920; S7_PORT=10920
cargo build --release -q -p fos
FOS=${CARGO_TARGET_DIR:-target}/release/fos
"$PEERS_DIR/venv/bin/python" peers/scripts/modbus_server.py $MB_PORT $TAGS >/dev/null 2>&1 & MB_PID=$!
"$PEERS_DIR/venv-snap7c/bin/python" peers/scripts/s7_server.py $S7_PORT $((2 * TAGS)) >/dev/null 2>&1 & S7_PID=$!
trap 'kill $MB_PID $S7_PID 2>/dev/null || true' EXIT
for p in $MB_PORT $S7_PORT; do
  for _ in $(seq 100); do ss -ltn "( sport = :$p )" | grep -q LISTEN && break; sleep 0.1; done
done
peer_cpu() { awk '{print $14 + $15}' /proc/$1/stat; }  # clock ticks (1/100 s)
run() {  # run LABEL PEER_PID CMD...
  local label=$1 pid=$2; shift 2
  local c0; c0=$(peer_cpu "$pid")
  local out; out=$("$@")
  local c1; c1=$(peer_cpu "$pid")
  echo "$label $out peer_cpu_percent=$(awk -v a="$c0" -v b="$c1" -v s="$SECS" 'BEGIN{printf "%.1f", (b-a)/s}')"
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $SECS s per run, $TAGS tags"
run "fos-modbus"      $MB_PID "$FOS" bench-read "modbus://127.0.0.1:$MB_PORT?unit=1" "hr:{0..$((TAGS - 1))}" --seconds "$SECS" --json
run "pymodbus-client" $MB_PID "$PEERS_DIR/venv/bin/python" bench/py_read_baseline.py modbus $MB_PORT "$TAGS" "$SECS"
run "fos-s7"          $S7_PID "$FOS" bench-read "s7://127.0.0.1:$S7_PORT?rack=0&slot=1" "DB1.DBW{0..$((2 * TAGS - 2)):2}" --seconds "$SECS" --json
run "snap7-client"    $S7_PID "$PEERS_DIR/venv-snap7c/bin/python" bench/py_read_baseline.py s7 $S7_PORT "$TAGS" "$SECS"

#!/usr/bin/env bash
# Third-party protocol peers on 127.0.0.1 for FOS's integration tests (adapted from ../shared/peers).
#   bash peers.sh install   # apt + pip (two venvs) + npm, pinned versions
#   bash peers.sh start     # start every peer, wait for its port, write PIDs
#   bash peers.sh smoke     # independent clients read+write against each peer
#   bash peers.sh stop      # kill exactly the PIDs that `start` recorded
#   bash peers.sh install-kafka  # optional: build the tansu Kafka-compatible broker from crates.io (~4-5 min, 2 cores)
#                                # `start`/`smoke` include Kafka only when $PEERS_DIR/tansu/bin/tansu exists
# Everything lives under $PEERS_DIR (default /tmp/peers). Ports are non-standard.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_DIR=${PEERS_DIR:-/tmp/peers}
VENV=$PEERS_DIR/venv              # pure-Python peers + Python clients
VENV_S7C=$PEERS_DIR/venv-snap7c   # python-snap7 2.1.0: ships native libsnap7.so (C++ Snap7 server/client)
NPM=$PEERS_DIR/npm                # node-opcua server/client, nodes7, Tahu sparkplug-payload
PIDS=$PEERS_DIR/pids; LOGS=$PEERS_DIR/logs
export NODE_PATH="$NPM/node_modules"   # the .js scripts live beside this file, their modules under $NPM

: "${MODBUS_PORT:=15020}" "${OPCUA_PORT:=14840}" "${OPCUA_NODE_PORT:=14841}"
: "${S7_NATIVE_PORT:=10102}" "${S7_PY_PORT:=10103}" "${ENIP_PORT:=44819}"
: "${MC_PORT:=15000}" "${MQTT_PORT:=11883}" "${NATS_PORT:=14222}" "${KAFKA_PORT:=19092}"
TANSU=$PEERS_DIR/tansu/bin/tansu

install() {
  mkdir -p "$PEERS_DIR"
  if ! dpkg -s mosquitto nats-server mbpoll mosquitto-clients >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto mosquitto-clients nats-server mbpoll >/dev/null
  fi
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    pymodbus==3.16.1 asyncua==2.1.0 python-snap7==3.3.0 cpppo==5.2.5 pylogix==1.1.6 \
    pymcprotocol==0.3.0 virtual-plc==0.3.0 'paho-mqtt==1.6.1' nats-py==2.16.0 pysparkplug==0.6.1 'moto[server]==5.2.5' \
    
  [ -x "$VENV_S7C/bin/python" ] || python3 -m venv "$VENV_S7C"
  "$VENV_S7C/bin/pip" install -q --disable-pip-version-check python-snap7==2.1.0
  mkdir -p "$NPM"
  ( cd "$NPM" && [ -f package.json ] || npm init -y >/dev/null )
  ( cd "$NPM" && npm install --no-audit --no-fund --silent \
      node-opcua-server@2.186.4 node-opcua-client@2.186.4 nodes7@0.3.18 sparkplug-payload@1.0.3 )
}

install_kafka() {
  # tansu 0.6.0 (Apache-2.0): the default features have NO storage engine; `dynostore` gives memory:// and s3://
  [ -x "$TANSU" ] || CARGO_TARGET_DIR=$PEERS_DIR/tansu-target \
    cargo install --locked --debug --features dynostore --root "$PEERS_DIR/tansu" tansu@0.6.0
}

wait_port() {  # wait_port PORT SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    ss -ltn "( sport = :$1 )" | grep -q LISTEN && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2; return 1
}

launch() {  # launch NAME PORT CMD...
  local name=$1 port=$2; shift 2
  if ss -ltn "( sport = :$port )" | grep -q LISTEN; then
    echo "port $port already listening: using the $name peer that is there"; return 0
  fi
  nohup "$@" >"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
  wait_port "$port" 60 || { cat "$LOGS/$name.log" >&2; return 1; }
  echo "started $name pid=$(cat "$PIDS/$name.pid") on 127.0.0.1:$port"
}

start() {
  mkdir -p "$PIDS" "$LOGS"
  launch modbus    "$MODBUS_PORT"    "$VENV/bin/python" "$HERE/modbus_server.py" "$MODBUS_PORT"
  launch opcua     "$OPCUA_PORT"     "$VENV/bin/python" "$HERE/opcua_server.py" "$OPCUA_PORT"
  launch opcua-node "$OPCUA_NODE_PORT" node "$HERE/opcua_server.js" "$OPCUA_NODE_PORT"
  launch s7-native "$S7_NATIVE_PORT" "$VENV_S7C/bin/python" "$HERE/s7_server.py" "$S7_NATIVE_PORT"
  launch s7-py     "$S7_PY_PORT"     "$VENV/bin/python" "$HERE/s7_server.py" "$S7_PY_PORT"
  launch enip      "$ENIP_PORT"      "$VENV/bin/enip_server" --no-config --address "127.0.0.1:$ENIP_PORT" --no-udp \
                                     Counter=DINT Temp=REAL Scada=INT[100] Flag=BOOL
  launch mc        "$MC_PORT"        "$VENV/bin/virtual-plc" --host 127.0.0.1 --port "$MC_PORT" --profile Q
  sed "s/^listener .*/listener $MQTT_PORT 127.0.0.1/" "$HERE/mosquitto.conf" >"$PEERS_DIR/mosquitto.conf"
  launch mqtt      "$MQTT_PORT"      /usr/sbin/mosquitto -c "$PEERS_DIR/mosquitto.conf"
  rm -rf "$PEERS_DIR/js"
  launch nats      "$NATS_PORT"      nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$PEERS_DIR/js"
  if [ -x "$TANSU" ]; then
    launch kafka   "$KAFKA_PORT"     "$TANSU" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
                                     --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/
  fi
}

stop() {
  local f pid
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null && echo "stopped $(basename "$f" .pid) pid=$pid" || true
    rm -f "$f"
  done
}

smoke() {
  local P="$VENV/bin/python"
  echo "== Modbus: mbpoll (libmodbus) write+read HR 11, pymodbus client"
  mbpoll -m tcp -a 1 -p "$MODBUS_PORT" -t 4 -r 11 127.0.0.1 4242 >/dev/null
  mbpoll -m tcp -a 1 -p "$MODBUS_PORT" -t 4 -r 11 -c 1 -1 127.0.0.1 | grep '^\['
  "$P" "$HERE/modbus_client.py" "$MODBUS_PORT"
  echo "== OPC UA: node-opcua client -> asyncua server; asyncua client -> node-opcua server"
  (cd "$NPM" && node "$HERE/opcua_client.js" "opc.tcp://127.0.0.1:$OPCUA_PORT/" 2>/dev/null | grep -E 'Count|status')
  "$P" "$HERE/opcua_client.py" "opc.tcp://127.0.0.1:$OPCUA_NODE_PORT/UA/Test" 1 2>/dev/null
  echo "== S7: python-snap7 3.3 (pure) -> libsnap7 server; libsnap7 client -> pure server; nodes7 -> both"
  "$P" "$HERE/s7_client.py" "$S7_NATIVE_PORT"
  "$VENV_S7C/bin/python" "$HERE/s7_client.py" "$S7_PY_PORT"
  (cd "$NPM" && node "$HERE/s7_client.js" "$S7_NATIVE_PORT" | grep 'bad?')
  echo "== EtherNet/IP: pylogix -> cpppo"
  "$P" "$HERE/enip_pylogix.py" "$ENIP_PORT"
  echo "== MC 3E: pymcprotocol, then hand-built 3E binary frames -> virtual-plc"
  "$P" "$HERE/mc_client.py" "$MC_PORT"
  "$P" "$HERE/mc_raw3e.py" "$MC_PORT"
  echo "== MQTT: mosquitto_pub/sub"
  mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t smoke/retained -m hello -r -q 1
  mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t smoke/retained -C 1 -W 3 -v
  echo "== Sparkplug B: pysparkplug edge -> mosquitto -> Tahu JS decoder"
  rm -rf "$PEERS_DIR/spb"; mkdir -p "$PEERS_DIR/spb"
  (cd "$PEERS_DIR" && MQTT_PORT=$MQTT_PORT "$P" "$HERE/spb_capture.py" 3 "$MQTT_PORT") &
  local cap=$!; sleep 0.5
  "$P" "$HERE/spb_edge.py" 1 "$MQTT_PORT"
  wait "$cap"
  (cd "$NPM" && node "$HERE/spb_decode.js" "$PEERS_DIR"/spb/*.bin)
  echo "== NATS/JetStream: nats-py"
  "$P" "$HERE/nats_js.py" "$NATS_PORT"
  if [ -e "$PIDS/kafka.pid" ]; then
    echo "== Kafka API: kafka-python -> tansu"
    "$P" "$HERE/kafka_smoke.py" "$KAFKA_PORT"
  fi
}

case "${1:-}" in
  install) install ;;
  install-kafka) install_kafka ;;
  start) start ;;
  stop) stop ;;
  smoke) smoke ;;
  *) echo "usage: $0 install|install-kafka|start|smoke|stop" >&2; exit 2 ;;
esac

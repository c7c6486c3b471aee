#!/usr/bin/env bash
# Makes docs/img/homeassistant.png: the example devices of `make demo`, as Home Assistant shows
# them through Dewpoint's discovery. A private mosquitto, the real Home Assistant from the tests'
# Python environment (`make testenv`) with its web interface on loopback, the agent with
# `upstream.discovery: homeassistant`, the simulator, and Debian's `chromium` driven by Playwright
# (PyPI, added to that environment on first use) for the picture.
#   usage: scripts/homeassistant-screenshot.sh [BIN] [OUT.png]
set -euo pipefail
BIN=$(realpath "${1:-.build/release/dewpoint}")
OUT=$(realpath -m "${2:-docs/img/homeassistant.png}")
cd "$(dirname "$0")/.."
PY=.build/testenv/bin/python3
[ -x "$PY" ] || { echo "run 'make testenv' first (Home Assistant comes from there)" >&2; exit 1; }
"$PY" -c 'import playwright' 2>/dev/null || "$PY" -m pip install -q --disable-pip-version-check playwright==1.65.3
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "needs chromium (apt-get install chromium)" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() {
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); http=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$tmp/mosquitto.conf"
mosquitto -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.log" 2>&1 & pids+=($!)
sleep 0.5
sed -e "s/port: 1883/port: $port/" -e "s|dir: /var/lib/dewpoint.*|dir: $tmp|" \
    -e "s|^devices: devices.*|devices: $PWD/devices|" -e 's/^upstream:.*/&\n  discovery: homeassistant/' dewpoint.yaml > "$tmp/dewpoint.yaml"
# Home Assistant, kept running by an open stdin until the end
mkfifo "$tmp/ha.in"
"$PY" Tests/tools/homeassistant_check.py --broker-port "$port" --http-port "$http" --config "$tmp/ha" --out "$tmp/ha.jsonl" --ui < "$tmp/ha.in" & pids+=($!)
exec 3> "$tmp/ha.in"
for _ in $(seq 240); do grep -q '"ready"' "$tmp/ha.jsonl" 2>/dev/null && break; sleep 0.5; done
grep -q '"ready"' "$tmp/ha.jsonl" || { echo "Home Assistant did not start: $tmp/ha/home-assistant.log" >&2; tail -20 "$tmp/ha/home-assistant.log"; exit 1; }
"$BIN" run --config "$tmp/dewpoint.yaml" 2> "$tmp/agent.log" & pids+=($!)
"$BIN" simulate --publish "127.0.0.1:$port" --rate 10 --fault-speed 20 --seconds 600 > /dev/null & pids+=($!)
echo "waiting ${SETTLE:-75} s for windows to close and alerts to rise"
sleep "${SETTLE:-75}"
timeout 120 "$PY" scripts/screenshot.py "http://127.0.0.1:$http/${PAGE:-lovelace/0}" "$OUT" 12
echo "wrote $OUT"

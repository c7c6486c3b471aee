#!/usr/bin/env bash
# make demo: a private mosquitto on a free loopback port, the sensor simulator publishing the
# example devices live (with spikes, drift, a stuck sensor and a dropout), the agent between them,
# and what arrives upstream printed as it comes. Ctrl-C stops everything this script started.
# FORMAT=sparkplug_b: the agent is a Sparkplug B edge node (births, DDATA, deaths), printed by the
# tests' Sparkplug host when `make testenv` has made it, else as topics and sizes.
# FORMAT=homeassistant: JSON records plus Home Assistant discovery configs.
set -euo pipefail
BIN=$(realpath "${1:-.build/release/dewpoint}")
cd "$(dirname "$0")/.."
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
tmp=$(mktemp -d)
pids=()
cleanup() {
  # newest first: the simulator, then the agent (which drains its spool while the broker is
  # still up), then the subscriber and the broker
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Ctrl-C signals the terminal's whole foreground process group at once. The children run in
# sessions of their own (setsid), so that only this script gets it and stops them in order.

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$tmp/mosquitto.conf"
setsid "$MOSQUITTO" -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

# the example config, pointed at the private broker and a private spool
sed -e "s/port: 1883/port: $port/" -e "s|dir: /var/lib/dewpoint.*|dir: $tmp|" \
    -e "s|^devices: devices.*|devices: $PWD/devices|" dewpoint.yaml > "$tmp/dewpoint.yaml"
FORMAT=${FORMAT:-json}
case "$FORMAT" in
  json) ;;
  sparkplug_b) sed -i 's/^upstream:.*/&\n  format: sparkplug_b\n  sparkplug: {group: demo}/' "$tmp/dewpoint.yaml" ;;
  homeassistant) sed -i 's/^upstream:.*/&\n  discovery: homeassistant/' "$tmp/dewpoint.yaml" ;;
  *) echo "FORMAT is json, sparkplug_b or homeassistant, not '$FORMAT'" >&2; exit 2 ;;
esac
"$BIN" check --config "$tmp/dewpoint.yaml"

echo "== broker on 127.0.0.1:$port; upstream records below ($FORMAT; Ctrl-C to stop)"
case "$FORMAT" in
  json) setsid mosquitto_sub -p "$port" -t 'dewpoint/#' -v & pids+=($!) ;;
  homeassistant) setsid mosquitto_sub -p "$port" -t 'dewpoint/#' -t 'homeassistant/#' -v & pids+=($!) ;;
  sparkplug_b)
    py=.build/testenv/bin/python3
    if [ -x "$py" ] && "$py" -c 'import mqtt_spb_wrapper' 2>/dev/null; then
      echo "== decoded by Tests/tools/sparkplug_host.py (one JSON line per message)"
      setsid "$py" Tests/tools/sparkplug_host.py --port "$port" --out /dev/stdout --stay < /dev/null & pids+=($!)
    else
      echo "== topics and sizes (run 'make testenv' to see the payloads decoded)"
      setsid mosquitto_sub -p "$port" -t 'spBv1.0/#' -F '%t (%l bytes)' & pids+=($!)
    fi ;;
esac
setsid "$BIN" run --config "$tmp/dewpoint.yaml" 2> >(sed 's/^<[0-9]>/agent: /' >&2) & pids+=($!)
# 10 readings per second per device; the fault schedule runs 20x faster than real time, so the
# chiller's return temperature drifts past its threshold after about 30 s, the boiler room spikes
# and its battery dips at 30 s, the pump skid's strainer clogs from 72 s to 102 s (its device
# detector raises and clears: every channel stays in its range, only their relation breaks), and
# the chiller drops out at 90 s.
setsid "$BIN" simulate --publish "127.0.0.1:$port" --rate 10 --fault-speed 20 --seconds "${DEMO_SECONDS:-86400}" & pids+=($!)
wait "${pids[-1]}"

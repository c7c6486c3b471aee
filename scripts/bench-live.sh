#!/usr/bin/env bash
# Live agent benchmark: a private mosquitto, `dewpoint run` (release), and `dewpoint bench-live`
# publishing JSON readings. For each rate it reports the agent's CPU seconds per 100,000 input
# messages, whether every message reached the pipeline, the alert latency (publish → alert
# upstream) and the agent's peak RSS.
set -euo pipefail
BIN=$(realpath "${1:-.build/release/dewpoint}")
RATES=${RATES:-"10000 20000 40000"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
# input.batch_wait values to compare (1ms is the default; 0ms wakes once per message)
BATCH_WAITS=${BATCH_WAITS:-"1ms"}
# QoS of the input binding's subscription (the load generator publishes at QoS 1)
QOS=${QOS:-1}
# input.read_buffer values for the agent (true: libmosquitto reads through the agent's buffer;
# false, the default: about three read(2) calls per message). The load generator never uses it.
READ_BUFFERS=${READ_BUFFERS:-"false true"}
# input.ack values (after_commit is the default); "-" leaves the key out, for a binary older than it
ACKS=${ACKS:-"after_commit on_receipt"}
# FSYNCS=1: one more run per setting at the first rate under strace, counting fsync/fdatasync calls
FSYNCS=${FSYNCS:-0}
# METRICS="off on": "on" adds metrics.listen (scraped every second), metrics.textfile and
# metrics.mqtt with a 1 s interval; "off" leaves the metrics section out
METRICS=${METRICS:-"off"}
cd "$(dirname "$0")/.."
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
tmp=$(mktemp -d)
broker=""
cleanup() { [ -n "$broker" ] && kill "$broker" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$port" > "$tmp/mosquitto.conf"
"$MOSQUITTO" -c "$tmp/mosquitto.conf" > /dev/null 2>&1 & broker=$!
sleep 0.5
mkdir -p "$tmp/devices"
cat > "$tmp/dewpoint.yaml" <<EOC
agent: bench
devices: devices
spool: {dir: $tmp}
input: {host: 127.0.0.1, port: $port, client_id: bench-in, batch_wait: BATCH_WAIT, read_buffer: READ_BUFFERACK_KEY}
upstream: {host: 127.0.0.1, port: $port}
queue: {capacity: 8192, overflow: block}
EOC
cat > "$tmp/devices/env.yaml.in" <<'EOC'
device: env
transport: mqtt
mqtt: {topic: bench/env, qos: QOS}
decoder: json
timestamp: {pointer: /ts}
channels:
  - {name: v, unit: V, pointer: /v, detectors: [{kind: threshold, above: 50}]}
  - {name: a, pointer: /a}
  - {name: b, pointer: /b}
  - {name: c, pointer: /c}
window: {length: 1s, lateness: 100ms}
EOC
sed "s/QOS/$QOS/" "$tmp/devices/env.yaml.in" > "$tmp/devices/env.yaml"; rm "$tmp/devices/env.yaml.in"
cp "$tmp/dewpoint.yaml" "$tmp/dewpoint.yaml.in"
for metrics in $METRICS; do
for ack in $ACKS; do
for rb in $READ_BUFFERS; do
for wait in $BATCH_WAITS; do
ackkey=""; [ "$ack" != "-" ] && ackkey=", ack: $ack"
sed -e "s/BATCH_WAIT/$wait/" -e "s/READ_BUFFERACK_KEY/$rb$ackkey/" "$tmp/dewpoint.yaml.in" > "$tmp/dewpoint.yaml"
mport=""
if [ "$metrics" = on ]; then
  mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'metrics: {listen: 127.0.0.1:%s, textfile: %s/dewpoint.prom, interval: 1s, mqtt: true}\n' "$mport" "$tmp" >> "$tmp/dewpoint.yaml"
fi
echo "input.batch_wait $wait, input QoS $QOS, input.read_buffer $rb, input.ack $ack, metrics $metrics"
for rate in $RATES; do
  rm -f "$tmp/spool.db"*
  "$BIN" run --config "$tmp/dewpoint.yaml" 2> "$tmp/agent.log" & agent=$!
  sleep 1
  read -r u0 s0 < <(awk '{print $14, $15}' /proc/$agent/stat)
  read -r bu0 bs0 < <(awk '{print $14, $15}' /proc/$broker/stat)
  scraper=""
  if [ -n "$mport" ]; then (while true; do curl -s "http://127.0.0.1:$mport/metrics" > /dev/null; sleep 1; done) & scraper=$!; fi
  # an alert every 1,000 readings, or every 100 (10) below 10k (1k) messages/s, for enough alerts
  every=$(( rate >= 10000 ? 1000 : (rate >= 1000 ? 100 : 10) ))
  out=$("$BIN" bench-live --broker "127.0.0.1:$port" --topic bench/env --rate "$rate" --seconds "$SECONDS_PER_RUN" --alert-every "$every")
  [ -n "$scraper" ] && kill $scraper 2>/dev/null || true
  sleep 1
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$agent/stat)
  read -r bu1 bs1 < <(awk '{print $14, $15}' /proc/$broker/stat)
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
  kill -TERM $agent; wait $agent || true
  sent=$(echo "$out" | awk '/^sent/ {print $2}')
  frames=$(grep -o 'stopped: frames=[0-9]*' "$tmp/agent.log" | cut -d= -f2)
  tck=$(getconf CLK_TCK)
  python3 - "$rate" "$sent" "$frames" "$u0" "$s0" "$u1" "$s1" "$tck" "$hwm" "$bu0" "$bs0" "$bu1" "$bs1" <<'EOP'
import sys
rate, sent, frames, u0, s0, u1, s1, tck, hwm, bu0, bs0, bu1, bs1 = sys.argv[1:]
cpu = (int(u1) + int(s1) - int(u0) - int(s0)) / int(tck)
broker = (int(bu1) + int(bs1) - int(bu0) - int(bs0)) / int(tck)
print(f"rate {rate}/s: sent {sent}, agent received {frames} ({'no loss' if sent == frames else 'LOSS'}), "
      f"CPU {cpu:.2f} s = {cpu / int(sent) * 100000:.3f} CPU-s per 100k messages, peak RSS {int(hwm) / 1024:.1f} MiB; "
      f"broker {broker / int(sent) * 100000:.3f} CPU-s per 100k")
EOP
  echo "  $(echo "$out" | tail -1)"
done
if [ "$FSYNCS" = 1 ] && command -v strace > /dev/null; then
  rate=${RATES%% *}
  rm -f "$tmp/spool.db"*
  "$BIN" run --config "$tmp/dewpoint.yaml" 2> "$tmp/agent.log" & agent=$!
  sleep 1
  strace -f -c -e trace=fsync,fdatasync -o "$tmp/strace.txt" -p $agent & tracer=$!
  sleep 0.5
  "$BIN" bench-live --broker "127.0.0.1:$port" --topic bench/env --rate "$rate" --seconds "$SECONDS_PER_RUN" > /dev/null
  sleep 3  # the traced agent catches up, so that the next run starts with an empty session
  kill -INT $tracer; wait $tracer 2>/dev/null || true
  kill -TERM $agent; wait $agent || true
  n=$(awk '$NF == "fsync" || $NF == "fdatasync" {s += $4} END {print s + 0}' "$tmp/strace.txt")
  python3 -c "import sys; n, s = int(sys.argv[1]), float(sys.argv[2]); print(f'  fsyncs at {sys.argv[3]}/s: {n} in {s:.0f} s = {n / s:.1f} per second')" "$n" "$SECONDS_PER_RUN" "$rate"
fi
done
done
done
done

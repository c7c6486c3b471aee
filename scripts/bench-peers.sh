#!/usr/bin/env bash
# Dewpoint side by side with what its users would run instead, on the same MQTT stream, in the
# same run: the harness in ../shared/tools/peers (a paho-mqtt + orjson Python agent, collectd
# 5.12, streamz; see its README). Writes the results, their tables and the latency/CPU curve:
#
#   scripts/bench-peers.sh [OUT-DIR] [run_peers.py options...]
#     default OUT-DIR .build/peers; default options:
#     --systems dewpoint,python,collectd --rates 1000,10000,20000,40000 --qos 0,1 --reps 3 --seconds 10
#
# It uses the release build (make build) and a copy of the harness in OUT-DIR, with its Python
# environments and its publisher. One change is made to the copy: Dewpoint's configuration gets
# `spool.on_stop: partial_summaries`, so that Dewpoint, like the Python agent, emits its open
# window when the harness stops it (by default it keeps it for its next start, and the harness
# would count those readings as lost). About 20 minutes with the defaults on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
HARNESS=${PEERS_HARNESS:-../shared/tools/peers}
OUT=${1:-.build/peers}
[ $# -gt 0 ] && shift
[ -d "$HARNESS" ] || { echo "no harness at $HARNESS (the shared tools beside the checkout)" >&2; exit 1; }
[ -x .build/release/dewpoint ] || { echo "no release build: run 'make build' first" >&2; exit 1; }
need=""
for p in mosquitto mosquitto-clients libmosquitto-dev collectd-core python3-venv gcc; do dpkg -s $p > /dev/null 2>&1 || need="$need $p"; done
[ -z "$need" ] || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need; }
mkdir -p "$OUT"
cp "$HARNESS"/*.py "$HARNESS"/*.c "$HARNESS"/*.in "$OUT/"
sed -i 's/spool: {{dir: {tmp}}}/spool: {{dir: {tmp}, on_stop: partial_summaries}}/' "$OUT/run_peers.py"
grep -q 'on_stop: partial_summaries' "$OUT/run_peers.py" || { echo "the harness's Dewpoint configuration changed: check run_peers.py" >&2; exit 1; }
cd "$OUT"
# Debian's python3 for the environments (the harness's README says why)
[ -x .peers/pyvenv/bin/python ] || { /usr/bin/python3 -m venv .peers/pyvenv && .peers/pyvenv/bin/pip install -q paho-mqtt orjson; }
[ -x .peers/szvenv/bin/python ] || { /usr/bin/python3 -m venv .peers/szvenv && .peers/szvenv/bin/pip install -q 'paho-mqtt<2' streamz; }
mkdir -p .peers/bin results
gcc -O2 -o .peers/bin/dpload dpload.c -lmosquitto -lpthread -lm
cp "$SRC/.build/release/dewpoint" .peers/bin/dewpoint
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--systems dewpoint,python,collectd --rates 1000,10000,20000,40000 --qos 0,1 --reps 3 --seconds 10)
stamp=$(date +%Y%m%d-%H%M%S)
/usr/bin/python3 run_peers.py "${args[@]}" --out "results/$stamp.jsonl"
/usr/bin/python3 summarize.py "results/$stamp.jsonl" | tee "results/$stamp.md"
python3 "$SRC/scripts/latency-curve.py" "results/$stamp.jsonl" "results/$stamp.png"
echo "results: $OUT/results/$stamp.{jsonl,md,png}"

#!/usr/bin/env bash
# Replay throughput: 1,000,000 JSON messages with 4 channels each, against a plain-Python
# equivalent (json + statistics) measured in the same run. Prints messages/s and peak RSS.
set -euo pipefail
BIN=${1:-.build/release/dewpoint}
N=${N:-1000000}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" simulate --record "$tmp/bench.jsonl" --device boiler-room --rate 10 --seconds $((N / 10))
echo "input: $(wc -l < "$tmp/bench.jsonl") messages, $(du -m "$tmp/bench.jsonl" | cut -f1) MB"
measure() {  # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" > "$tmp/$name.out" 2>/dev/null
  read -r secs kb < "$tmp/time"
  python3 -c "n=$N; s=$secs; kb=$kb; print(f'$name: {s:.2f} s, {n/s:,.0f} messages/s, peak RSS {kb/1024:.1f} MiB'); open('$tmp/$name.rate','w').write(str(n/s))"
}
measure dewpoint "$BIN" replay --input "$tmp/bench.jsonl" --device boiler-room --quiet
measure python python3 bench/replay_baseline.py "$tmp/bench.jsonl"
python3 -c "print(f'ratio: dewpoint is {float(open(\"$tmp/dewpoint.rate\").read())/float(open(\"$tmp/python.rate\").read()):.1f}x the Python baseline')"
echo "summaries: dewpoint $(grep -c summary "$tmp/dewpoint.out"), python $(wc -l < "$tmp/python.out")"

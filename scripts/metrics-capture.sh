#!/usr/bin/env bash
# metrics-capture.sh URL DIR SECONDS: fetch URL (the agent's /metrics) once a second for SECONDS
# seconds, each exposition to DIR/<unix_ms>.prom, for scripts/metrics-plot.py.
#   scripts/metrics-capture.sh http://127.0.0.1:9464/metrics /tmp/capture 300
# A failed fetch is reported and skipped (the plot shows the gap).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 URL DIR SECONDS" >&2
  exit 2
fi
url=$1 dir=$2 seconds=$3
case $seconds in ''|*[!0-9]*) echo "SECONDS must be a whole number" >&2; exit 2 ;; esac
mkdir -p "$dir"
ms() { date +%s%3N; }
start=$(ms)
end=$((start + seconds * 1000))
n=0
while :; do
  now=$(ms)
  [ "$now" -lt "$end" ] || break
  tmp="$dir/.$now.prom.tmp"
  if curl -fsS --max-time 2 -o "$tmp" "$url"; then
    mv "$tmp" "$dir/$now.prom"
    n=$((n + 1))
  else
    rm -f "$tmp"
    echo "$(date -u +%H:%M:%S) fetch failed" >&2
  fi
  # sleep to the next whole second after the start
  next=$(( start + ( (now - start) / 1000 + 1 ) * 1000 ))
  wait_ms=$(( next - $(ms) ))
  if [ "$wait_ms" -gt 0 ]; then sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"; fi
done
echo "$n expositions in $dir" >&2

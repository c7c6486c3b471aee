#!/usr/bin/env bash
# make demo: simulate an hour of the example sensors (with injected faults) and replay it through
# the agent, printing the records it would send upstream.
set -euo pipefail
BIN=${1:-.build/release/dewpoint}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" check
"$BIN" simulate --record "$tmp/demo.jsonl" --seconds 3600
"$BIN" replay --input "$tmp/demo.jsonl"

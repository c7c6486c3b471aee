#!/usr/bin/env bash
# Replays the same recordings with the aarch64 binary (under qemu, in the trixie tree it was
# linked against) and with this machine's x86_64 release build, and compares the outputs byte for
# byte.   usage: arm64-replay-compare.sh ARM64-BIN TRIXIE-TREE [X86-BIN]
set -euo pipefail
ARM=$1 TREE=$2 X86=${3:-.build/release/dewpoint}
cd "$(dirname "$0")/.."
[ -x "$X86" ] || { echo "no x86_64 release build at $X86: run 'make build'" >&2; exit 1; }
work=$TREE/tmp/replay-compare
rm -rf "$work"; mkdir -p "$work"
cp "$ARM" "$work/dewpoint"
cp -r devices dewpoint.yaml "$work/"
# a day of the example devices with every injected fault, from the simulator (deterministic)
"$X86" simulate --record "$work/sim.jsonl" --seconds "${SECONDS_SIMULATED:-86400}" --rate 1 --start-ms 1764000000000 --seed 7 > /dev/null
fail=0
for input in sim.jsonl; do
  "$X86" replay --config "$work/dewpoint.yaml" --input "$work/$input" > "$work/x86.out" 2> /dev/null
  chroot "$TREE" /tmp/replay-compare/dewpoint replay --config /tmp/replay-compare/dewpoint.yaml \
    --input "/tmp/replay-compare/$input" > "$work/arm64.out" 2> "$work/arm64.err" || { cat "$work/arm64.err"; exit 1; }
  n=$(wc -l < "$work/x86.out")
  if cmp -s "$work/x86.out" "$work/arm64.out"; then
    echo "   $input: $n records, identical ($(sha256sum < "$work/x86.out" | cut -c1-16))"
  else
    echo "   $input: the outputs differ:"; diff "$work/x86.out" "$work/arm64.out" | head -20; fail=1
  fi
done
exit $fail

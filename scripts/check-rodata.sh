#!/usr/bin/env bash
# Checks that a release binary keeps .rodata in a read-only segment (scripts/rodata.ld): in a
# writable one, the start-up release (StartupPages) cannot drop the pages start-up read there.
#   scripts/check-rodata.sh BINARY
set -euo pipefail
bin=${1:?usage: check-rodata.sh BINARY}
flags=$(readelf -SW "$bin" | awk '$2 == ".rodata" { print $(NF-3) }')
[ -n "$flags" ] || { echo "$bin has no .rodata section" >&2; exit 1; }
case "$flags" in
  *W*) echo "$bin: .rodata is writable ($flags): link it with -T scripts/rodata.ld" >&2; exit 1 ;;
esac
writable=$(readelf -SW "$bin" | awk '$2 == ".rodata.writable" { print $(NF-5) }')
echo ".rodata read-only ($flags)${writable:+; $((16#$writable)) bytes of writable constants in .rodata.writable}"

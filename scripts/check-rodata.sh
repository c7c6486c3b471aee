#!/usr/bin/env bash
# Checks that a release binary keeps .rodata in a read-only segment (scripts/rodata.ld): in a
# writable one, the start-up release (StartupPages) cannot drop the pages start-up read there.
#   scripts/check-rodata.sh BINARY
set -euo pipefail
bin=${1:?usage: check-rodata.sh BINARY}
# readelf's section lines without their "[Nr]" (which is "[ 5]", two fields, below 10):
# name, type, address, offset, size, entry size, flags, link, info, alignment
sections=$(readelf -SW "$bin" | sed -nE 's/^ *\[ *[0-9]+\] +//p')
flags=$(awk '$1 == ".rodata" { print $(NF-3) }' <<< "$sections")
[ -n "$flags" ] || { echo "$bin has no .rodata section" >&2; exit 1; }
case "$flags" in
  *W*) echo "$bin: .rodata is writable ($flags): link it with -T scripts/rodata.ld" >&2; exit 1 ;;
esac
writable=$(awk '$1 == ".rodata.writable" { print $5 }' <<< "$sections")
echo ".rodata read-only ($flags)${writable:+; $((16#$writable)) bytes of writable constants in .rodata.writable}"

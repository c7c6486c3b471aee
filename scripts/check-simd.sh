#!/usr/bin/env bash
# Shows that the hot loops of the signal kernels compile to packed SIMD instructions: SSE/AVX
# (`mulps`, `addps`, `minps`, …) on x86_64, NEON (`fmul v….4s`, `fadd v….4s`, …) on aarch64.
# The kernels use only Swift's SIMD types, no intrinsics, so the same source gives both.
#
#   scripts/check-simd.sh [path/to/dewpoint]     (default: .build/release/dewpoint)
#
# Exits non-zero if a kernel has no packed instruction at all.
set -euo pipefail
bin=${1:-.build/release/dewpoint}
[ -x "$bin" ] || { echo "no $bin: build it first (swift build -c release)" >&2; exit 2; }
# the binary's architecture, not this machine's: an aarch64 build (make arm64) is checked here too
machine=$(readelf -h "$bin" | sed -n 's/.*Machine: *//p')
case "$machine" in
  *X86-64*) arch=x86_64; packed='\sv?(add|sub|mul|min|max|div)ps\s|\sv?movups\s' ;;
  *AArch64*) arch=aarch64; packed='\s(fadd|fsub|fmul|fmla|fmin|fmax|fminnm|fmaxnm)\s+v[0-9]+\.4s' ;;
  *) echo "unknown architecture: $machine" >&2; exit 2 ;;
esac
# GNU objdump reads only this machine's instructions; LLVM's reads both
objdump=$(command -v llvm-objdump || command -v /opt/swift/usr/bin/llvm-objdump || echo objdump)
status=0
# one pass: defined symbols with address and size, demangled
table=$(nm -S --defined-only "$bin" | swift demangle --compact)
# kernel name, and a pattern of its demangled symbol
while IFS='|' read -r name pattern; do
  # the AVX kernels are x86_64's: on aarch64 they are built without their CPU flags and never run
  if [ "$arch" = aarch64 ] && [[ "$name" == *AVX* ]]; then continue; fi
  # the symbol itself, a specialisation of it or a closure in it, whichever holds the most code
  line=$(echo "$table" | grep -E " [tT] .*$pattern" | sort -k2,2 -r | head -1 || true)
  if [ -z "$line" ]; then echo "$name: symbol not found (inlined?)"; status=1; continue; fi
  start=$((16#$(echo "$line" | awk '{print $1}')))
  size=$((16#$(echo "$line" | awk '{print $2}')))
  count=$($objdump -d --no-show-raw-insn --start-address=$start --stop-address=$((start + size)) "$bin" | grep -cE "$packed" || true)
  printf '%-28s %4d packed instructions\n' "$name" "$count"
  [ "$count" -gt 0 ] || status=1
done <<'LIST'
FIR (across time)|DewpointSignal.FIRFilter.process\(
FIR, AVX-512 kernel|DewpointSignalAVX512.firSteps\(
FIR, AVX2 kernel|DewpointSignalAVX2.firSteps\(
FIR, AVX-512, 33-64 taps|DewpointSignalAVX512.firBlocked64\(
Butterworth (8 channels)|DewpointSignal.BiquadCascade8.process\(
window statistics (block)|DewpointSignal.WindowStats.add\(uniform:
decimation|DewpointSignal.Decimator.process\(
LIST
exit $status

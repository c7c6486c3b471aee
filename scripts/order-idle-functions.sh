#!/usr/bin/env bash
# Writes scripts/idle-functions.order: the functions of the release binary that an idle agent
# runs (the example configuration, a private broker on loopback, no traffic), measured with
# valgrind's callgrind from 30 s after start for MEASURE_SECONDS (150 by default, so that the
# once-a-minute work is in), then those it runs under load (LOAD_SECONDS of the simulator's
# traffic) and not idle, and then those only its start-up runs (from exec to those 30 s). `make build` links them first and in that order (lld --symbol-ordering-file), so
# that the code an idle agent keeps resident is a few hundred KiB of contiguous pages instead of
# pages all over 11 MiB of text, and start-up's own code is one run of pages after it (the kernel
# maps 64 KiB around each page fault: scattered, the few hundred KiB start-up runs cost 5 MiB).
# Names that no longer exist are ignored by the linker; rerun this after large changes to the
# agent's start-up or steady-state code.
#
# usage: scripts/order-idle-functions.sh [path/to/release/dewpoint]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-.build/release/dewpoint}")
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
# valgrind cannot read the toolchain's DWARF; the symbol table is enough
strip --strip-debug -o "$tmp/dewpoint" "$BIN"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$tmp/mosquitto.conf"
mosquitto -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.log" 2>&1 & pids+=($!)
mkdir -p "$tmp/spool"
sed -e "s/port: 1883/port: $port/" -e "s|dir: /var/lib/dewpoint.*|dir: $tmp/spool|" \
    -e "s|^devices: devices.*|devices: $PWD/devices|" dewpoint.yaml > "$tmp/dewpoint.yaml"
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$tmp/cg.out" \
  "$tmp/dewpoint" run --config "$tmp/dewpoint.yaml" > "$tmp/agent.log" 2>&1 & pids+=($!)
echo "== agent under callgrind: start-up and 30 s to settle, then ${MEASURE_SECONDS:-150} s idle"
sleep 30
callgrind_control -d > /dev/null  # cg.out.1: start-up; the counts start again from zero
sleep "${MEASURE_SECONDS:-150}"
callgrind_control -d > /dev/null  # cg.out.2: idle
echo "== then ${LOAD_SECONDS:-60} s of the simulator's traffic (100 messages/s per example device)"
"$BIN" simulate --publish "127.0.0.1:$port" --rate 100 --seconds "${LOAD_SECONDS:-60}" --fault-speed 20 > "$tmp/simulate.log" 2>&1
callgrind_control -d > /dev/null  # cg.out.3: under load
sleep 3
# the functions of the toolchain's static libraries that share their object's .text section
static=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift_static/linux
for a in "$static"/*.a; do objdump -t "$a" 2>/dev/null | awk '$4 == ".text" {print $NF}'; done | sort -u > "$tmp/shared-text"
python3 - "$tmp" scripts/idle-functions.order <<'PY'
import re, sys
tmp, out = sys.argv[1], sys.argv[2]
def executed(path):
    """The functions of the dewpoint binary that a callgrind dump saw run."""
    names, objects, ob, seen = {}, {}, None, set()
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind, i, name = m.groups()
            if name: objects[i] = name
            if kind == "ob": ob = objects.get(i)
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind, i, name = m.groups()
            if name: names[i] = re.sub(r"'\d+$", "", name)
            if kind == "fn" and ob and ob.endswith("/dewpoint"): seen.add(i)
    # a function callgrind knows only by address has no symbol to order
    return {names[i] for i in seen if i in names and not names[i].startswith("0x")}
startup, idle, load = executed(tmp + "/cg.out.1"), executed(tmp + "/cg.out.2"), executed(tmp + "/cg.out.3")
load -= idle
startup -= idle | load
# The toolchain's static libraries (libswiftCore's Swift.o above all) keep most functions in one
# .text section per object: the linker can only move such a section whole, and ordering one of
# its functions among ours would spread our ordered code over megabytes. Those go last.
shared = set(open(tmp + "/shared-text").read().split())
with open(out, "w") as f:
    f.write("# idle\n" + "".join(n + "\n" for n in sorted(idle - shared)))
    f.write("# under load, not idle\n" + "".join(n + "\n" for n in sorted(load - shared)))
    f.write("# start-up only\n" + "".join(n + "\n" for n in sorted(startup - shared)))
    f.write("# in a .text section shared with other functions (the toolchain's static libraries)\n")
    f.write("".join(n + "\n" for n in sorted(idle & shared) + sorted(load & shared) + sorted(startup & shared)))
print(f"{len(idle - shared)} idle, {len(load - shared)} load and {len(startup - shared)} start-up functions, and "
      f"{len((idle | load | startup) & shared)} that cannot move alone, written to {out}")
PY

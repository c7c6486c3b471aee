#!/usr/bin/env bash
# Writes scripts/idle-functions.order: the functions of the release binary that an idle agent
# runs (the example configuration, a private broker on loopback, no traffic), measured with
# valgrind's callgrind from 30 s after start for MEASURE_SECONDS (150 by default, so that the
# once-a-minute work is in). `make build` links them first and together
# (lld --symbol-ordering-file), so that the code an idle agent keeps resident is a few hundred KiB
# of contiguous pages instead of pages all over 11 MiB of text. Names that no longer exist are
# ignored by the linker; rerun this after large changes to the agent's steady-state code.
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
valgrind --tool=callgrind --demangle=no --instr-atstart=no --callgrind-out-file="$tmp/cg.out" \
  "$tmp/dewpoint" run --config "$tmp/dewpoint.yaml" > "$tmp/agent.log" 2>&1 & pids+=($!)
echo "== idle agent under callgrind: 30 s to settle, then ${MEASURE_SECONDS:-150} s measured"
sleep 30
callgrind_control -i on > /dev/null
sleep "${MEASURE_SECONDS:-150}"
callgrind_control -d > /dev/null
sleep 3
python3 - "$tmp" scripts/idle-functions.order <<'PY'
import glob, re, sys
tmp, out = sys.argv[1], sys.argv[2]
funcs = set()
for path in glob.glob(tmp + "/cg.out*"):
    names, objects, ob, executed = {}, {}, None, set()
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
            if kind == "fn" and ob and ob.endswith("/dewpoint"): executed.add(i)
    # a function callgrind knows only by address has no symbol to order
    funcs |= {names[i] for i in executed if i in names and not names[i].startswith("0x")}
with open(out, "w") as f:
    f.write("".join(n + "\n" for n in sorted(funcs)))
print(f"{len(funcs)} functions written to {out}")
PY

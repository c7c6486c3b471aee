#!/usr/bin/env python3
"""Estimates the Raspberry Pi 4 and Pi 5 throughput of `dewpoint bench`'s signal kernels from
the aarch64 binary's own instructions, with llvm-mca. This is an estimate, not a measurement.

  scripts/pi-estimate.py [out/dewpoint-arm64] [--x86 .build/release/dewpoint --measured BENCH.json]

Method. For each kernel the innermost loop holding its packed NEON instructions is taken from the
disassembly (llvm-objdump), and llvm-mca (LLVM 19, Debian's llvm-19) gives its steady-state cycles
per iteration on a core model:
  - Pi 4, Cortex-A72 at 1.8 GHz: LLVM's Cortex-A57 model, the one LLVM itself uses for the A72;
  - Pi 5, Cortex-A76 at 2.4 GHz: LLVM's Neoverse N1 model (the N1 is the A76's server version,
    with the same pipeline; LLVM 19 has no model of its own for the A76 and would use the A57's).
The kernel's samples per iteration come from its source (below), so samples per second are
GHz / (cycles per iteration / samples per iteration). What this leaves out: the work outside the
inner loop (block set-up, the bench's copies), cache and memory stalls (the bench's blocks are
4,096 samples and stay in L1/L2), and frequency limits under heat. It is an upper bound of a kind.

With --x86 and --measured, the same method is applied to this machine's x86_64 binary on the
model of its CPU (Zen 4/5) and set against `dewpoint bench --json` measured here with the
baseline kernels (DEWPOINT_SIMD=baseline), which shows how far the method's figures sit from a
measurement on a core where both exist.
"""
import json, os, re, shutil, subprocess, sys, tempfile

# kernel, its demangled symbol, the bench row it stands for, and samples per inner-loop iteration
# (the x86_64 build's loops have the same shape, except window statistics: its x86_64 loop is
# unrolled differently and is left out of the comparison)
KERNELS = [
    # one tap for 32 outputs per iteration; 64 taps: 32/64 samples per iteration
    ("FIR, 64 taps (baseline kernel)", r"DewpointSignal\.FIRFilter\.process\(", "fir_64_baseline", 32 / 64),
    # one biquad section for a frame of 8 channels; 4th order = 2 sections: 8/2 samples
    ("Butterworth, 4th order, 8 channels", r"DewpointSignal\.BiquadCascade8\.process\(", "butterworth4", 8 / 2),
    # 16 samples per iteration (4 vectors of 4)
    ("window statistics (block)", r"DewpointSignal\.WindowStats\.add\(uniform:", "window_stats", 16),
    # 8 taps of one output; 81 taps padded to 88 = 11 iterations per output, 1 output per 4 inputs
    ("decimation by 4 (81 taps)", r"DewpointSignal\.Decimator\.process\(", "decimate_4", 4 / 11),
]
PACKED = {
    "aarch64": re.compile(r"\b(fadd|fsub|fmul|fmla|fmin|fmax|fminnm|fmaxnm|fcmgt|fdiv)\s+v\d+\.4s"),
    "x86_64": re.compile(r"\bv?(add|sub|mul|min|max|div|cmp\w*)ps\b"),
}
BRANCH = {
    "aarch64": re.compile(r"^(b\.\w+|b|cbnz|cbz|tbnz|tbz)\s+(.*?)0x([0-9a-f]+)"),
    "x86_64": re.compile(r"^(j\w+)\s+0x([0-9a-f]+)"),
}
CORES = {
    "aarch64": [("Pi 4 (Cortex-A72, 1.8 GHz)", "cortex-a57", 1.8), ("Pi 5 (Cortex-A76, 2.4 GHz)", "neoverse-n1", 2.4)],
}


def tool(name):
    for p in (f"/usr/lib/llvm-19/bin/{name}", shutil.which(name)):
        if p and os.path.exists(p):
            return p
    sys.exit(f"{name} not found: apt-get install llvm-19")


def arch_of(binf):
    out = subprocess.run(["readelf", "-h", binf], capture_output=True, text=True).stdout
    return "aarch64" if "AArch64" in out else "x86_64"


def symbols(binf):
    nm = subprocess.run(["nm", "-S", "--defined-only", binf], capture_output=True, text=True).stdout
    dem = subprocess.run(["swift", "demangle", "--compact"], input=nm, capture_output=True, text=True).stdout
    return dem.splitlines()


def inner_loop(binf, arch, table, pattern):
    """The smallest loop (a backward branch and its target) with the most packed instructions."""
    cands = [l for l in table if re.search(r" [tT] .*" + pattern, l)]
    if not cands:
        return None
    line = max(cands, key=lambda l: int(l.split()[1], 16))
    start, size = int(line.split()[0], 16), int(line.split()[1], 16)
    dis = subprocess.run([tool("llvm-objdump"), "-d", "--no-show-raw-insn", f"--start-address={start}",
                          f"--stop-address={start + size}", binf], capture_output=True, text=True).stdout
    ins = []
    for l in dis.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(\S.*)$", l)
        if m:
            text = m.group(2).split("#")[0] if arch == "x86_64" else m.group(2).split("//")[0]
            ins.append((int(m.group(1), 16), re.sub(r"\s*<.*>$", "", text).strip()))
    best = None
    for i, (addr, text) in enumerate(ins):
        m = BRANCH[arch].match(text)
        if not m:
            continue
        target = int(m.groups()[-1], 16)
        if not (start <= target <= addr):
            continue
        j = next(k for k, (a, _) in enumerate(ins) if a == target)
        body = ins[j:i + 1]
        packed = sum(1 for _, t in body if PACKED[arch].search(t))
        key = (-packed, len(body))
        if packed and (best is None or key < best[0]):
            best = (key, body)
    return best[1] if best else None


def cycles_per_iteration(body, arch, cpu):
    """llvm-mca's steady state: total cycles over 1,000 iterations of the loop, per iteration."""
    lines = [".Lloop:"]
    for _, text in body[:-1]:
        m = BRANCH[arch].match(text)
        # branches out of the loop (bounds and overflow checks) are not taken in the steady state
        lines.append(re.sub(r"0x[0-9a-f]+$", ".Lout", text) if m else text)
    last = body[-1][1]
    lines.append(re.sub(r"0x[0-9a-f]+$", ".Lloop", last))
    lines.append(".Lout:")
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    triple = "aarch64-linux-gnu" if arch == "aarch64" else "x86_64-linux-gnu"
    out = subprocess.run([tool("llvm-mca"), f"-mtriple={triple}", f"-mcpu={cpu}", "-iterations=1000", path],
                         capture_output=True, text=True)
    os.unlink(path)
    m = re.search(r"Total Cycles:\s+(\d+)", out.stdout)
    if not m:
        sys.exit(f"llvm-mca failed on {cpu}:\n{out.stderr[:2000]}")
    return int(m.group(1)) / 1000


def main():
    args = sys.argv[1:]
    binf = args[0] if args and not args[0].startswith("--") else "out/dewpoint-arm64"
    x86 = args[args.index("--x86") + 1] if "--x86" in args else None
    measured = args[args.index("--measured") + 1] if "--measured" in args else None
    arch = arch_of(binf)
    if arch != "aarch64":
        sys.exit(f"{binf} is not an aarch64 binary")
    table = symbols(binf)
    cores = CORES["aarch64"]
    print("| kernel | instructions in the loop | samples per iteration | "
          + " | ".join(f"{name}: cycles per iteration, M samples/s" for name, _, _ in cores) + " |")
    print("|---|---|---|" + "---|" * len(cores))
    for name, pattern, _, per in KERNELS:
        body = inner_loop(binf, arch, table, pattern)
        if body is None:
            print(f"| {name} | loop not found | | |")
            continue
        cells = []
        for _, cpu, ghz in cores:
            c = cycles_per_iteration(body, arch, cpu)
            cells.append(f"{c:.1f}, **{ghz * 1e3 * per / c:,.0f}**")
        print(f"| {name} | {len(body)} | {per:g} | " + " | ".join(cells) + " |")
    if x86 and measured:
        rows = {r["name"]: r for r in json.load(open(measured))["kernels"]}
        table = symbols(x86)
        cpu = os.environ.get("X86_CPU", "znver4")
        ghz = float(os.environ.get("X86_GHZ", "0"))
        print(f"\nThe method on this machine's x86_64 binary ({cpu} model, {ghz} GHz), against `dewpoint bench`:\n")
        print("| kernel | estimated M samples/s | measured | measured / estimated |")
        print("|---|---|---|---|")
        for name, pattern, row, per in KERNELS:
            body = None if row == "window_stats" else inner_loop(x86, "x86_64", table, pattern)
            # measured with DEWPOINT_SIMD=baseline, the baseline FIR is the bench's fir_64
            row = row if row in rows else row.replace("_baseline", "")
            if body is None or row not in rows:
                print(f"| {name} | n/a | | |")
                continue
            est = ghz * 1e3 * per / cycles_per_iteration(body, "x86_64", cpu)
            meas = rows[row]["samples_per_s"] / 1e6
            print(f"| {name} | {est:,.0f} | {meas:,.0f} | {meas / est:.2f} |")


if __name__ == "__main__":
    main()

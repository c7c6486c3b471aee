#!/usr/bin/env python3
"""Generates golden vectors for the signal kernels with scipy.signal (run at development time;
the tests read the committed .txt files and never need Python).

    python3 Tests/DewpointSignalTests/golden/generate.py

Each output file holds one named vector per line: `name v0 v1 v2 ...` (repr of float64)."""
import os
import numpy as np
from scipy import signal

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20251124)
n = 600
x_random = rng.standard_normal(n)
t = np.arange(n)
x_step = np.where(t >= 150, 1.0, 0.0) + 0.5 * np.where(t >= 400, 1.0, 0.0)
x_chirp = signal.chirp(t / 100.0, f0=0.1, f1=20.0, t1=6.0)

def line(name, v):
    return name + " " + " ".join(repr(float(a)) for a in v) + "\n"

with open(os.path.join(here, "fir.txt"), "w") as f:
    for spec in [(31, 0.2, "lowpass"), (64, 0.25, "lowpass"), (33, 0.3, "highpass"), (41, (0.2, 0.4), "bandpass")]:
        taps, cutoff, kind = spec
        pass_zero = kind == "lowpass"
        h = signal.firwin(taps, cutoff, pass_zero=pass_zero if kind != "bandpass" else False, window="hamming")
        name = f"{kind}_{taps}"
        f.write(line(f"taps_{name}", h))
        for xname, x in [("random", x_random), ("step", x_step), ("chirp", x_chirp)]:
            f.write(line(f"out_{name}_{xname}", signal.lfilter(h, [1.0], x)))
    for xname, x in [("random", x_random), ("step", x_step), ("chirp", x_chirp)]:
        f.write(line(f"in_{xname}", x))

with open(os.path.join(here, "sos.txt"), "w") as f:
    for order, wn, kind in [(4, 0.1, "lowpass"), (2, 0.3, "highpass"), (4, (0.1, 0.3), "bandpass")]:
        sos = signal.butter(order, wn, btype=kind, output="sos")
        name = f"{kind}_{order}"
        f.write(line(f"sos_{name}", sos.ravel()))
        for xname, x in [("random", x_random), ("step", x_step), ("chirp", x_chirp)]:
            f.write(line(f"out_{name}_{xname}", signal.sosfilt(sos, x)))
print("written")

# Small filters (more.txt). Causal conventions of the Swift filters are stated next to each.
def line9(name, v):
    return name + " " + " ".join("%.9g" % float(a) for a in v) + "\n"

x_f32 = {k: np.asarray(v, dtype=np.float32).astype(np.float64) for k, v in
         [("random", x_random), ("step", x_step), ("chirp", x_chirp)]}
with open(os.path.join(here, "more.txt"), "w") as f:
    for xname, x in x_f32.items():
        # moving average: lfilter(ones(N)/N) once N samples are in; before that, the mean so far
        for N in (5, 16):
            y = signal.lfilter(np.ones(N) / N, [1.0], x)
            k = np.arange(len(x))
            y[:N - 1] = y[:N - 1] * N / (k[:N - 1] + 1)
            f.write(line9(f"ma{N}_{xname}", y))
        # EMA starting at the first sample: lfilter([a], [1, a-1]) with y[-1] = x[0]
        a = 0.2
        f.write(line9(f"ema_{xname}", signal.lfilter([a], [1, a - 1], x, zi=[(1 - a) * x[0]])[0]))
        # causal median of `length` samples, the window starting full of x[0]
        for L in (3, 7, 15):
            h = (L - 1) // 2
            padded = np.r_[np.full(L - 1, x[0]), x, np.zeros(h)]
            f.write(line9(f"median{L}_{xname}", signal.medfilt(padded, L)[h: h + len(x)]))
        # despike: the sample at the window centre unless farther than 0.5 from the median
        L, h = 7, 3
        padded = np.r_[np.full(L - 1, x[0]), x]
        med = signal.medfilt(np.r_[padded, np.zeros(h)], L)[h: h + len(x)]
        centre = padded[h: h + len(x)]
        f.write(line9(f"despike7_{xname}", np.where(np.abs(centre - med) > 0.5, med, centre)))
        # decimate with the FIR option, causal (zero_phase=False keeps outputs 0, q, 2q, ...)
        for q in (2, 5):
            f.write(line9(f"decimate{q}_{xname}", signal.decimate(x, q, ftype="fir", zero_phase=False)))
    # a spiky signal for the despiker and the rate limiter
    spiky = x_f32["random"] * 0.1
    spiky[[50, 51, 200, 420]] += [8, -6, 5, -9]
    f.write(line9("in_spiky", spiky))
    L, h = 5, 2
    padded = np.r_[np.full(L - 1, spiky[0]), spiky]
    med = signal.medfilt(np.r_[padded, np.zeros(h)], L)[h: h + len(spiky)]
    centre = padded[h: h + len(spiky)]
    f.write(line9("despike5_spiky", np.where(np.abs(centre - med) > 1.0, med, centre)))
print("written more.txt")

# Spectra, vibration features and percentiles (spectral.txt), with numpy and scipy.stats.
from scipy import stats
with open(os.path.join(here, "spectral.txt"), "w") as f:
    for N, xname in ((256, "chirp"), (64, "random")):
        frame = x_f32[xname][:N]
        f.write(line9(f"power{N}_{xname}", np.abs(np.fft.rfft(frame)) ** 2))
    fs, N = 2000.0, 1024
    t = np.arange(4096) / fs
    vib = (3 * np.sin(2 * np.pi * 50 * t) + np.sin(2 * np.pi * 300 * t) + 0.2 * rng.standard_normal(4096) + 0.5)
    vib = vib.astype(np.float32).astype(np.float64)
    f.write(line9("in_vibration", vib))
    w = signal.get_window("hann", N)  # periodic
    bands = [(0, 100), (100, 500), (500, 1000)]
    energy = np.zeros(len(bands))
    for k in range(len(vib) // N):
        p = np.abs(np.fft.rfft(vib[k * N:(k + 1) * N] * w)) ** 2
        for b, (lo, hi) in enumerate(bands):
            bins = [i for i in range(1, N // 2 + 1) if lo <= i * fs / N < hi]
            energy[b] += sum(p[i] * (1 if i == N // 2 else 2) for i in bins) / (N * np.sum(w * w))
    energy /= len(vib) // N
    rms = np.sqrt(np.mean(vib ** 2)); peak = np.max(np.abs(vib))
    f.write(line9("features_vibration", [rms, peak, np.ptp(vib), peak / rms, stats.kurtosis(vib, fisher=False),
                                         stats.skew(vib)] + list(energy)))
    small = x_f32["random"][:100]
    f.write(line9("percentiles_random100", np.percentile(small, [50, 90, 99])))
print("written spectral.txt")

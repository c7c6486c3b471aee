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

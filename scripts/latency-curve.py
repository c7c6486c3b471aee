#!/usr/bin/env python3
"""latency-curve.py RESULTS.jsonl OUT.png: the alert latency and CPU curves over the input rate,
from the side-by-side harness's results (scripts/bench-peers.sh writes them).

Three panels per QoS: alert latency p50 and p99 (publish to the alert arriving upstream, ms, log
scale) and the agent's CPU seconds per 100,000 readings, each the median over the repetitions,
one line per system. Needs matplotlib (python3 -m pip install matplotlib).
"""
import json
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"dewpoint": "#1f77b4", "python": "#d62728", "collectd": "#2ca02c", "streamz": "#9467bd"}
LABELS = {"dewpoint": "Dewpoint", "python": "Python agent (paho + orjson)", "collectd": "collectd 5.12",
          "streamz": "streamz"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    # (system, qos, rate) -> lists of each measure
    cells = defaultdict(lambda: defaultdict(list))
    for r in runs:
        c = cells[(r["system"], r["qos"], r["rate"])]
        for key in ("lat_p50_ms", "lat_p99_ms", "cpu_per_100k"):
            if r.get(key) is not None:
                c[key].append(r[key])
    systems = [s for s in COLOURS if any(k[0] == s for k in cells)]
    qoses = sorted({k[1] for k in cells})
    measures = [("lat_p50_ms", "alert latency p50 (ms)"), ("lat_p99_ms", "alert latency p99 (ms)"),
                ("cpu_per_100k", "CPU-s per 100k readings")]
    fig, axes = plt.subplots(len(qoses), len(measures), figsize=(13, 4.2 * len(qoses)), squeeze=False)
    for row, qos in enumerate(qoses):
        for col, (key, title) in enumerate(measures):
            ax = axes[row][col]
            for s in systems:
                rates = sorted(k[2] for k in cells if k[0] == s and k[1] == qos and cells[k][key])
                if not rates:
                    continue
                ys = [statistics.median(cells[(s, qos, rt)][key]) for rt in rates]
                ax.plot(rates, ys, marker="o", color=COLOURS[s], label=LABELS[s])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("readings per second")
            ax.set_title(f"{title}, input QoS {qos}")
            ax.grid(True, which="both", alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    reps = max((r.get("rep", 0) for r in runs), default=0) + 1
    fig.suptitle(f"Same stream, same machine, same run: median of {reps} interleaved repetitions", fontsize=11)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()

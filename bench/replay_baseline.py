#!/usr/bin/env python3
"""Plain-Python equivalent of `dewpoint replay` for the boiler-room binding, used as the baseline
in scripts/bench-replay.sh: json for parsing, statistics for the window statistics.

Reads an MQTT recording (JSONL), groups the four channels into 10 s tumbling windows by the payload's
`ts` (epoch ms), and prints one summary per window as JSON lines."""
import json
import statistics
import sys

CHANNELS = [("temp", "degC", lambda p: p["temp"]), ("humidity", "%RH", lambda p: p["rh"]),
            ("pressure", "hPa", lambda p: p["p"]), ("battery", "V", lambda p: p["batt"]["mv"] * 0.001)]
WINDOW_MS = 10_000


def flush(device, start, values, out):
    chans = {}
    for name, unit, _ in CHANNELS:
        xs = values[name]
        if xs:
            chans[name] = {"unit": unit, "n": len(xs), "min": min(xs), "max": max(xs),
                           "mean": statistics.fmean(xs), "std": statistics.pstdev(xs),
                           "first": xs[0], "last": xs[-1]}
    out.write(json.dumps({"kind": "summary", "device": device, "start_ms": start,
                          "end_ms": start + WINDOW_MS, "channels": chans}) + "\n")


def main(path):
    out = sys.stdout
    windows = {}
    with open(path) as f:
        for line in f:
            msg = json.loads(line)
            if msg["topic"] != "sensors/boiler-room/env":
                continue
            p = json.loads(msg["payload"])
            start = p["ts"] - p["ts"] % WINDOW_MS
            w = windows.get(start)
            if w is None:
                for old in sorted(s for s in windows if s < start):
                    flush("boiler-room", old, windows.pop(old), out)
                w = windows[start] = {name: [] for name, _, _ in CHANNELS}
            for name, _, get in CHANNELS:
                w[name].append(get(p))
    for s in sorted(windows):
        flush("boiler-room", s, windows[s], out)


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""metrics-plot.py DIR OUT.png: draw the Grafana dashboard (contrib/grafana/dewpoint.json) offline,
from expositions captured by scripts/metrics-capture.sh (DIR/<unix_ms>.prom, one a second).

The panels have the dashboard's titles and compute the same quantities: rates from counter deltas
over the same windows (1m or 5m, or what the capture holds, with counter resets handled like
Prometheus), increases over 5m (without Prometheus's extrapolation), histogram quantiles by linear
interpolation within buckets, and gauges as they are. A series that appears or disappears mid-way
is plotted where it exists (gaps elsewhere). The capture has no `instance` label: it is one agent.

Needs only matplotlib (python3 -m pip install matplotlib).
"""
import math
import os
import re
import sys
from datetime import datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402  (comes with matplotlib)
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The Prometheus text format

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,)?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _value(text):
    t = text.strip()
    low = t.lower()
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low == "nan":
        return math.nan
    return float(t)


def parse_exposition(text):
    """{(name, ((label, value), ...)): value} of one exposition; comments and bad lines skipped."""
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _NAME.match(line)
        if not m:
            continue
        name, rest = m.group(0), line[m.end():]
        labels = []
        if rest.startswith("{"):
            pos = 1
            while True:
                while pos < len(rest) and rest[pos] in " \t":
                    pos += 1
                if pos < len(rest) and rest[pos] == "}":
                    pos += 1
                    break
                lm = _LABEL.match(rest, pos)
                if not lm:
                    labels = None
                    break
                val = re.sub(r'\\[\\"n]', lambda e: _UNESCAPE[e.group(0)], lm.group(2))
                labels.append((lm.group(1), val))
                pos = lm.end()
            if labels is None:
                continue
            rest = rest[pos:]
        parts = rest.split()
        if not parts:
            continue
        try:
            v = _value(parts[0])  # a trailing timestamp, if any, is ignored: the file's time counts
        except ValueError:
            continue
        out[(name, tuple(sorted(labels)))] = v
    return out


def load(folder):
    """(times in s since the epoch, [parsed exposition per time]) of DIR/<unix_ms>.prom."""
    files = []
    for f in os.listdir(folder):
        m = re.fullmatch(r"(\d+)\.prom", f)
        if m:
            files.append((int(m.group(1)), f))
    files.sort()
    times, frames = [], []
    for ms, f in files:
        try:
            with open(os.path.join(folder, f), encoding="utf-8", errors="replace") as fh:
                frames.append(parse_exposition(fh.read()))
            times.append(ms / 1000.0)
        except OSError as e:
            print(f"skipping {f}: {e}", file=sys.stderr)
    return np.array(times, dtype=float), frames


# ---------------------------------------------------------------------------------------------
# The dashboard's functions, over the capture. Each returns {labels: array over the capture's times}
# with NaN where a series has no value.


class Capture:
    def __init__(self, times, frames):
        self.t = times
        self.n = len(times)
        self.by_name = {}
        for i, fr in enumerate(frames):
            for (name, labels), v in fr.items():
                series = self.by_name.setdefault(name, {})
                arr = series.get(labels)
                if arr is None:
                    arr = series[labels] = np.full(self.n, np.nan)
                arr[i] = v

    def gauge(self, name):
        return dict(self.by_name.get(name, {}))

    def _window(self, arr, window, per_second):
        """rate() (per_second) or increase() of one counter over `window` seconds at each time."""
        out = np.full(self.n, np.nan)
        idx = np.flatnonzero(~np.isnan(arr))
        if len(idx) < 2:
            return out
        vals = arr[idx]
        # a counter that goes down was reset: continue it from where it was
        drops = np.concatenate(([0.0], np.where(np.diff(vals) < 0, vals[:-1], 0.0)))
        corrected = vals + np.cumsum(drops)
        ts = self.t[idx]
        last = np.searchsorted(idx, np.arange(self.n), side="right") - 1  # the last sample at or before each time
        first = np.searchsorted(ts, self.t - window, side="left")  # the first within the window
        lc = np.clip(last, 0, len(idx) - 1)
        ok = (last >= 0) & (self.t - ts[lc] <= window) & (lc - first >= 1)
        fc = np.clip(first, 0, len(idx) - 1)
        inc = corrected[lc] - corrected[fc]
        if per_second:
            with np.errstate(divide="ignore", invalid="ignore"):
                inc = inc / (ts[lc] - ts[fc])
        out[ok] = inc[ok]
        return out

    def rate(self, name, window):
        return {k: self._window(a, window, True) for k, a in self.by_name.get(name, {}).items()}

    def increase(self, name, window):
        return {k: self._window(a, window, False) for k, a in self.by_name.get(name, {}).items()}

    def time_minus(self, name):
        return {k: self.t - a for k, a in self.by_name.get(name, {}).items()}

    def histogram_quantile(self, q, name, window):
        """histogram_quantile(q, sum by (le) (rate(name_bucket[window]))): linear within a bucket."""
        buckets = {}
        for labels, r in self.rate(name + "_bucket", window).items():
            le = dict(labels).get("le")
            if le is None:
                continue
            key = _value(le)
            buckets[key] = _nansum([buckets[key], r]) if key in buckets else r
        out = np.full(self.n, np.nan)
        if not buckets or math.inf not in buckets:
            return {(): out}
        les = sorted(buckets)
        counts = np.vstack([buckets[le] for le in les])  # cumulative, by upper bound
        for i in range(self.n):
            c = counts[:, i]
            if np.isnan(c).any() or c[-1] <= 0:
                continue
            c = np.maximum.accumulate(c)  # rates of cumulative buckets can be a hair off monotone
            rank = q * c[-1]
            b = int(np.searchsorted(c, rank, side="left"))
            if les[b] == math.inf:
                out[i] = les[-2] if len(les) > 1 else np.nan
                continue
            lower = les[b - 1] if b > 0 else 0.0
            below = c[b - 1] if b > 0 else 0.0
            in_bucket = c[b] - below
            out[i] = les[b] if in_bucket <= 0 else lower + (les[b] - lower) * (rank - below) / in_bucket
        return {(): out}


def _nansum(arrays):
    stack = np.vstack(arrays)
    s = np.nansum(stack, axis=0)
    s[np.all(np.isnan(stack), axis=0)] = np.nan
    return s


def sum_by(series, keys=()):
    groups = {}
    for labels, arr in series.items():
        d = dict(labels)
        groups.setdefault(tuple((k, d.get(k, "")) for k in keys), []).append(arr)
    return {k: _nansum(v) for k, v in groups.items()}


def divide(a, b):
    out = {}
    for k, x in a.items():
        if k in b:
            with np.errstate(divide="ignore", invalid="ignore"):
                y = x / b[k]
            y[~np.isfinite(y)] = np.nan
            out[k] = y
    return out


def scale(series, factor):
    return {k: v * factor for k, v in series.items()}


# ---------------------------------------------------------------------------------------------
# The panels: (title, unit, [(query, legend format, on the right axis)]), as in dewpoint.json.
# Legends drop {{instance}} (one agent).

R, L = True, False

STATS = [
    ("Uptime", "s", lambda c: c.gauge("dewpoint_uptime_seconds")),
    ("Upstream connected", "updown", lambda c: c.gauge("dewpoint_upstream_connected")),
    ("Alerts raised now", "short", lambda c: c.gauge("dewpoint_alerts_raised")),
    ("Devices", "short", lambda c: sum_by(c.gauge("dewpoint_devices"))),
]

PANELS = [
    ("Input rate", "/s", [(lambda c: c.rate("dewpoint_frames_total", 60), "frames/s", L)]),
    ("Samples/s", "/s", [
        (lambda c: c.rate("dewpoint_samples_total", 60), "samples", L),
        (lambda c: c.rate("dewpoint_filtered_samples_total", 60), "filtered", L),
        (lambda c: c.rate("dewpoint_missing_values_total", 60), "missing values", L),
        (lambda c: c.rate("dewpoint_summaries_total", 60), "summaries", L)]),
    ("Drops by reason", "/s", [
        (lambda c: sum_by(c.rate("dewpoint_dropped_total", 300), ("reason",)), "{{reason}}", L),
        (lambda c: sum_by(c.rate("dewpoint_spool_dropped_total", 300)), "spool dropped", L),
        (lambda c: sum_by(c.rate("dewpoint_dead_letters_total", 300)), "dead letters", L)]),
    ("Spool backlog", "short", [
        (lambda c: c.gauge("dewpoint_spool_records"), "records", L),
        (lambda c: c.gauge("dewpoint_spool_oldest_record_age_seconds"), "oldest age (s)", R)]),
    ("Upstream link", "short", [
        (lambda c: c.increase("dewpoint_upstream_reconnects_total", 300), "reconnects /5m", L),
        (lambda c: c.gauge("dewpoint_upstream_connected"), "connected", R)]),
    ("Upstream throughput", "/s", [
        (lambda c: c.rate("dewpoint_upstream_published_total", 60), "published", L),
        (lambda c: c.rate("dewpoint_upstream_acknowledged_total", 60), "acknowledged", L)]),
    ("Alerts", "short", [
        (lambda c: c.gauge("dewpoint_alerts_raised"), "raised", L),
        (lambda c: c.increase("dewpoint_alert_transitions_total", 300), "transitions /5m", R)]),
    ("Alert commit latency", "s", [
        (lambda c: c.histogram_quantile(0.5, "dewpoint_alert_commit_latency_seconds", 300), "p50", L),
        (lambda c: c.histogram_quantile(0.99, "dewpoint_alert_commit_latency_seconds", 300), "p99", L),
        (lambda c: divide(c.rate("dewpoint_alert_commit_latency_seconds_sum", 300),
                          c.rate("dewpoint_alert_commit_latency_seconds_count", 300)), "mean", L)]),
    ("Per-device sample rate", "/s", [(lambda c: c.gauge("dewpoint_device_sample_rate"), "{{binding}}/{{device}}", L)]),
    ("Devices per binding", "short", [
        (lambda c: c.gauge("dewpoint_devices"), "{{binding}}", L),
        (lambda c: c.increase("dewpoint_devices_evicted_total", 300), "evicted /5m", R)]),
    ("Time since last seen", "s", [
        (lambda c: c.time_minus("dewpoint_device_last_seen_timestamp_seconds"), "{{binding}}/{{device}}", L)]),
    ("Resident memory", "bytes", [(lambda c: c.gauge("dewpoint_resident_memory_bytes"), "resident", L)]),
    ("Sources", "/s", [
        (lambda c: sum_by(c.rate("dewpoint_source_events_total", 300), ("source", "event")), "{{source}} {{event}}", L),
        (lambda c: c.gauge("dewpoint_source_connected"), "{{source}} connected", R)]),
    ("Open windows", "short", [(lambda c: c.gauge("dewpoint_open_windows"), "open windows", L)]),
]

# ---------------------------------------------------------------------------------------------
# Drawing, in Grafana's dark theme colours

BG, PANEL, TEXT, MUTED, GRID = "#111217", "#181b1f", "#ccccdc", "#8e8e9e", "#2c3235"
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9",
           "#705da0", "#37872d", "#fade2a", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62",
           "#e0b400", "#1f78c1", "#ba43a9", "#508642", "#cca300"]
MAX_LEGEND = 10


def legend_text(fmt, labels):
    d = dict(labels)
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: d.get(m.group(1), ""), fmt)


def human(v, unit):
    if v is None or not np.isfinite(v):
        return "–"
    a = abs(v)
    if unit == "bytes":
        for u in ("B", "KiB", "MiB", "GiB", "TiB"):
            if a < 1024 or u == "TiB":
                return f"{v:.0f} {u}" if u == "B" else f"{v:.1f} {u}"
            v, a = v / 1024, a / 1024
    if unit == "s":
        if a == 0:
            return "0 s"
        if a < 1e-3:
            return f"{v * 1e6:.0f} µs"
        if a < 1:
            return f"{v * 1e3:.3g} ms"
        if a < 120:
            return f"{v:.3g} s"
        if a < 7200:
            return f"{v / 60:.3g} min"
        if a < 172800:
            return f"{v / 3600:.3g} h"
        return f"{v / 86400:.3g} d"
    suffix = "/s" if unit == "/s" else ""
    for div, u in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{u}{suffix}"
    return f"{v:.3g}{suffix}"


def style_axis(ax, unit):
    ax.set_facecolor(PANEL)
    for s in ax.spines.values():
        s.set_color(GRID)
    ax.tick_params(colors=MUTED, labelsize=7)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v, unit)))
    ax.yaxis.set_major_locator(MaxNLocator(5))


def draw_stat(ax, cap, dates, title, unit, query):
    ax.set_facecolor(PANEL)
    for s in ax.spines.values():
        s.set_color(GRID)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, color=TEXT, fontsize=9, loc="left")
    series = query(cap)
    vals = [a for _, a in sorted(series.items())]
    last = None
    if vals:
        arr = vals[0]
        ok = np.flatnonzero(~np.isnan(arr))
        if len(ok):
            last = arr[ok[-1]]
            ax.plot(dates, arr, color=PALETTE[0], alpha=0.25, linewidth=1)
            ax.fill_between(dates, arr, np.nanmin(arr), color=PALETTE[0], alpha=0.08)
    if unit == "updown":
        text = "–" if last is None else ("up" if last >= 1 else "down")
        color = TEXT if last is None else (PALETTE[0] if last >= 1 else PALETTE[4])
    else:
        text = human(last, unit) if last is not None else "–"
        color = PALETTE[1] if title.startswith("Alerts") and last else PALETTE[0]
    ax.text(0.5, 0.42, text, transform=ax.transAxes, ha="center", va="center", fontsize=22, color=color, weight="bold")


def draw_panel(ax, cap, dates, title, unit, queries):
    style_axis(ax, unit)
    ax.set_title(title, color=TEXT, fontsize=9, loc="left")
    right = None
    lines = []
    colour = 0
    for query, fmt, on_right in queries:
        for labels, arr in sorted(query(cap).items()):
            if np.all(np.isnan(arr)):
                continue
            target = ax
            if on_right:
                if right is None:
                    right = ax.twinx()
                    style_axis(right, "s" if "age" in fmt else "short")
                    right.grid(False)
                target = right
            kw = {"drawstyle": "steps-post"} if on_right and "connected" in fmt else {}
            (ln,) = target.plot(dates, arr, color=PALETTE[colour % len(PALETTE)], linewidth=1.2, **kw)
            colour += 1
            ok = np.flatnonzero(~np.isnan(arr))
            lines.append((arr[ok[-1]], ln, legend_text(fmt, labels) + (" (right)" if on_right else "")))
    if not lines:
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", va="center", color=MUTED, fontsize=10)
        return
    ax.set_ylim(bottom=min(0, ax.get_ylim()[0]))
    if right is not None:
        right.set_ylim(bottom=min(0, right.get_ylim()[0]))
    # the legend: every series, or the largest by last value and how many more
    shown = sorted(lines, key=lambda x: -x[0] if np.isfinite(x[0]) else 0)[:MAX_LEGEND] if len(lines) > MAX_LEGEND else lines
    handles = [ln for _, ln, _ in shown]
    names = [name for _, _, name in shown]
    if len(lines) > len(shown):
        handles.append(plt.Line2D([], [], color="none"))
        names.append(f"+{len(lines) - len(shown)} more")
    leg = ax.legend(handles, names, loc="upper left", fontsize=6.5, ncol=2 if len(names) > 5 else 1,
                    frameon=True, facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT)
    leg.get_frame().set_alpha(0.85)


def main(argv):
    if len(argv) != 3:
        print("usage: metrics-plot.py DIR OUT.png", file=sys.stderr)
        return 2
    times, frames = load(argv[1])
    if len(times) == 0:
        print(f"no <unix_ms>.prom files in {argv[1]}", file=sys.stderr)
        return 1
    cap = Capture(times, frames)
    dates = [datetime.fromtimestamp(t) for t in times]

    cols = 2
    rows = math.ceil(len(PANELS) / cols)
    fig = plt.figure(figsize=(16, 1.9 + rows * 2.9), facecolor=BG)
    # four columns: a stat in each on top, then the time series two to a row
    gs = fig.add_gridspec(rows + 1, 4, height_ratios=[0.55] + [1] * rows, hspace=0.45, wspace=0.3,
                          left=0.05, right=0.95, top=0.94, bottom=0.03)
    start, end = dates[0], dates[-1]
    fig.suptitle(f"Dewpoint agent   {start:%Y-%m-%d %H:%M:%S} – {end:%H:%M:%S}   ({len(times)} captures)",
                 color=TEXT, fontsize=12, x=0.05, ha="left")
    for i, (title, unit, query) in enumerate(STATS):
        draw_stat(fig.add_subplot(gs[0, i]), cap, dates, title, unit, query)
    for i, (title, unit, queries) in enumerate(PANELS):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(gs[r + 1, c * 2:(c + 1) * 2])
        draw_panel(ax, cap, dates, title, unit, queries)
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        locator.intervald[mdates.SECONDLY] = [1, 2, 5, 10, 15, 20, 30]
        locator.intervald[mdates.MINUTELY] = [1, 2, 5, 10, 15, 20, 30]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        if len(dates) > 1:
            ax.set_xlim(start, end)
    fig.savefig(argv[2], dpi=110, facecolor=BG)
    print(f"{argv[2]}: {len(PANELS) + len(STATS)} panels from {len(times)} captures", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

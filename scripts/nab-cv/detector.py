"""Python (numba if available) port of Dewpoint's `novelty` detector, with optional extensions.

DEFAULT reproduces the previous Swift NoveltyDetector exactly (full 42-file NAB standard 75.40,
threshold 0.540). FINAL is the design chosen by leave-one-category-out CV (cv.py), which the Swift
detector now is: the previous algorithm with levels = 4 (was 8) and hold = 200 samples (was 100). All extension parameters below
(relative entropy, level shift, period-adaptive phase bins, decaying peak, beat margin, graded
range, range decay) are off in both; CV did not select them.
Usage: run(x, ts_ns, FINAL) -> np.ndarray of scores.
"""
import sys, math
import numpy as np
try:
    from numba import njit
except ImportError:  # pure-Python fallback (slow but identical)
    def njit(*a, **k):
        return (lambda f: f) if not a or not callable(a[0]) else a[0]

DAY_NS = 86_400_000_000_000
DEFAULT = dict(
    range_tol=0.05, levels=8, ctx_len=10, ctx_bits=14, alpha=0.01, zscale=6.0,
    tod_mode=1,            # 0 off, 1 UTC time-of-day bins, 2 phase bins of a detected period
    tod_bins=24, tod_min_count=3, tod_spread_floor=0.01, tod_scale=2.0,
    tod_trust=7.0,         # mode 1: days of history; mode 2: periods of history
    tod_alone=0.8, w_ctx=0.9, w_z=0.1, w_tod=0.35,
    hold=100, cap=0.99, warmup=100,
    # extensions (0 = off, i.e. the Swift detector)
    w_shift=0.0, alpha_s=0.1,   # short-vs-long EWMA level-shift term
    shift_scale=3.0,
    range_in_mix=0,             # 1: range novelty goes through the suppression too
    hold_adapt=0,               # 1: hold measured in samples = hold * (nothing) placeholder
    norm_mode=0,                # 0: divide by (1+w_tod) as Swift; 1: divide by sum of weights
    per_ratio=0.5,              # mode 2: a lag L is a period if D(L) < per_ratio * D(L/2)
    per_alpha=0.002,            # mode 2: EWMA rate of the lag differences D
    hold_mode=0,                # 0: peak forgotten after `hold` samples; 1: peak decays, half-life `hold`
    range_decay=0.0,            # >0: running min/max relax toward the EWMA mean at this rate per sample
    w_re=0.0, re_win=64, re_alpha=0.002, re_scale=1.0,  # relative entropy of recent level histogram
    beat_margin=0.0,            # emit only if mix > peak + beat_margin
    range_base=1.0,             # range novelty = min(1, range_base + excess / range); 1 = binary (Swift)
    quant_mode=0, quant_k=3.0,  # 1: levels span EWMA mean +- quant_k sigma instead of the running range
)
# mode 2 candidate periods (samples): a day or a week at 1-min..1-h sampling
PER_CANDS = np.array([24, 96, 144, 168, 288, 672, 1008, 1440, 2016], dtype=np.int64)
RING = 2048
KEYS = list(DEFAULT)

def params(**kw):
    p = dict(DEFAULT); p.update(kw)
    for k in kw:
        if k not in DEFAULT: raise KeyError(k)
    return p

@njit(cache=True)
def _run(x, ts, P, cands):
    (range_tol, levels, ctx_len, ctx_bits, alpha, zscale, tod_mode, tod_bins, tod_min_count,
     tod_spread_floor, tod_scale, tod_trust, tod_alone, w_ctx, w_z, w_tod, hold, cap, warmup,
     w_shift, alpha_s, shift_scale, range_in_mix, hold_adapt, norm_mode, per_ratio, per_alpha) = (
        P[0], int(P[1]), int(P[2]), int(P[3]), P[4], P[5], int(P[6]), int(P[7]), int(P[8]),
        P[9], P[10], P[11], P[12], P[13], P[14], P[15], int(P[16]), P[17], int(P[18]),
        P[19], P[20], P[21], int(P[22]), int(P[23]), int(P[24]), P[25], P[26])
    hold_mode = int(P[27]); range_decay = P[28]
    w_re = P[29]; re_win = int(P[30]); re_alpha = P[31]; re_scale = P[32]; beat_margin = P[33]; range_base = P[34]; quant_mode = int(P[35]); quant_k = P[36]
    reh = np.zeros(16); rel = np.full(16, 1.0 / 16); rering = np.zeros(256, dtype=np.int64)
    pdec = 0.5 ** (1.0 / max(hold, 1))
    N = x.shape[0]
    out = np.zeros(N)
    nwords = (1 << ctx_bits) // 64
    seen = np.zeros(nwords, dtype=np.uint64)
    mask = np.uint64((1 << ctx_bits) - 1)
    todmn = np.zeros(tod_bins); todmx = np.zeros(tod_bins); todcnt = np.zeros(tod_bins, dtype=np.int64)
    n = 0; firstTs = 0
    mn = 0.0; mx = 0.0; mean = 0.0; var = 0.0; means = 0.0
    hist = np.uint64(0)
    peak = 0.0; age = hold + 1
    fnv_off = np.uint64(1469598103934665603); fnv_p = np.uint64(1099511628211)
    f4 = np.uint64(0xF); one = np.uint64(1)
    nc = cands.shape[0]
    ring = np.zeros(RING, dtype=np.int64)
    Dfull = np.zeros(nc); Dhalf = np.zeros(nc)
    period = 0; since = 0
    if norm_mode == 0:
        norm = 1.0 + w_tod
    else:
        norm = w_ctx + w_z + w_tod + w_shift + w_re
    for i in range(N):
        xi = x[i]; t = ts[i]
        first = n == 0
        if first:
            mn = xi; mx = xi; mean = xi; means = xi; firstTs = t
        mn0 = mn; mx0 = mx; r0 = mx0 - mn0
        rng = 0.0
        if (not first) and r0 > 0:
            tol = range_tol * r0
            if xi > mx0 + tol or xi < mn0 - tol:
                exc = max(xi - mx0, mn0 - xi)
                rng = min(1.0, range_base + exc / r0)
        d = xi - mean
        if var > 0:
            z = abs(d) / math.sqrt(var)
        else:
            z = 0.0 if d == 0 else 50.0
        ez = 1.0 - math.exp(-z / zscale)
        # level shift: short EWMA vs long EWMA, in long-run sigmas
        sh = 0.0
        if w_shift > 0:
            means += alpha_s * (xi - means)
            if var > 0:
                sh = min(1.0, abs(means - mean) / math.sqrt(var) / shift_scale)
        mean += alpha * d
        var = (1 - alpha) * (var + alpha * d * d)
        tod = 0.0
        if tod_mode != 0:
            if tod_mode == 1:
                ns = (t % DAY_NS + DAY_NS) % DAY_NS
                b = min(tod_bins - 1, int(ns / DAY_NS * tod_bins))
            else:
                b = 0
                if period > 0:
                    b = min(tod_bins - 1, int((since % period) * tod_bins / period))
            bmn = todmn[b]; bmx = todmx[b]
            if todcnt[b] >= tod_min_count and r0 > 0 and (tod_mode == 1 or period > 0):
                dd = max(xi - bmx, bmn - xi)
                if dd > 0:
                    den = bmx - bmn + tod_spread_floor * r0
                    tod = dd / den if den > 0 else 1e9
            if todcnt[b] == 0:
                todmn[b] = xi; todmx[b] = xi
            else:
                if xi < bmn: todmn[b] = xi
                if xi > bmx: todmx[b] = xi
            todcnt[b] += 1
        if range_decay > 0:
            mx -= range_decay * (mx - mean); mn += range_decay * (mean - mn)
        if xi < mn: mn = xi
        if xi > mx: mx = xi
        r = mx - mn
        if quant_mode == 0:
            q = 0 if r <= 0 else int((xi - mn) / r * levels)
        else:
            sd = math.sqrt(var)
            u = 0.5 if sd <= 0 else 0.5 + (xi - mean) / (2.0 * quant_k * sd)
            q = int(min(max(u, 0.0), 0.999999) * levels)
        if q >= levels: q = levels - 1
        hist = (hist << np.uint64(4)) | np.uint64(q)
        if tod_mode == 2:
            ring[n % RING] = q
            best = 0; bestr = per_ratio
            for c in range(nc):
                L = cands[c]
                if n >= L:
                    Dfull[c] += per_alpha * (abs(q - ring[(n - L) % RING]) - Dfull[c])
                    Dhalf[c] += per_alpha * (abs(q - ring[(n - L // 2) % RING]) - Dhalf[c])
                    if n >= 3 * L and Dhalf[c] > 0 and Dfull[c] < bestr * Dhalf[c]:
                        bestr = Dfull[c] / Dhalf[c]; best = L
            if best != period:
                period = best; since = 0
                for j in range(tod_bins): todcnt[j] = 0
            since += 1
        re = 0.0
        if w_re > 0:
            if n >= re_win:
                reh[rering[n % re_win]] -= 1.0
            rering[n % re_win] = q; reh[q] += 1.0
            cnt = min(n + 1, re_win)
            if n >= re_win:
                kl = 0.0
                for j in range(levels):
                    if reh[j] > 0:
                        ps = reh[j] / cnt
                        kl += ps * math.log(ps / (rel[j] + 1e-3))
                re = 1.0 - math.exp(-max(kl, 0.0) / re_scale)
            for j in range(levels):
                rel[j] += re_alpha * ((1.0 if j == q else 0.0) - rel[j])
        ctx = 0.0
        if n >= ctx_len:
            h = fnv_off; unseen = 0
            for k in range(ctx_len):
                h = (h ^ (((hist >> np.uint64(4 * k)) & f4) + one)) * fnv_p
                idx = int((h >> np.uint64(20)) & mask)
                wd = idx >> 6; bit = one << np.uint64(idx & 63)
                if seen[wd] & bit == 0:
                    unseen += 1; seen[wd] |= bit
            ctx = unseen / ctx_len
        n += 1
        todTerm = min(1.0, tod / tod_scale)
        mix = (w_ctx * ctx + w_z * ez + w_tod * todTerm + w_shift * sh + w_re * re) / norm
        if tod_mode == 1:
            trusted = (t - firstTs) >= tod_trust * DAY_NS
        else:
            trusted = period > 0 and since >= tod_trust * period
        if tod_mode != 0 and trusted and tod_alone * todTerm > mix:
            mix = tod_alone * todTerm
        if range_in_mix == 1 and rng > mix:
            mix = rng
        if hold_mode == 0:
            if age > hold: peak = 0.0
        else:
            peak *= pdec
        o = 0.0
        if mix > peak + beat_margin:
            o = mix; peak = mix; age = 0
        age += 1
        if n <= warmup:
            out[i] = 0.0
        else:
            out[i] = cap * o if range_in_mix == 1 else max(rng, cap * o)
    return out

def run(x, ts, p=None):
    p = p or DEFAULT
    P = np.array([float(p[k]) for k in KEYS])
    return _run(np.asarray(x, float), np.asarray(ts, np.int64), P, PER_CANDS)

def score_files(files, p=None):
    return {rel: run(f["x"], f["ts"], p) for rel, f in files.items()}

FINAL = params(levels=4, hold=200)

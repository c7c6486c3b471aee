#!/usr/bin/env python3
"""Leave-one-category-out CV of Dewpoint's `novelty` detector (Python port in detector.py).

Folds: artificial (artificialNoAnomaly + artificialWithAnomaly merged: the no-anomaly files have
no windows, so cannot be normalised alone), realAWSCloudwatch, realAdExchange, realKnownCause,
realTraffic. Each held-out fold is NAB-normalised over its own files. "trained" = threshold chosen
(NAB raw-score optimum) on the training folds, applied to the held-out fold; "oracle" = threshold
optimised on the held-out fold itself.

Steps: 1 validate the port (full 42 files), 2 baseline LOCO table, 3 nested coordinate search
(configuration chosen per outer fold by inner LOCO over the 4 training folds only), 4 the same
search over all 5 folds gives the final default; its full-42 score.
Usage: python3 cv.py [--quick]  (--quick: skip the search, just evaluate detector.FINAL)
"""
import sys, os, time, json; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np, nablib, detector
from multiprocessing import Pool

P = nablib.PROF_NAMES
SPACE = dict(
    range_tol=[0.0, 0.02, 0.05, 0.1, 0.2], levels=[4, 5, 6, 8, 10, 12, 16],
    ctx_len=[4, 6, 8, 10, 12, 14, 16], alpha=[0.003, 0.01, 0.03], zscale=[3.0, 6.0, 12.0],
    tod_mode=[0, 1, 2], tod_bins=[12, 24, 48], tod_scale=[1.0, 2.0, 4.0], tod_trust=[1.0, 3.0, 7.0, 14.0],
    tod_alone=[0.0, 0.6, 0.8, 1.0], tod_min_count=[1, 3, 6], tod_spread_floor=[0.0, 0.01, 0.05],
    w_ctx=[0.6, 0.9, 1.2], w_z=[0.0, 0.1, 0.2, 0.3], w_tod=[0.2, 0.35, 0.5, 0.6, 0.8, 1.0],
    hold=[50, 75, 100, 150, 200, 400], w_shift=[0.0, 0.1, 0.2, 0.4], alpha_s=[0.05, 0.1, 0.2],
    shift_scale=[2.0, 3.0, 4.0], range_in_mix=[0, 1], w_re=[0.0, 0.1, 0.2, 0.3],
    re_win=[16, 32, 64, 128], re_scale=[0.5, 1.0, 2.0], re_alpha=[0.0005, 0.002, 0.01],
    beat_margin=[0.0, 0.05, 0.1], hold_mode=[0, 1],
    range_base=[0.5, 0.7, 1.0], range_decay=[0.0, 1e-5, 1e-4], quant_mode=[0, 1], quant_k=[2.0, 3.0, 4.0])
EPS = float(os.environ.get("CV_EPS", "1.0"))  # a move must improve the criterion by more than this
if os.environ.get("CV_SPACE"):
    SPACE = {k: v for k, v in SPACE.items() if k in os.environ["CV_SPACE"].split(",")}

files = nablib.load()

def key(cfg):
    return tuple(sorted((k, v) for k, v in cfg.items() if v != detector.DEFAULT[k]))

def evaluate(cfg):
    S = detector.score_files(files, detector.params(**dict(cfg)))
    E = nablib.Eval(files, S); FI = nablib.fold_index(E, files); names = list(FI)
    inner = {k: nablib.inner_criterion(E, FI, [j for j in names if j != k]) for k in names}
    outer = nablib.loco_E(E, FI)
    allc = np.mean([np.mean([v[0] for v in outer[p].values()]) for p in P])
    full = {p: E.norm(p, np.arange(len(files)), E.choose(p, np.arange(len(files)))[1]) for p in P}
    noa = [i for i, r in enumerate(E.rels) if r.startswith("artificialNoAnomaly")]
    fpc = {}
    for p in P:  # raw FP cost on artificialNoAnomaly at the threshold trained without the artificial fold
        tr = np.concatenate([FI[j] for j in names if j != "artificial"])
        c, _ = E.choose(p, tr); fpc[p] = float(E.R[p][noa, c].sum())
    return dict(inner=inner, outer={p: {k: tuple(map(float, v)) for k, v in outer[p].items()} for p in P},
                all=allc, full=full, fpc=fpc)

CACHE = {}
def ensure(pool, cfgs):
    todo = list({key(c): c for c in cfgs if key(c) not in CACHE}.items())
    for (k, _), r in zip(todo, pool.map(evaluate, [dict(k) for k, _ in todo], chunksize=4)):
        CACHE[k] = r

def crit(cfg, fold):
    r = CACHE[key(cfg)]; return r["all"] if fold is None else r["inner"][fold]

def coord_search(pool, folds, passes=4):
    """Greedy coordinate ascent from the Swift defaults, one search per entry of `folds`
    (an outer fold name: criterion = inner LOCO over the other folds; None: LOCO over all folds)."""
    cur = {f: {} for f in folds}
    for it in range(passes):
        moved = False
        for k, vals in SPACE.items():
            cands = [dict(cur[f], **{k: v}) for f in folds for v in vals]
            ensure(pool, cands + [cur[f] for f in folds])
            for f in folds:
                base = crit(cur[f], f); best = (base + EPS, None)
                for v in vals:
                    c = crit(dict(cur[f], **{k: v}), f)
                    if c > best[0]: best = (c, v)
                if best[1] is not None and best[1] != dict(detector.DEFAULT, **cur[f])[k]:
                    cur[f] = dict(cur[f], **{k: best[1]}); moved = True
        print(f"  pass {it + 1}: evaluated {len(CACHE)} configurations", flush=True)
        if not moved: break
    return cur

def table(rows, title):
    print(title)
    print(f"  {'held-out fold':<20}" + "".join(f"{p:>22}" for p in P))
    names = list(rows[P[0]])
    for k in names:
        print(f"  {k:<20}" + "".join(f"{rows[p][k][0]:>13.1f} ({rows[p][k][1]:5.1f})" for p in P))
    print(f"  {'mean':<20}" + "".join(f"{np.mean([rows[p][k][0] for k in names]):>13.2f} ({np.mean([rows[p][k][1] for k in names]):5.2f})" for p in P))
    print("  (trained-threshold score; in brackets per-fold oracle-threshold score)")

def main():
    t0 = time.time()
    base = evaluate({})
    print("1. Port validation, full 42 files, threshold optimised over all files:")
    for p in P: print(f"  {p}: {base['full'][p]:.2f}")
    table(base["outer"], "2. Baseline (Swift defaults) leave-one-category-out:")
    print("  raw FP cost on artificialNoAnomaly (threshold trained without artificial):", {p: round(v, 3) for p, v in base["fpc"].items()})
    if "--quick" in sys.argv:
        fin = evaluate({k: v for k, v in detector.FINAL.items() if v != detector.DEFAULT[k]})
        table(fin["outer"], "FINAL config, plain LOCO (config chosen on all folds: optimistic):")
        print("  full 42:", {p: round(v, 2) for p, v in fin["full"].items()}); return
    with Pool(2) as pool:
        print("3. Nested selection (coordinate ascent per outer fold on inner LOCO criterion):")
        names = sorted(base["inner"])
        chosen = coord_search(pool, names)
        rows = {p: {} for p in P}
        for k in names:
            r = CACHE[key(chosen[k])]
            for p in P: rows[p][k] = r["outer"][p][k]
            print(f"  fold {k}: inner {r['inner'][k]:.2f}, config {dict(key(chosen[k]))}")
        table(rows, "  Nested-CV held-out table:")
        print("4. Final default: same search, criterion = LOCO mean over all 5 folds")
        fin = coord_search(pool, [None])[None]
        r = CACHE[key(fin)]
        print("  FINAL =", json.dumps(dict(key(fin))))
        table(r["outer"], "  its plain LOCO table (selection saw all folds: optimistic):")
        print("  full 42-file scores:", {p: round(v, 2) for p, v in r["full"].items()})
        print("  raw FP cost on artificialNoAnomaly:", {p: round(v, 3) for p, v in r["fpc"].items()})
    print(f"done in {time.time() - t0:.0f} s")

if __name__ == "__main__":
    main()

"""Data loading, NAB scoring (reusing ../shared/tools/nab_score.py beside the checkout) and CV helpers."""
import os, sys, json, csv, importlib.util
import numpy as np

_SHARED = os.environ.get("DEWPOINT_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared"))
NAB = os.path.join(_SHARED, "data/NAB")
_spec = importlib.util.spec_from_file_location("nab_score", os.path.join(_SHARED, "tools/nab_score.py"))
nab_score = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(nab_score)
PROFILES = nab_score.PROFILES  # name -> (tp, fn, fp)
PROF_NAMES = list(PROFILES)

def load(nab=NAB):
    labels = json.load(open(os.path.join(nab, "labels/combined_windows.json")))
    files = {}
    for rel in sorted(labels):
        rows = list(csv.DictReader(open(os.path.join(nab, "data", rel))))
        times = [nab_score.ts(r["timestamp"]) for r in rows]
        x = np.array([float(r["value"]) for r in rows])
        tsns = np.array([np.datetime64(t, "ns").astype(np.int64) for t in times], dtype=np.int64)
        prof = {}
        for p, (tp_w, fn_w, fp_w) in PROFILES.items():
            # weights from the reference scorer (scores irrelevant to weights)
            rr = nab_score.rows_for_file(rel, times, [0.0] * len(times), labels[rel], tp_w, fp_w)
            w = np.array([r[1] for r in rr]); wid = [r[2] for r in rr]
            ids = sorted(set(i for i in wid if i is not None))
            wi = np.array([-1 if i is None else ids.index(i) for i in wid])
            prof[p] = (w, wi, len(ids))
        files[rel] = dict(x=x, ts=tsns, times=times, windows=labels[rel], prof=prof, n=len(x),
                          start=len(x) - len(prof[PROF_NAMES[0]][0]), cat=rel.split("/")[0])
    return files

class Corpus:
    """Scored rows of a set of files for one profile: fast threshold sweeps."""
    def __init__(self, files, rels, scores, prof):
        tp_w, fn_w, fp_w = PROFILES[prof]
        self.fn = fn_w
        fs, fw, self.wins = [], [], []
        nwin = 0
        for rel in rels:
            f = files[rel]; w, wi, k = f["prof"][prof]
            s = np.asarray(scores[rel])[f["start"]:]
            m = wi < 0
            fs.append(s[m]); fw.append(w[m])
            for j in range(k):
                mm = wi == j
                self.wins.append((np.maximum.accumulate(s[mm]), w[mm]))
            nwin += k
        fs = np.concatenate(fs); fw = np.concatenate(fw)
        o = np.argsort(-fs, kind="stable")
        self.fs = fs[o]; self.cfw = np.concatenate([[0.0], np.cumsum(fw[o])])
        self.nwin = nwin
        self.null = -fn_w * nwin
        self.perfect = tp_w * nwin
        allscores = np.concatenate([fs] + [w[0] for w in self.wins]) if self.wins else fs
        self.cands = np.concatenate([[np.inf], np.unique(allscores)[::-1]])

    def raw(self, t):
        t = np.atleast_1d(np.asarray(t, float))
        cnt = np.searchsorted(-self.fs, -t, side="right")  # number of fp scores >= t
        r = self.cfw[cnt].copy()
        for cm, w in self.wins:
            j = np.searchsorted(cm, t, side="left")
            r += np.where(j < len(cm), w[np.minimum(j, len(cm) - 1)], -self.fn)
        return r

    def best(self):
        r = self.raw(self.cands)
        i = int(np.argmax(r))  # first max = highest threshold, like the reference
        return r[i], self.cands[i]

    def norm(self, raw):
        return 100 * (raw - self.null) / (self.perfect - self.null) if self.nwin else float("nan")

def fold_of(rel):
    c = rel.split("/")[0]
    return "artificial" if c.startswith("artificial") else c

def folds(files):
    fs = {}
    for rel in files: fs.setdefault(fold_of(rel), []).append(rel)
    return fs

def corpus_score(files, rels, scores, prof):
    c = Corpus(files, rels, scores, prof); raw, thr = c.best(); return c.norm(raw), thr

def loco(files, scores, fold_names=None, inner=False):
    """Leave-one-fold-out. Returns {prof: {fold: (score_trained_thr, score_oracle_thr, thr)}}.
    Threshold chosen on the union of training folds (NAB-style raw-score optimum)."""
    F = folds(files)
    names = fold_names or sorted(F)
    out = {}
    for p in PROF_NAMES:
        out[p] = {}
        for k in names:
            train = [r for kk in names if kk != k for r in F[kk]]
            ctr = Corpus(files, train, scores, p); _, thr = ctr.best()
            cte = Corpus(files, F[k], scores, p)
            s_tr = cte.norm(cte.raw(thr)[0])
            s_or = cte.norm(cte.best()[0])
            out[p][k] = (s_tr, s_or, thr)
    return out

def fp_cost(files, rels, scores, prof, thr):
    """Raw FP cost (sum of FP weights, negative) of files with no windows at threshold thr."""
    c = Corpus(files, rels, scores, prof); return c.raw(thr)[0]

# ---------- fast matrix form: raw score of every file at every candidate threshold ----------
class Eval:
    """For one set of detector outputs: per profile, R[f, c] = raw NAB score of file f at threshold
    cands[c] (descending, cands[0] = inf), and present[f, c] = cands[c] occurs in file f (post-probation)."""
    def __init__(self, files, S):
        self.rels = list(files)
        allv = np.unique(np.concatenate([np.asarray(S[r])[files[r]["start"]:] for r in self.rels]))[::-1]
        self.cands = np.concatenate([[np.inf], allv])
        self.R = {}; self.nwin = np.array([files[r]["prof"][PROF_NAMES[0]][2] for r in self.rels])
        self.present = np.zeros((len(self.rels), len(self.cands)), bool)
        for i, r in enumerate(self.rels):
            s = np.asarray(S[r])[files[r]["start"]:]
            u = np.unique(s)
            self.present[i, len(self.cands) - 1 - np.searchsorted(allv[::-1], u)] = True
        for p in PROF_NAMES:
            R = np.zeros((len(self.rels), len(self.cands)))
            for i, r in enumerate(self.rels):
                R[i] = Corpus(files, [r], S, p).raw(self.cands)
            self.R[p] = R

    def idx(self, rels):
        return np.array([self.rels.index(r) for r in rels])

    def choose(self, p, ii):
        """NAB threshold over files ii: first (highest) candidate present in them with max raw."""
        ok = self.present[ii].any(0); ok[0] = True
        r = self.R[p][ii].sum(0); r = np.where(ok, r, -np.inf)
        c = int(np.argmax(r)); return c, r[c]

    def norm(self, p, ii, raw):
        tp, fn, fp = PROFILES[p]; nw = self.nwin[ii].sum()
        null = -fn * nw; perf = tp * nw
        return 100 * (raw - null) / (perf - null)

    def score_at(self, p, ii, c):
        return self.norm(p, ii, self.R[p][ii, c].sum())

def fold_index(E, files):
    F = folds(files); return {k: E.idx(v) for k, v in sorted(F.items())}

def loco_E(E, FI, names=None, profiles=PROF_NAMES):
    """{p: {k: (trained-threshold score, oracle score, threshold)}}"""
    names = names or list(FI)
    out = {}
    for p in profiles:
        out[p] = {}
        for k in names:
            tr = np.concatenate([FI[j] for j in names if j != k])
            c, _ = E.choose(p, tr)
            cs, rs = E.choose(p, FI[k])
            out[p][k] = (E.score_at(p, FI[k], c), E.norm(p, FI[k], rs), E.cands[c])
    return out

def inner_criterion(E, FI, train_names):
    """Mean over profiles and over inner held-out folds (LOCO within train_names), trained thresholds."""
    res = loco_E(E, FI, train_names)
    return np.mean([np.mean([v[0] for v in res[p].values()]) for p in PROF_NAMES])

"""Fixation-map (saliency) metrics after the MIT benchmark (Bylinskii et al., TPAMI 2018), §2.6.

Maps are ``(H, W)`` float arrays; fixations are ``(N, 2)`` (x, y) pixel arrays (``int()``-ed to
index the map, clamped). ε = 2.2204e-16.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.ndimage import gaussian_filter

from scanpath.metrics.registry import metric
from scanpath.types import Scanpath

EPS = 2.2204e-16


def _fix_idx(fix: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    fix = np.asarray(fix, dtype=np.float64).reshape(-1, 2)
    h, w = shape
    xi = np.clip(np.trunc(fix[:, 0]).astype(np.int64), 0, w - 1)
    yi = np.clip(np.trunc(fix[:, 1]).astype(np.int64), 0, h - 1)
    return yi, xi


def fixation_counts(fix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Fixation counts at (int x, int y) on an (H, W) grid (repeats counted)."""
    out = np.zeros(shape, dtype=np.float64)
    yi, xi = _fix_idx(fix, shape)
    np.add.at(out, (yi, xi), 1.0)
    return out


def density_map(fix: np.ndarray, shape: tuple[int, int], sigma: float = 16.0) -> np.ndarray:
    """Counts blurred with a Gaussian σ (radius int(4σ + 0.5), reflect border), normalised to sum 1."""
    m = gaussian_filter(fixation_counts(fix, shape), sigma=sigma, mode="reflect", truncate=4.0)
    s = m.sum()
    return m / s if s > 0 else m


def nss(sal: np.ndarray, fix: np.ndarray, ddof: int = 1) -> float:
    """Mean of the standardised map at the fixations (σ = 0 replaced by 1)."""
    sal = np.asarray(sal, dtype=np.float64)
    sd = sal.std(ddof=ddof)
    z = (sal - sal.mean()) / (sd if sd > 0 else 1.0)
    yi, xi = _fix_idx(fix, sal.shape)
    return float(z[yi, xi].mean()) if len(yi) else float("nan")


def auc_judd(sal: np.ndarray, fix: np.ndarray, jitter_seed: int | None = 0, *, jitter: bool = True) -> float:
    """AUC-Judd: thresholds at the saliency of each fixation; tp = i/Nf, fp = (#{P ≥ thr} − i)/(Npix − Nf).

    ``jitter`` (default, as the MIT benchmark code and pysaliency): the map is min-max scaled to
    [0, 1] and U(0, 1)·10⁻⁷ noise (seeded, ``jitter_seed``) added, so tied pixels — the exact zeros of
    a sparse fixation-density map — are ranked at random instead of all counted above every tied
    fixation (which drives the AUC of sparse maps towards 0). ``jitter=False`` (or
    ``jitter_seed=None``) scores the map as it is (values of scanpath ≤ 0.1).
    """
    sal = np.asarray(sal, dtype=np.float64)
    if jitter and jitter_seed is not None:
        rng_ = sal.max() - sal.min()
        sal = (sal - sal.min()) / rng_ if rng_ > 0 else np.zeros_like(sal)
        sal = sal + np.random.default_rng(jitter_seed).random(sal.shape) / 1e7
    yi, xi = _fix_idx(fix, sal.shape)
    nf = len(yi)
    if nf == 0:
        return float("nan")
    flat = np.sort(sal.ravel())
    npix = flat.size
    thr = np.sort(sal[yi, xi])[::-1]
    tp = np.zeros(nf + 2)
    fp = np.zeros(nf + 2)
    tp[-1] = fp[-1] = 1.0
    above = npix - np.searchsorted(flat, thr, side="left")  # #{P >= thr}
    i = np.arange(1, nf + 1)
    tp[1:-1] = i / nf
    fp[1:-1] = (above - i) / (npix - nf)
    return float(np.trapezoid(tp, fp) if hasattr(np, "trapezoid") else np.trapz(tp, fp))


def _auc_splits(sal: np.ndarray, pos: np.ndarray, neg_fn, n_splits: int, step: float) -> float:
    sal = np.asarray(sal, dtype=np.float64)
    rng_ = sal.max() - sal.min()
    s = (sal - sal.min()) / rng_ if rng_ > 0 else np.zeros_like(sal)
    yi, xi = _fix_idx(pos, s.shape)
    sp = s[yi, xi]
    if len(sp) == 0:
        return float("nan")
    aucs = []
    for k in range(n_splits):
        sn = neg_fn(s, k)
        top = max(sp.max(), sn.max() if len(sn) else 0.0)
        thresholds = np.arange(0.0, top + 1e-10, step)[::-1]
        tp = np.r_[0.0, [(sp >= t).mean() for t in thresholds], 1.0]
        fp = np.r_[0.0, [(sn >= t).mean() if len(sn) else 0.0 for t in thresholds], 1.0]
        aucs.append(np.trapezoid(tp, fp) if hasattr(np, "trapezoid") else np.trapz(tp, fp))
    return float(np.mean(aucs))


def auc_borji(sal: np.ndarray, fix: np.ndarray, n_splits: int = 100, step: float = 0.1, seed: int = 0) -> float:
    """AUC-Borji: negatives drawn uniformly over the image (Nf per split, seeded)."""
    rng = np.random.default_rng(seed)
    nf = len(np.asarray(fix).reshape(-1, 2))

    def neg(s, _k):
        idx = rng.integers(0, s.size, nf)
        return s.ravel()[idx]

    return _auc_splits(sal, fix, neg, n_splits, step)


def auc_shuffled(sal: np.ndarray, fix: np.ndarray, other_fix: np.ndarray, n_splits: int = 100,
                 step: float = 0.1, seed: int = 0) -> float:
    """sAUC: negatives are fixations of other stimuli (Nf sampled per split, seeded)."""
    rng = np.random.default_rng(seed)
    other = np.asarray(other_fix, dtype=np.float64).reshape(-1, 2)
    nf = len(np.asarray(fix).reshape(-1, 2))

    def neg(s, _k):
        if len(other) == 0:
            return np.zeros(0)
        pick = other[rng.integers(0, len(other), min(nf, len(other)))]
        yi, xi = _fix_idx(pick, s.shape)
        return s[yi, xi]

    return _auc_splits(sal, fix, neg, n_splits, step)


def cc(p: np.ndarray, q: np.ndarray) -> float:
    """Pearson correlation of two maps."""
    a = np.asarray(p, dtype=np.float64).ravel()
    b = np.asarray(q, dtype=np.float64).ravel()
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def sim(p: np.ndarray, q: np.ndarray) -> float:
    """Histogram intersection Σ min(P̂, Q̂) after min-max then sum normalisation."""
    def norm(m):
        m = np.asarray(m, dtype=np.float64)
        r = m.max() - m.min()
        m = (m - m.min()) / r if r > 0 else np.zeros_like(m)
        s = m.sum()
        return m / s if s > 0 else m
    return float(np.minimum(norm(p), norm(q)).sum())


def kld(p: np.ndarray, q: np.ndarray) -> float:
    """KL divergence Σ Q log(ε + Q/(P + ε)), Q = human density, P = prediction (both sum-normalised)."""
    P = np.asarray(p, dtype=np.float64)
    Q = np.asarray(q, dtype=np.float64)
    P = P / P.sum() if P.sum() > 0 else P
    Q = Q / Q.sum() if Q.sum() > 0 else Q
    return float((Q * np.log(EPS + Q / (P + EPS))).sum())


def info_gain(p: np.ndarray, baseline: np.ndarray, fix: np.ndarray) -> float:
    """IG = (1/N) Σ [log₂(ε + P(x_i)) − log₂(ε + B(x_i))] (maps normalised to sum 1)."""
    P = np.asarray(p, dtype=np.float64)
    B = np.asarray(baseline, dtype=np.float64)
    P = P / P.sum()
    B = B / B.sum()
    yi, xi = _fix_idx(fix, P.shape)
    if len(yi) == 0:
        return float("nan")
    return float(np.mean(np.log2(EPS + P[yi, xi]) - np.log2(EPS + B[yi, xi])))


# -------------------------------------------------------- registry entries (@metric): fixation maps
SAL_DIMS = ("cc", "kld", "sim", "nss", "auc_judd", "auc_borji", "sauc", "ig")


def _saliency_human(humans, key, params):
    """Leave one subject out: the other subjects' density predicts the held-out subject."""
    from scanpath.types import group_by_stimulus

    rows, keys = [], []
    gh = group_by_stimulus(humans, key)
    for k, sps in sorted(gh.items()):
        neg = _others(gh, k, params)
        for i, s in enumerate(sps):
            others = [o for j, o in enumerate(sps) if j != i and (s.subject is None or o.subject != s.subject)]
            if others and len(s):
                keys.append(k)
                rows.append(_sal_scores(_xy_all(others, params), _xy_all([s], params), _map_shape(s, params), params,
                                        neg))
    arr = np.array(rows, dtype=np.float64).reshape(-1, len(SAL_DIMS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        vals = {d: float(np.nanmean(arr[:, i])) if len(arr) else float("nan") for i, d in enumerate(SAL_DIMS)}
    return {"value": vals["cc"], "values": vals, "n": len(arr), "n_nan": int(np.isnan(arr[:, 0]).sum()), "loso": True,
            "unit_keys": keys, "unit_values": arr}


def _map_shape(s: Scanpath, params) -> tuple[int, int]:
    from scanpath.metrics.labelers import image_size_of

    w, h = image_size_of(s, params.get("frame"))
    return int(h), int(w)


def _sal_scores(pred_xy: np.ndarray, human_xy: np.ndarray, shape, params, other_xy: np.ndarray) -> list[float]:
    P = density_map(pred_xy, shape, params["sigma"])
    Q = density_map(human_xy, shape, params["sigma"])
    sauc = (auc_shuffled(P, human_xy, other_xy, params["n_splits"], 0.1, params["seed"])
            if len(other_xy) else float("nan"))
    if params.get("ig_baseline", "others") == "others" and len(other_xy):
        B = density_map(other_xy, shape, params["sigma"])  # centre prior: the other stimuli's fixations
    else:
        B = np.ones(shape)
    ig = info_gain(P, B, human_xy) if P.sum() > 0 and B.sum() > 0 else float("nan")
    return [cc(P, Q), kld(P, Q), sim(P, Q), nss(P, human_xy, params["ddof"]),
            auc_judd(P, human_xy, params["seed"] if params.get("jitter_seed") is None else params["jitter_seed"],
                     jitter=bool(params.get("jitter", True))),
            auc_borji(P, human_xy, params["n_splits"], 0.1, params["seed"]), sauc, ig]


def _others(gh: dict, key: str, params) -> np.ndarray:
    """Human fixations of the other keys (sAUC negatives)."""
    arrs = [_xy_all(v, params) for k, v in gh.items() if k != key]
    return np.concatenate(arrs, axis=0) if arrs else np.zeros((0, 2))


def _xy_all(sps, params):
    if params.get("frame") is not None:
        sps = [s.rescaled(tuple(params["frame"])) for s in sps]
    arrs = [s.xy for s in sps]
    return np.concatenate(arrs, axis=0) if arrs else np.zeros((0, 2))


@metric(
    "saliency", "set",
    {"frame": None, "sigma": 16.0, "ddof": 1, "jitter": True, "jitter_seed": None, "n_splits": 100, "seed": 0,
     "ig_baseline": "others"},
    subdims=SAL_DIMS,
    main="cc",
    human_fn=_saliency_human,
    dim_higher_is_better={d: d != "kld" for d in SAL_DIMS},
    description="fixation-density map metrics per key (CC, KLD, SIM, NSS, AUC-Judd (jittered, seeded), AUC-Borji, "
                "sAUC, IG in bits vs the other stimuli's human fixation density or uniform: ig_baseline)",
)
def _saliency(predictions, humans, key, params):
    from scanpath.types import group_by_stimulus

    gp, gh = group_by_stimulus(predictions, key), group_by_stimulus(humans, key)
    rows, keys = [], []
    for k in sorted(gp):
        if k in gh:
            keys.append(k)
            rows.append(_sal_scores(_xy_all(gp[k], params), _xy_all(gh[k], params), _map_shape(gh[k][0], params), params,
                                    _others(gh, k, params)))
    arr = np.array(rows, dtype=np.float64).reshape(-1, len(SAL_DIMS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        vals = {d: float(np.nanmean(arr[:, i])) if len(arr) else float("nan") for i, d in enumerate(SAL_DIMS)}
    return {"value": vals["cc"], "values": vals, "n": len(arr), "n_nan": int(np.isnan(arr[:, 0]).sum()),
            "unit_keys": keys, "unit_values": arr}

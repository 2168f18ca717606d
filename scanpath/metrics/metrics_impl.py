"""Registry entries: wires the functional metrics into the evaluation pipeline.

Pair scorers have the signature ``fn(left, right, li, ri, params) -> [P] | [P, k]``: label /
pre-process every scanpath once, then score all pairs in one batched call.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from scanpath.metrics import behavioural, geometric, sequence
from scanpath.metrics.labelers import make_labeler
from scanpath.metrics.registry import MetricSpec, register
from scanpath.types import Scanpath

LABEL_DEFAULTS = {"labeler": "grid", "grid": [5, 5], "sed_integer_cells_compat": False, "cluster_file": None,
                  "segmentation_dir": None}


def _labels(scanpaths: Sequence[Scanpath], params: dict[str, Any]) -> list[np.ndarray]:
    lab = make_labeler(params)
    if hasattr(lab, "label_many"):
        return lab.label_many(list(scanpaths))
    return [lab(s) for s in scanpaths]


def _timed(labels: list[np.ndarray], scanpaths: Sequence[Scanpath], bin_ms: float, mode: str,
           default_ms: float | None = None) -> list[np.ndarray]:
    out = []
    for lab, s in zip(labels, scanpaths):
        dur = s.duration
        if dur is None:
            if default_ms is None:
                from scanpath.errors import ScanpathDataError

                raise ScanpathDataError("duration-binned metric needs fixation durations (or default_duration_ms)",
                                        record=f"{s.stimulus}/subject={s.subject}", field="duration")
            dur = np.full(len(s), float(default_ms))
        out.append(sequence.repeat_by_duration(lab, dur, bin_ms, mode))
    return out


# ----------------------------------------------------------------------------- string metrics
def _ss(left, right, li, ri, params):
    a, b = _labels(left, params), _labels(right, params)
    return sequence.sequence_score(a, b, li, ri)


def _ss_time(left, right, li, ri, params):
    a = _timed(_labels(left, params), left, params["bin_ms"], "floor", params.get("default_duration_ms"))
    b = _timed(_labels(right, params), right, params["bin_ms"], "floor", params.get("default_duration_ms"))
    return sequence.sequence_score(a, b, li, ri)


def _ed(left, right, li, ri, params):
    a, b = _labels(left, params), _labels(right, params)
    return sequence.edit_distance(a, b, li, ri)


def _scanmatch(left, right, li, ri, params):
    p = dict(params)
    p["labeler"] = "grid"
    xb, yb = p["grid"]
    a, b = _labels(left, p), _labels(right, p)
    if params["temp_bin"]:
        a = _timed(a, left, params["temp_bin"], "round", params.get("default_duration_ms"))
        b = _timed(b, right, params["temp_bin"], "round", params.get("default_duration_ms"))
    sub = sequence.scanmatch_substitution(int(xb), int(yb), params["threshold"])
    return sequence.scanmatch_score(a, b, sub, params["threshold"], params["gap"], li, ri)


register(MetricSpec("ss", "pair", _ss, dict(LABEL_DEFAULTS),
                    description="Sequence Score = LCS/max length on label strings (grid 5×5 by default)"))
register(MetricSpec("ss_time", "pair", _ss_time, {**LABEL_DEFAULTS, "bin_ms": 50.0, "default_duration_ms": None},
                    description="SS on strings with each label repeated ⌊T/50 ms⌋ times"))
register(MetricSpec("semss", "pair", _ss, {**LABEL_DEFAULTS, "labeler": "segmentation", "segmentation_dir": None,
                                          "frame": [512, 320]},
                    description="SS on segmentation-map labels"))
register(MetricSpec("fed", "pair", _ed, {**LABEL_DEFAULTS, "labeler": "cluster", "cluster_file": None},
                    higher_is_better=False, description="Levenshtein distance on cluster strings"))
register(MetricSpec("semfed", "pair", _ed, {**LABEL_DEFAULTS, "labeler": "segmentation", "segmentation_dir": None,
                                           "frame": [512, 320]},
                    higher_is_better=False, description="Levenshtein distance on segmentation labels"))
def _sed_pairs(left, right, li, ri, params):
    """(distance, similarity) per pair: Levenshtein, or unrestricted Damerau–Levenshtein with
    ``transpositions``; similarity = 1 − d/max(|a|, |b|)."""
    a, b = _labels(left, params), _labels(right, params)
    fn = sequence.damerau_levenshtein if params["transpositions"] else sequence.edit_distance
    d = fn(a, b, li, ri)
    return np.column_stack([d, sequence.edit_similarity(d, a, b, li, ri)])


def _sed_sim(left, right, li, ri, params):
    return _sed_pairs(left, right, li, ri, params)[:, 1]


def _sbtde(left, right, li, ri, params):
    a, b = _labels(left, params), _labels(right, params)
    return sequence.window_edit_distance(a, b, int(params["k"]), bool(params["transpositions"]), li, ri)


# SED params: grid_cells "fraction" = floor(x·n/W) (specs/metrics.md), "integer" = FixaTons
# min(floor(x/floor(W/n)), n−1) (specs/nevaclip.md); upstream_grid (= sed_integer_cells_compat) drops
# the clamp (Q13); transpositions = unrestricted Damerau–Levenshtein (nltk 3.9 transpositions=True)
SED_DEFAULTS = {**LABEL_DEFAULTS, "grid_cells": "fraction", "upstream_grid": False, "transpositions": False}
register(MetricSpec("sed", "pair", _sed_pairs, dict(SED_DEFAULTS), higher_is_better=False,
                    subdims=("distance", "similarity"), main="distance",
                    dim_higher_is_better={"distance": False, "similarity": True},
                    description="string-edit distance on grid labels (5×5; pair_reduce mean or min); values "
                                "also give the similarity 1 − d/max(|a|,|b|), each column reduced on its own"))
register(MetricSpec("sed_similarity", "pair", _sed_sim, dict(SED_DEFAULTS),
                    description="SED similarity 1 − d/max(|a|,|b|) alone (for best-match reductions, pair_reduce max)"))
register(MetricSpec("sbtde", "pair", _sbtde,
                    {**LABEL_DEFAULTS, "grid": [4, 4], "grid_cells": "integer", "upstream_grid": False,
                     "transpositions": True, "k": 3},
                    higher_is_better=False,
                    description="string-based time-delay embedding: mean over model k-windows of min SED to any "
                                "human k-window, / k (FixaTons cells, Damerau–Levenshtein)"))
register(MetricSpec("scanmatch", "pair", _scanmatch,
                    {"grid": [8, 6], "frame": [1024, 768], "threshold": 3.5, "gap": 0.0, "temp_bin": 0.0,
                     "default_duration_ms": None},
                    description="ScanMatch (Cristino et al. 2010), NW on grid bins"))


# ----------------------------------------------------------------------------- geometric
def _xy(scanpaths):
    return [s.xy for s in scanpaths]


def _dtw(left, right, li, ri, params):
    a, b = _xy(left), _xy(right)
    return geometric.dtw(a, b, distance=params["distance"], li=li, ri=ri)


def _frechet(left, right, li, ri, params):
    a, b = _xy(left), _xy(right)
    return geometric.frechet(a, b, distance=params["distance"], li=li, ri=ri)


def _stde(left, right, li, ri, params):
    out = np.empty(len(li))
    for p, (i, j) in enumerate(zip(li, ri)):
        size = params.get("frame") or left[i].image_size
        if size is None:
            from scanpath.metrics.labelers import image_size_of

            size = image_size_of(left[i])
        out[p] = geometric.stde(left[i].xy, right[j].xy, tuple(size))
    return out


def _tde(left, right, li, ri, params):
    return np.array([geometric.tde(left[i].xy, right[j].xy, params["k"], params["distance"]) for i, j in zip(li, ri)])


REC_DIMS = ("rec", "det", "lam", "corm")


def _rec(left, right, li, ri, params):
    if params["radius"] is None:
        raise ValueError("recurrence metrics need an explicit radius (e.g. 12 px at 128×256, 16.875° for 360°)")
    out = np.empty((len(li), 4))
    for p, (i, j) in enumerate(zip(li, ri)):
        r = geometric.recurrence(left[i].xy, right[j].xy, params["radius"], params["min_line"],
                                 params["distance"], params["variant"])
        out[p] = [r[k] for k in REC_DIMS]
    return out


register(MetricSpec("dtw", "pair", _dtw, {"distance": "euclidean"}, higher_is_better=False,
                    description="exact dynamic time warping (Euclidean, pixels of the metric frame)"))
register(MetricSpec("frechet", "pair", _frechet, {"distance": "euclidean"}, higher_is_better=False,
                    description="discrete Fréchet distance"))
register(MetricSpec("stde", "pair", _stde, {}, description="scaled time-delay embedding similarity (FixaTons)"))
register(MetricSpec("tde", "pair", _tde, {"k": 3, "distance": "euclidean"}, higher_is_better=False,
                    description="time-delay embedding distance, one k, unscaled"))
register(MetricSpec("recurrence", "pair", _rec,
                    {"radius": None, "min_line": 2, "distance": "euclidean", "variant": "anderson"},
                    subdims=REC_DIMS, main="rec", description="cross-recurrence REC/DET/LAM/CORM"))


# ----------------------------------------------------------------------------- behavioural (OAT)
def _object_seq(s: Scanpath) -> np.ndarray:
    if "object" not in s.fixation_extra:
        from scanpath.errors import ScanpathDataError

        raise ScanpathDataError("OAT statistics need fixation_extra['object']",
                                record=f"{s.stimulus}/subject={s.subject}", field="object")
    return np.asarray(s.fixation_extra["object"]).astype(np.int64)


def _target_of(s: Scanpath, params) -> int:
    for src in (s.extra.get("target_index"), s.extra.get("target"), s.task):
        if src is not None:
            try:
                return int(src)
            except (TypeError, ValueError):
                continue
    from scanpath.errors import ScanpathDataError

    raise ScanpathDataError("OAT statistics need the target object index (extra['target_index'] or task)",
                            record=f"{s.stimulus}/subject={s.subject}", field="target_index")


def _group_stats(scanpaths, key, fill_empty: bool = False):
    """Mean statistics per key, then over keys; ``fill_empty`` = upstream's replacement of an empty
    rollout by the one before it (:func:`behavioural.fill_empty_rollouts`, delta_oat_compat)."""
    from scanpath.types import scanpath_key

    seqs: dict[str, list] = {}
    for s in scanpaths:
        seqs.setdefault(scanpath_key(s, key), []).append((_object_seq(s), _target_of(s, None)))
    trials = []
    for rows in seqs.values():
        objs = [o for o, _ in rows]
        if fill_empty:
            objs = behavioural.fill_empty_rollouts(objs)
        trials.append([behavioural.oat_stats(o, t) for o, (_, t) in zip(objs, rows)])
    return behavioural.mean_stats(trials), len(trials)


def _oat_delta(predictions, humans, key, params):
    m, n = _group_stats(predictions, key, fill_empty=bool(params["delta_oat_compat"]))
    h, _ = _group_stats(humans, key)
    with warnings.catch_warnings():
        if params["delta_oat_compat"]:
            warnings.simplefilter("ignore")
        delta, _terms = behavioural.oat_delta(m, h, compat=params["delta_oat_compat"])
    values = {f"{k}": v for k, v in m.items()}
    values.update({f"human_{k}": v for k, v in h.items()})
    return {"value": delta, "values": values, "n": n, "n_nan": 0}


def _oat_delta_human(humans, key, params):
    h, n = _group_stats(humans, key)
    delta, _ = behavioural.oat_delta(h, h, compat=True)
    return {"value": delta, "values": dict(h), "n": n, "n_nan": 0}


register(MetricSpec("oat_delta", "set", _oat_delta, {"delta_oat_compat": False}, higher_is_better=False,
                    dim_higher_is_better={},  # the values are raw behavioural statistics
                    human_fn=_oat_delta_human, description="OAT behavioural Δ (found, length, search, refix, revisit)"))


# ----------------------------------------------------------------------------- MultiMatch
def _mm_fix(s: Scanpath, params) -> tuple[np.ndarray, bool]:
    """(n, 3) [x, y, duration s] for MultiMatch and whether the durations are real."""
    policy = params["duration_policy"]
    if policy == "ones":
        return np.column_stack([s.x, s.y, np.ones(len(s))]), True
    if s.duration is not None and policy in ("real", "default"):
        return np.column_stack([s.x, s.y, s.duration / 1000.0]), True
    if policy == "default" and params.get("default_duration_ms") is not None:
        return np.column_stack([s.x, s.y, np.full(len(s), params["default_duration_ms"] / 1000.0)]), True
    if policy not in ("real", "default"):
        raise ValueError(f"unknown duration_policy {policy!r}; use 'real', 'ones' or 'default'")
    return np.column_stack([s.x, s.y, np.ones(len(s))]), False


def _multimatch(left, right, li, ri, params):
    from scanpath.metrics.multimatch_impl import multimatch_batch

    fl = [_mm_fix(s, params) for s in left]
    fr = fl if right is left else [_mm_fix(s, params) for s in right]
    if params["screen_size"] is not None:
        ss = np.asarray(params["screen_size"], dtype=np.float64)
    else:
        from scanpath.metrics.labelers import image_size_of

        sizes = np.array([image_size_of(s) for s in left], dtype=np.float64)
        ss = sizes[li]
    out = multimatch_batch([f for f, _ in fl], [f for f, _ in fr], li, ri, screen_size=ss,
                           grouping=params["grouping"], tdir=params["tdir"], tdur=params["tdur"],
                           tamp=params["tamp"], short_policy=params["short_policy"], tie_break=params["tie_break"],
                           legacy_float32=params["legacy_float32"])
    no_dur = np.array([not fl[i][1] or not fr[j][1] for i, j in zip(li, ri)], dtype=bool)
    out[no_dur, 4] = np.nan
    return out


MM_DIMS = ("vector", "direction", "length", "position", "duration")
MM_DEFAULTS = {"screen_size": None, "grouping": False, "tdir": 0.0, "tdur": 0.0, "tamp": 0.0, "short_policy": "nan",
               "tie_break": "reference", "duration_policy": "real", "default_duration_ms": None,
               "legacy_float32": False}
register(MetricSpec(
    "multimatch", "pair", _multimatch, dict(MM_DEFAULTS),
    subdims=MM_DIMS, main=lambda d: float(np.mean([d["vector"], d["direction"], d["length"], d["position"]])),
    description="MultiMatch (multimatch-gaze 0.1.3 semantics); value = MM = mean of vector, direction, "
                "length, position"))


def _mm_mean(left, right, li, ri, params):
    return np.mean(_multimatch(left, right, li, ri, params)[:, :4], axis=1)


register(MetricSpec(
    "multimatch_mm", "pair", _mm_mean, dict(MM_DEFAULTS),
    description="per-pair MM = mean of MultiMatch vector, direction, length, position (so pair_reduce max "
                "picks the best human by MM; used by spp_multimatch)"))


# ----------------------------------------------------------------------------- DSS
def _distinct_pair_mean(labels: list[np.ndarray]) -> float:
    n = len(labels)
    if n < 2:
        return float("nan")
    ii, jj = np.triu_indices(n, k=1)
    v = sequence.sequence_score([labels[i] for i in ii], [labels[j] for j in jj])
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _dss(predictions, humans, key, params):
    from scanpath.types import group_by_stimulus

    p = dict(params)
    lab = make_labeler(p)

    def labels(sps):
        ls = [lab(s) for s in sps]
        if params["timed"]:
            ls = _timed(ls, sps, params["bin_ms"], "floor", params.get("default_duration_ms"))
        return ls

    gp = group_by_stimulus(predictions, key)
    gh = group_by_stimulus(humans, key)
    per_key, n_nan = [], 0
    for k in sorted(gp):
        if k not in gh:
            continue
        lp, lh = labels(gp[k]), labels(gh[k])
        hm_pairs = [(a, b) for a in lp for b in lh]
        hm = sequence.sequence_score([a for a, _ in hm_pairs], [b for _, b in hm_pairs])
        ss_hm = float(np.nanmean(hm)) if np.isfinite(hm).any() else float("nan")
        if params["dss_scandiff_compat"] and not params["timed"]:
            # ScanDiff's no-duration DSS compares the predictions' T lists (zeros when no durations
            # are predicted), not their label strings, in SS_MM
            mm_seqs = [np.round(s.duration if s.duration is not None else np.zeros(len(s))).astype(np.int64)
                       for s in gp[k]]
            ss_mm = _distinct_pair_mean(mm_seqs)
        else:
            ss_mm = _distinct_pair_mean(lp)
        ss_hh = _distinct_pair_mean(lh)
        val = ss_hm / (1 + abs(ss_mm - ss_hh))
        if np.isnan(val):
            n_nan += 1
        else:
            per_key.append(val)
    return {"value": float(np.mean(per_key)) if per_key else float("nan"), "n": len(per_key), "n_nan": n_nan}


register(MetricSpec("dss", "set", _dss, {**LABEL_DEFAULTS, "frame": None, "timed": False, "bin_ms": 50.0,
                                        "default_duration_ms": None, "dss_scandiff_compat": False},
                    description="diversity-aware sequence score SS_HM/(1+|SS_MM−SS_HH|) per key (ScanDiff)"))


# ----------------------------------------------------------------------------- search efficiency
def _bbox(s: Scanpath):
    b = s.extra.get("bbox")
    if b is None:
        from scanpath.errors import ScanpathDataError

        raise ScanpathDataError("search-efficiency metrics need extra['bbox'] = [x, y, w, h]",
                                record=f"{s.stimulus}/subject={s.subject}", field="bbox")
    return b


def _search_curve(sps, params):
    from scanpath.metrics import search

    tp = [s for s in sps if s.condition in (None, "present")]
    steps = [search.steps_to_target(s.xy, _bbox(s)) for s in tp]
    curve = search.tfp_curve(steps, [str(s.task) for s in tp], params["max_steps"])
    ratios = np.array([search.scanpath_ratio(s.xy, _bbox(s), params["max_steps"]) for s in tp])
    return curve, ratios, steps, len(tp)


def _search_eff(predictions, humans, key, params):
    from scanpath.metrics import search

    cm, rm, steps, n = _search_curve(predictions, params)
    ch, _, _, _ = _search_curve(humans, params)
    finite = [s for s in steps if np.isfinite(s)]
    values = {"tfp_auc": search.tfp_auc(cm), "prob_mismatch": search.probability_mismatch(cm, ch),
              "scanpath_ratio": float(np.nanmean(rm)) if np.isfinite(rm).any() else float("nan"),
              "mean_steps_found": float(np.mean(finite)) if finite else float("nan")}
    values.update({f"tfp_{k + 1}": float(v) for k, v in enumerate(cm)})
    return {"value": values["tfp_auc"], "values": values, "n": n, "n_nan": int(np.isnan(rm).sum())}


def _search_eff_human(humans, key, params):
    return _search_eff(humans, humans, key, params)


register(MetricSpec("search_efficiency", "set", _search_eff, {"max_steps": 6},
                    human_fn=_search_eff_human,
                    dim_higher_is_better={"tfp_auc": True, "prob_mismatch": False, "scanpath_ratio": True,
                                          "mean_steps_found": False},
                    description="TFP(k), TFP-AUC, probability mismatch, scanpath ratio (target present)"))


# ----------------------------------------------------------------------------- fixation maps
SAL_DIMS = ("cc", "kld", "sim", "nss", "auc_judd", "auc_borji", "sauc")


def _map_shape(s: Scanpath, params) -> tuple[int, int]:
    from scanpath.metrics.labelers import image_size_of

    w, h = image_size_of(s, params.get("frame"))
    return int(h), int(w)


def _sal_scores(pred_xy: np.ndarray, human_xy: np.ndarray, shape, params, other_xy: np.ndarray) -> list[float]:
    from scanpath.metrics import maps

    P = maps.density_map(pred_xy, shape, params["sigma"])
    Q = maps.density_map(human_xy, shape, params["sigma"])
    sauc = (maps.auc_shuffled(P, human_xy, other_xy, params["n_splits"], 0.1, params["seed"])
            if len(other_xy) else float("nan"))
    return [maps.cc(P, Q), maps.kld(P, Q), maps.sim(P, Q), maps.nss(P, human_xy, params["ddof"]),
            maps.auc_judd(P, human_xy, params.get("jitter_seed")),
            maps.auc_borji(P, human_xy, params["n_splits"], 0.1, params["seed"]), sauc]


def _others(gh: dict, key: str, params) -> np.ndarray:
    """Human fixations of the other keys (sAUC negatives)."""
    arrs = [_xy_all(v, params) for k, v in gh.items() if k != key]
    return np.concatenate(arrs, axis=0) if arrs else np.zeros((0, 2))


def _xy_all(sps, params):
    if params.get("frame") is not None:
        sps = [s.rescaled(tuple(params["frame"])) for s in sps]
    arrs = [s.xy for s in sps]
    return np.concatenate(arrs, axis=0) if arrs else np.zeros((0, 2))


def _saliency(predictions, humans, key, params):
    from scanpath.types import group_by_stimulus

    gp, gh = group_by_stimulus(predictions, key), group_by_stimulus(humans, key)
    rows = []
    for k in sorted(gp):
        if k in gh:
            rows.append(_sal_scores(_xy_all(gp[k], params), _xy_all(gh[k], params), _map_shape(gh[k][0], params), params,
                                    _others(gh, k, params)))
    arr = np.array(rows, dtype=np.float64).reshape(-1, len(SAL_DIMS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        vals = {d: float(np.nanmean(arr[:, i])) if len(arr) else float("nan") for i, d in enumerate(SAL_DIMS)}
    return {"value": vals["cc"], "values": vals, "n": len(arr), "n_nan": int(np.isnan(arr[:, 0]).sum())}


def _saliency_human(humans, key, params):
    """Leave one subject out: the other subjects' density predicts the held-out subject."""
    from scanpath.types import group_by_stimulus

    rows = []
    gh = group_by_stimulus(humans, key)
    for k, sps in sorted(gh.items()):
        neg = _others(gh, k, params)
        for i, s in enumerate(sps):
            others = [o for j, o in enumerate(sps) if j != i and (s.subject is None or o.subject != s.subject)]
            if others and len(s):
                rows.append(_sal_scores(_xy_all(others, params), _xy_all([s], params), _map_shape(s, params), params,
                                        neg))
    arr = np.array(rows, dtype=np.float64).reshape(-1, len(SAL_DIMS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        vals = {d: float(np.nanmean(arr[:, i])) if len(arr) else float("nan") for i, d in enumerate(SAL_DIMS)}
    return {"value": vals["cc"], "values": vals, "n": len(arr), "n_nan": int(np.isnan(arr[:, 0]).sum()), "loso": True}


register(MetricSpec("saliency", "set", _saliency,
                    {"frame": None, "sigma": 16.0, "ddof": 1, "jitter_seed": None, "n_splits": 100, "seed": 0},
                    subdims=SAL_DIMS, main="cc", human_fn=_saliency_human,
                    dim_higher_is_better={d: d != "kld" for d in SAL_DIMS},
                    description="fixation-density map metrics per key (CC, KLD, SIM, NSS, AUC-Judd, AUC-Borji, sAUC)"))


# ----------------------------------------------------------------------------- 360° MultiMatch
def _mm360(left, right, li, ri, params):
    from scanpath.metrics.spherical import sphere_multimatch

    def fix(s):
        d = s.duration if s.duration is not None else np.ones(len(s))
        return np.column_stack([s.x, s.y, d])

    fl = [fix(s) for s in left]
    fr = [fix(s) for s in right]
    return np.array([sphere_multimatch(fl[i], fr[j], params["weights"]) for i, j in zip(li, ri)]).reshape(-1, 5)


register(MetricSpec("multimatch_360", "pair", _mm360, {"weights": [1.0, 0.0, 1.0, 1.0, 1.0]},
                    subdims=("position", "duration", "length", "shape", "direction"),
                    main=lambda d: float(np.nanmean([d["position"], d["length"], d["shape"], d["direction"]])),
                    description="360° MultiMatch (salient360 toolbox, fixed) on yaw/pitch degrees"))

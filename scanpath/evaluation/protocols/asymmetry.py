"""Search-asymmetry protocol (docs/eccnet.md §4): ``python evaluate.py experiment=eccnet_asymmetry``.

For each condition it generates the trials (seeded), runs the model over them with progress (a bar
in a terminal, log lines otherwise) and writes, atomically:

* ``<condition>/found_at.csv``: trials x (NumFix + 1) one-hot at column N (all zeros if unfound);
  NumFix columns with ``last_fix_as_miss`` (upstream layout: a find at NumFix is not representable).
  Baselines: NumFix + 1 columns; with ``baseline_bugs`` rows are shifted by one (trial 0 written last).
* ``<condition>/fixations.npy``: int trials x (NumFix + 1) x 2 (row, col) display px, index 0 = start,
  zero-padded after the last fixation.
* ``<condition>/trials.json``: seed, set size, cells, jitter, variants, N, found per trial.
* ``figures/rt_vs_set_size.png`` (human vs model RT per condition), ``slopes.{md,json}``,
  ``asymmetry_index.{md,json}`` (with the human row, the slope correlation and nested F-tests).

:class:`AsymmetryProtocol` returns the common :class:`~scanpath.evaluation.report.EvaluationResult`
(rows: the model and the humans; metrics: asymmetry index per experiment, slope correlation, slopes
and found rates per condition), so ``metrics.json`` has the one schema.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.analysis.asymmetry import (
    EXPERIMENT_PAIRS,
    asymmetry_index,
    effective_fixations,
    markdown_table,
    nested_f_test,
    read_human_rt,
    rt_by_set_size,
    rt_from_fixations,
    rt_slope,
    slope_correlation,
)
from scanpath.evaluation.progress import is_interactive
from scanpath.evaluation.report import HUMAN_ROW, EvaluationResult
from scanpath.evaluation.schema import metric_value
from scanpath.io.atomic import atomic_open, atomic_write_json, atomic_write_text
from scanpath.models.eccnet.search import SearchResult
from scanpath.stimuli.asymmetry import CONDITIONS, Trial, experiment_of
from scanpath.stimuli.upstream_archive import load_trials


def found_at_table(results: Sequence[SearchResult], num_fix: int, columns: int, shift_rows: bool = False) -> np.ndarray:
    """One-hot table (trials x ``columns``) at column N; zero rows for unfound trials."""
    out = np.zeros((len(results), columns), np.int64)
    for i, r in enumerate(results):
        if r.found and r.n_fix < columns:
            out[i, r.n_fix] = 1
    return np.roll(out, -1, axis=0) if shift_rows else out


def fixation_array(results: Sequence[SearchResult], num_fix: int) -> np.ndarray:
    out = np.zeros((len(results), num_fix + 1, 2), np.int64)
    for i, r in enumerate(results):
        out[i, :len(r.fixations)] = r.fixations
    return out


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    with atomic_open(path, "wb") as fh:
        fh.write(buf.getvalue())


def _save_csv(path: Path, arr: np.ndarray) -> None:
    with atomic_open(path, "w") as fh:
        np.savetxt(fh, arr, fmt="%d", delimiter=",")


def load_finished(cdir: Path, trials: Sequence[Trial], settings: dict[str, Any]) -> list[SearchResult] | None:
    """Results of a condition an earlier run already finished with the same settings (``resume``), else None.

    The condition counts as finished when its ``trials.json`` and ``fixations.npy`` exist, the recorded
    settings (model, seed, NumFix, stimulus options) equal ``settings`` and the trials are the same.
    """
    meta_path, fix_path = cdir / "trials.json", cdir / "fixations.npy"
    if not (meta_path.is_file() and fix_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    if any(meta.get(k) != v for k, v in settings.items()):
        return None
    recs = meta.get("trials", [])
    if [(r.get("index"), r.get("seed")) for r in recs] != [(t.index, t.seed) for t in trials]:
        return None
    fix = np.load(fix_path)
    if fix.shape[0] != len(recs):
        return None
    return [SearchResult(fix[i, :int(r["n_fix"]) + 1].copy(), int(r["n_fix"]), bool(r["found"]))
            for i, r in enumerate(recs)]


def rt_figure(model_rt: dict[str, dict[int, float]], human: dict[str, Any], model_name: str,
              trial_rts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, note: str = "") -> Any:
    """RT vs set size, one panel per condition (human vs model), experiments in rows; model points are
    means over trials with ±1 SEM bars and n per point when the per-trial RTs are given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exps = [e for e, pair in EXPERIMENT_PAIRS.items() if any(c in model_rt for c in pair)]
    fig, axes = plt.subplots(len(exps), 2, figsize=(7.4, 2.3 * len(exps) + 0.4), squeeze=False)
    for row, e in zip(axes, exps):
        for ax, cond in zip(row, EXPERIMENT_PAIRS[e]):
            if cond in human:
                h = human[cond]
                ax.plot(h.set_sizes, h.rt_ms, "o-", color="k", label="human (digitised means)")
            if cond in model_rt:
                s = sorted(model_rt[cond])
                mean = [model_rt[cond][k] for k in s]
                if trial_rts and cond in trial_rts:
                    rts, sizes = trial_rts[cond]
                    ns = [int((sizes == k).sum()) for k in s]
                    sem = [float(rts[sizes == k].std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0 for k, n in zip(s, ns)]
                    ax.errorbar(s, mean, yerr=sem, fmt="s--", color="tab:red", capsize=2, label=f"{model_name} ±SEM")
                    for x, y, n in zip(s, mean, ns):
                        ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(3, 4), fontsize=5,
                                    color="tab:red")
                else:
                    ax.plot(s, mean, "s--", color="tab:red", label=model_name)
            ax.set_title(f"{e}: {cond}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("set size (items)", fontsize=7)
            ax.set_ylabel("RT (ms)", fontsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=2, frameon=False)
    if note:
        fig.suptitle(note, fontsize=8, color="darkred")
    fig.tight_layout(rect=(0, 0.04, 1, 0.97 if note else 1))
    return fig


def run_asymmetry(
    model: Any,
    output_dir: str | Path,
    conditions: Sequence[str] | None = None,
    seed: int = 0,
    max_trials_per_size: int | None = None,
    num_fix_cap: int | None = None,
    human_csv: str | None = None,
    progress: bool = True,
    resume: bool = False,
    stimuli_root: str | None = None,
) -> dict[str, Any]:
    """Run the benchmark; returns slopes, AIs, correlation, timings and a printable ``table``.

    ``max_trials_per_size`` keeps the first k trials of every set-size block and ``num_fix_cap`` lowers
    NumFix (quick / CPU runs; the published protocol uses neither). ``resume`` reuses the conditions an
    interrupted run in the same ``output_dir`` already finished with the same settings (long CPU runs,
    preempted cluster jobs); the others are searched again. ``stimuli_root`` reads upstream's stimulus
    archive (``dataset_asymmetry`` folders) instead of generating the trials.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    out = Path(output_dir)
    conditions = list(conditions) if conditions else list(CONDITIONS)
    for c in conditions:
        experiment_of(c)  # validates the name
    human = read_human_rt(human_csv)
    skw = model.stimulus_kwargs()
    signature = json.loads(json.dumps(model.signature())) if hasattr(model, "signature") else None
    trials_by_cond: dict[str, list[Trial]] = {
        c: list(load_trials(c, seed=seed, max_trials_per_size=max_trials_per_size, stimuli_root=stimuli_root, **skw))
        for c in conditions
    }
    total = sum(len(t) for t in trials_by_cond.values())
    name = getattr(model, "display_name", "model")
    slopes: dict[str, float] = {}
    model_rt: dict[str, dict[int, float]] = {}
    per_cond: dict[str, dict[str, Any]] = {}
    trial_rts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    t_start = time.perf_counter()
    cols = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn()]
    import logging

    plog = logging.getLogger("scanpath.progress")
    with Progress(*cols, disable=not (progress and is_interactive())) as bar:
        task = bar.add_task(f"{name}: search", total=total)
        for cond in conditions:
            spec = experiment_of(cond)
            trials = trials_by_cond[cond]
            params = model.search_params(spec, num_fix_cap)
            bar.update(task, description=f"{name}: {cond}")
            cdir = out / cond
            settings = {"condition": cond, "seed": seed, "num_fix": params.num_fix, "model": name,
                        "model_signature": signature, "stimulus_options": skw}
            t0 = time.perf_counter()
            results = load_finished(cdir, trials, settings) if resume else None
            reused = results is not None
            if reused:
                bar.advance(task, len(trials))
            else:
                results = model.search(trials, params, on_trial_done=lambda n: bar.advance(task, n))
            dt = time.perf_counter() - t0
            if progress and not is_interactive():
                plog.info("%s: %s done (%d trials, %.1f s, %.1f s elapsed)", name, cond, len(trials), dt,
                          time.perf_counter() - t_start)
            is_baseline = getattr(model, "baseline", None) is not None
            ncols = params.num_fix + (0 if (params.last_fix_as_miss and not is_baseline) else 1)
            table = found_at_table(results, params.num_fix, ncols,
                                   shift_rows=is_baseline and getattr(model, "baseline_bugs", False))
            set_size = np.array([t.set_size for t in trials])
            # N is read back from the written table (so the upstream row shift is reproduced when on)
            found = table.any(1)
            n_fix = table.argmax(1)
            n_eff = effective_fixations(n_fix, found, set_size)
            _save_csv(cdir / "found_at.csv", table)
            _save_npy(cdir / "fixations.npy", fixation_array(results, params.num_fix))
            records = []
            for t, r, nf, fd in zip(trials, results, n_fix, found):
                rec = t.to_json()
                rec.update(n_fix=int(r.n_fix), found=bool(r.found), N=int(nf) if fd else None)
                records.append(rec)
            atomic_write_json(cdir / "trials.json", {**settings, "experiment": spec.key, "trials": records})
            slopes[cond] = rt_slope(n_eff, set_size)
            model_rt[cond] = rt_by_set_size(n_eff, set_size)
            trial_rts[cond] = (rt_from_fixations(n_eff), set_size)
            per_cond[cond] = {"n_trials": len(trials), "found_rate": float(found.mean()),
                              "mean_N": float(n_eff.mean()), "seconds": dt, "reused": reused,
                              "seconds_per_trial": dt / max(len(trials), 1), "rt_ms": model_rt[cond]}
    total_s = time.perf_counter() - t_start

    h_slopes = {c: h.slope for c, h in human.items()}
    ai = asymmetry_index(slopes, h_slopes)
    ai_h = asymmetry_index(h_slopes, h_slopes)
    corr = slope_correlation(slopes, {c: h_slopes[c] for c in slopes if c in h_slopes})
    ftests = {}
    for e, (a, b) in EXPERIMENT_PAIRS.items():
        if a in trial_rts and b in trial_rts:
            rt = np.concatenate([trial_rts[a][0], trial_rts[b][0]])
            ss = np.concatenate([trial_rts[a][1], trial_rts[b][1]])
            isb = np.r_[np.zeros(len(trial_rts[a][0])), np.ones(len(trial_rts[b][0]))]
            ftests[e] = nested_f_test(rt, ss, isb)

    slope_md = markdown_table(
        ["condition", "experiment", "human slope (ms/item)", f"{name} slope (ms/item)", "found rate", "mean N"],
        [[c, experiment_of(c).key, h_slopes.get(c, float("nan")), slopes[c], per_cond[c]["found_rate"],
          per_cond[c]["mean_N"]] for c in conditions],
    )
    exps = [e for e in EXPERIMENT_PAIRS if e in ai]
    ai_md = markdown_table(["row", *exps, "mean"],
                           [["Humans", *[ai_h[e] for e in exps], float(np.mean([ai_h[e] for e in exps])) if exps else float("nan")],
                            [name, *[ai[e] for e in exps], ai.get("mean", float("nan"))]])
    ai_md += f"\nPearson r (human vs model slopes, n={corr['n']}): {corr['r']:.3f} (p = {corr['p']:.3f})\n"
    from scanpath.evaluation.report import run_labels
    from scanpath.viz import save_figure

    untrained = is_untrained(model)
    labels = run_labels(False, [name] if untrained else [])
    notes = "".join(f"\n**{x}**\n" for x in labels) + (
        f"\nmodel: {name}; seed {seed}; trials {total}; max_trials_per_size {max_trials_per_size}; "
        f"num_fix_cap {num_fix_cap}; run time {total_s:.1f} s\n")
    atomic_write_text(out / "slopes.md", slope_md + notes)
    atomic_write_text(out / "asymmetry_index.md", ai_md + notes)
    atomic_write_json(out / "slopes.json", {"model": slopes, "human": h_slopes, "per_condition": per_cond})
    payload = {"model": name, "asymmetry_index": ai, "human_asymmetry_index": ai_h, "slope_correlation": corr,
               "f_tests": ftests, "slopes": slopes, "seed": seed, "n_trials": total,
               "max_trials_per_size": max_trials_per_size, "num_fix_cap": num_fix_cap, "seconds": total_s}
    atomic_write_json(out / "asymmetry_index.json", payload)
    fig = rt_figure(model_rt, human, name, trial_rts,
                    note=f"{name}: its asymmetry says nothing about the published model" if untrained else "")
    save_figure(fig, out / "figures" / "rt_vs_set_size.png", labels, dpi=110)
    return {**payload, "untrained": untrained, "per_condition": per_cond, "human_slopes": h_slopes,
            "slope_table": slope_md,
            "ai_table": ai_md + notes, "table": slope_md + "\n" + ai_md + notes}


def is_untrained(model: Any) -> bool:
    """A network model with random weights (no ImageNet weights, no weights file); baselines (chance,
    pixel_match: no network) never are."""
    return (hasattr(model, "weights") and getattr(model, "weights", None) in ("random", None)
            and not getattr(model, "weights_path", None) and getattr(model, "baseline", None) is None)


def asymmetry_rows(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model and human rows of the common schema from :func:`run_asymmetry`'s result."""
    per = res["per_condition"]
    n_trials = int(res["n_trials"])

    def ai_entry(ai: dict[str, float], n: int) -> dict[str, Any]:
        exps = {k: v for k, v in ai.items() if k != "mean"}
        mean = ai.get("mean", float(np.mean(list(exps.values()))) if exps else float("nan"))
        return metric_value(mean, higher_is_better=True, values=exps, n=n,
                            params={"definition": "agreement of the slope ordering with the humans, per experiment"},
                            uncertainty_note="derived from per-condition RT slopes (no per-trial values)")

    corr = res["slope_correlation"]
    slope_note = "derived from per-condition RT slopes (the F-tests and the RT figure's ±SEM bars give their spread)"
    rate_sem = {c: float(np.sqrt(p["found_rate"] * (1 - p["found_rate"]) / (p["n_trials"] - 1)))
                if p["n_trials"] > 1 else None for c, p in per.items()}
    mean_sem = (float(np.sqrt(sum(v * v for v in rate_sem.values())) / len(rate_sem))
                if rate_sem and all(v is not None for v in rate_sem.values()) else None)
    model_metrics = {
        "asymmetry_index": ai_entry(res["asymmetry_index"], n_trials),
        "slope_r": metric_value(corr["r"], higher_is_better=True, n=int(corr["n"]),
                                params={"p": corr["p"], "what": "Pearson r, human vs model slopes"},
                                uncertainty_note=slope_note),
        "slope_ms_per_item": metric_value(float(np.mean(list(res["slopes"].values()))) if res["slopes"] else None,
                                          higher_is_better=None, values=res["slopes"], n=n_trials,
                                          uncertainty_note=slope_note),
        # SEM over trials per condition (binomial); the mean over conditions combines them
        "found_rate": metric_value(float(np.mean([p["found_rate"] for p in per.values()])) if per else None,
                                   higher_is_better=True, values={c: p["found_rate"] for c, p in per.items()},
                                   n=n_trials, sem=mean_sem, values_sem=rate_sem,
                                   values_n_stimuli={c: int(p["n_trials"]) for c, p in per.items()}),
    }
    hs = {c: v for c, v in res["human_slopes"].items() if c in res["slopes"]}
    human_metrics = {
        "asymmetry_index": ai_entry(res["human_asymmetry_index"], len(hs)),
        "slope_ms_per_item": metric_value(float(np.mean(list(hs.values()))) if hs else None, higher_is_better=None,
                                          values=hs, n=len(hs), params={"source": "digitised human RT slopes"}),
    }
    model_row = {"role": "model", "n_predictions": n_trials, "metrics": model_metrics}
    if res.get("untrained"):
        model_row["untrained"] = True
    return {res["model"]: model_row,
            HUMAN_ROW: {"role": "human", "n_predictions": len(hs), "metrics": human_metrics}}


@dataclasses.dataclass
class AsymmetryProtocol:
    """The six-experiment search-asymmetry benchmark over built eccNET/IVSN/baseline models."""

    conditions: Sequence[str] | None = None
    seed: int = 0
    max_trials_per_size: int | None = None
    num_fix_cap: int | None = None
    human_csv: str | None = None
    progress: bool = True
    resume: bool = False
    stimuli_root: str | None = None
    name: str = "asymmetry"

    def run(self, *, model: Any, out_dir: str | Path, **_: Any) -> EvaluationResult:
        for need in ("search", "search_params", "stimulus_kwargs"):
            if not hasattr(model, need):
                raise TypeError(f"the asymmetry protocol needs a search model (eccnet, ivsn, pixel_match, chance); "
                                f"{type(model).__name__} has no {need}()")
        res = run_asymmetry(model, out_dir, conditions=self.conditions, seed=self.seed,
                            max_trials_per_size=self.max_trials_per_size, num_fix_cap=self.num_fix_cap,
                            human_csv=self.human_csv, progress=self.progress, resume=self.resume,
                            stimuli_root=self.stimuli_root)
        settings = {"dataset": "search asymmetry (six paradigms, generated stimuli; digitised human RTs)", "synthetic": False,
                    "split": "all trials", "protocol": self.name, "model": res["model"], "seed": self.seed,
                    "n_trials": res["n_trials"], "max_trials_per_size": self.max_trials_per_size,
                    "num_fix_cap": self.num_fix_cap, "untrained": is_untrained(model),
                    "seconds": res["seconds"], "f_tests": res["f_tests"]}
        return EvaluationResult(settings=settings, rows=asymmetry_rows(res),
                                figures=["figures/rt_vs_set_size.png"],
                                sections={"Slopes": res["slope_table"], "Asymmetry index": res["ai_table"]})

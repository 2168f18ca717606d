"""360° success-rate protocol (H* protocol, docs/humanoid360.md §4).

``python evaluate.py model=humanoid360_clip data=hstar data.root=…`` runs every episode of the data
through :class:`~scanpath.envs.humanoid360.Humanoid360Env` (10 steps, no submit = failure) for the
model's agent and the random-submit and turn-in-place baselines, and writes ``success.json``,
``success.md`` (overall and per-level success for HOS and HPS, mean steps), ``episodes.jsonl``
(one line per episode with the agent's headings) and ``steps_to_success.png`` (11-bin histogram
of steps to success; only successes enter it).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.envs.humanoid360 import Humanoid360Env
from scanpath.evaluation.progress import track
from scanpath.evaluation.report import EvaluationResult
from scanpath.evaluation.schema import metric_from_units, metric_value
from scanpath.io.episodes import LEVEL_NAMES, TASKS, Episode
from scanpath.models.humanoid360.agents import HeadAgent, RandomSubmitAgent, TurnInPlaceAgent, preferred_resolution

log = logging.getLogger(__name__)


def as_agent(model: Any) -> Any:
    """The ``act``-interface object of a model: itself, or its ``agent()``."""
    if hasattr(model, "agent") and callable(model.agent):
        return model.agent()
    if hasattr(model, "act"):
        return model
    raise TypeError(f"{type(model).__name__} has neither act(observation) nor agent()")


def run_episodes(agent: Any, env: Humanoid360Env, episodes: Sequence[Episode], progress: bool = False) -> list[dict]:
    """Play each episode once; one result dict per episode."""
    results = []
    for i in track(range(len(episodes)), description=str(getattr(agent, "display_name", "agent")), enabled=progress):
        obs, info = env.reset(options={"episode": episodes[i]})
        if hasattr(agent, "reset"):
            agent.reset(info)
        done, n_invalid = False, 0
        while not done:
            obs, _, term, trunc, info = env.step(agent.act(obs))
            if hasattr(agent, "observe_feedback"):
                agent.observe_feedback(info["feedback"])
            n_invalid += not info["valid"]
            done = term or trunc
        e = episodes[i]
        results.append({"episode": e.key, "scene": e.scene, "task": e.task, "level": e.level,
                        "success": bool(info["success"]), "submitted": bool(info["submitted"]),
                        "steps": int(info["step"]), "invalid": n_invalid, "headings": info["headings"]})
    return results


def summarise(results: Sequence[dict], max_steps: int = 10) -> dict[str, Any]:
    """Success overall and per level for each task, mean steps, steps-to-success histogram."""
    out: dict[str, Any] = {}
    for task in TASKS:
        rs = [r for r in results if r["task"] == task]
        if not rs:
            continue
        levels: dict[str, float] = {}
        for lv in sorted({r["level"] for r in rs}, key=str):
            sub = [r for r in rs if r["level"] == lv]
            levels[LEVEL_NAMES.get(lv, str(lv)) if isinstance(lv, int) else str(lv)] = 100.0 * np.mean([r["success"] for r in sub])
        hist = np.bincount([r["steps"] for r in rs if r["success"]], minlength=max_steps + 1)[: max_steps + 1]
        out[task] = {"n": len(rs), "success": 100.0 * float(np.mean([r["success"] for r in rs])), "levels": levels,
                     "mean_steps": float(np.mean([r["steps"] for r in rs])),
                     "submit_rate": 100.0 * float(np.mean([r["submitted"] for r in rs])),
                     "steps_to_success_hist": hist.tolist()}
    return out


def _sem_pct(rate: float, n: int) -> float | None:
    """SEM over episodes of a success rate in % (sample SD of the 0/1 outcomes / √n)."""
    if n < 2:
        return None
    p = rate / 100.0
    return 100.0 * float(np.sqrt(p * (1 - p) * n / (n - 1) / n))


def _table(summary: dict[str, dict], labels: Sequence[str] = ()) -> str:
    lines = [" · ".join(f"**{x}**" for x in labels), ""] if labels else []
    lines += ["| agent | task | n | success % ± SEM | easy | medium | hard | extreme | mean steps |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        for task, r in s.items():
            lv = [f"{r['levels'][k]:.2f}" if k in r["levels"] else "–" for k in ("easy", "medium", "hard", "extreme")]
            sem = _sem_pct(r["success"], r["n"])
            cell = f"{r['success']:.2f}" + (f" ± {sem:.2f}" if sem is not None else "")
            lines.append(f"| {name} | {task} | {r['n']} | {cell} | " + " | ".join(lv) + f" | {r['mean_steps']:.2f} |")
    return "\n".join(lines)


def _figure(summary: dict[str, dict], path: Path, labels: Sequence[str] = ()) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from scanpath.viz import save_figure

    fig, ax = plt.subplots(figsize=(10, 3.5))
    bars = [(f"{n} ({t}, n={r['n']} episodes, success {r['success']:.1f}%)", r["steps_to_success_hist"])
            for n, s in summary.items() for t, r in s.items()]
    width = 0.8 / max(len(bars), 1)
    for k, (label, h) in enumerate(bars):
        ax.bar(np.arange(len(h)) + k * width, h, width=width, label=label)
    ax.set_xlabel("steps to success (only successful episodes)")
    ax.set_ylabel("episodes")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    save_figure(fig, path, labels, dpi=100)


def heading_tracks(episodes: Sequence[Episode], per_episode: dict[str, list[dict]], n: int) -> list[dict[str, Any]]:
    """Playback records for report.html: each agent's head-direction track drawn on the equirectangular
    panorama (yaw 0 at the centre column, pitch +90 at the top), target window as the box."""
    from scanpath.evaluation.html_report import image_data_uri
    from scanpath.io.episodes import load_panorama

    out = []
    for i, e in enumerate(episodes[:n]):
        pano = load_panorama(e.panorama) if e.panorama is not None else None
        h, w = (pano.shape[:2] if pano is not None else (512, 1024))

        def px(yaw: float, pitch: float) -> list[float | None]:
            return [round(((float(yaw) + 180.0) % 360.0) / 360.0 * w, 1), round((90.0 - float(pitch)) / 180.0 * h, 1), None]

        lo, hi = e.yaw_window
        plo, phi = e.pitch_window or (-90.0, 90.0)
        x0, x1 = px(lo, 0)[0], px(hi, 0)[0]
        bbox = [x0, px(0, phi)[1], (x1 - x0) % w, px(0, plo)[1] - px(0, phi)[1]]
        groups = {}
        for agent, results in per_episode.items():
            if i < len(results):
                groups[agent] = [{"label": agent, "fix": [px(yw, pt) for yw, pt in results[i]["headings"]]}]
        out.append({"id": e.key, "task": f"{e.task}: {e.instruction}", "condition": str(e.level), "width": w,
                    "height": h, "image": image_data_uri(pano), "bbox": bbox, "boxes": None, "target_index": None,
                    "n_humans": 0, "groups": {"Human": [], **groups}})
    return out


def _level_name(lv: Any) -> str:
    return LEVEL_NAMES.get(lv, str(lv)) if isinstance(lv, int) else str(lv)


def success_rows(summary: dict[str, dict], model_name: str,
                 per_episode: dict[str, list[dict]] | None = None) -> dict[str, dict[str, Any]]:
    """One row per agent: success % per task (values per level), mean steps and submit rate; with the
    ``per_episode`` results each value carries n, the SEM and the bootstrap CI over episodes."""
    rows = {}
    for agent, per_task in summary.items():
        metrics: dict[str, Any] = {}
        for task, r in per_task.items():
            eps = [e for e in (per_episode or {}).get(agent, []) if e["task"] == task]
            if eps:
                keys = [e["episode"] for e in eps]
                ok = np.array([float(e["success"]) for e in eps])
                levels = {_level_name(lv): np.where([e["level"] == lv for e in eps], ok, np.nan)
                          for lv in sorted({e["level"] for e in eps}, key=str)}
                metrics[f"success.{task}"] = metric_from_units(ok, keys=keys, higher_is_better=True, values=levels,
                                                               scale=100.0, params={"unit": "% of episodes"})
                metrics[f"mean_steps.{task}"] = metric_from_units([e["steps"] for e in eps], keys=keys,
                                                                  higher_is_better=None)
                metrics[f"submit_rate.{task}"] = metric_from_units([float(e["submitted"]) for e in eps], keys=keys,
                                                                   higher_is_better=None, scale=100.0,
                                                                   params={"unit": "% of episodes"})
                continue
            metrics[f"success.{task}"] = metric_value(r["success"], higher_is_better=True, values=r["levels"], n=r["n"],
                                                      params={"unit": "% of episodes"})
            metrics[f"mean_steps.{task}"] = metric_value(r["mean_steps"], higher_is_better=None, n=r["n"])
            metrics[f"submit_rate.{task}"] = metric_value(r["submit_rate"], higher_is_better=None, n=r["n"],
                                                          params={"unit": "% of episodes"})
        n = sum(r["n"] for r in per_task.values())
        rows[agent] = {"role": "model" if agent == model_name else "baseline", "n_predictions": n, "metrics": metrics}
    return rows


def same_agent(a: Any, b: Any) -> bool:
    """Two agents of one class with the same settings (seed aside): one policy, so one table row."""
    if type(a) is not type(b):
        return False
    def settings(x: Any) -> dict[str, Any]:
        return {k: v for k, v in vars(x).items() if k not in ("rng", "gen", "seed") and not k.startswith("_")}
    try:
        return settings(a) == settings(b)
    except TypeError:  # settings that cannot be compared (arrays): not provably the same
        return False


@dataclasses.dataclass
class Success360Protocol:
    """Success rates of a head-rotation agent (and the random-submit / turn-in-place baselines)."""

    max_steps: int = 10
    resolution: int = 720
    max_episodes: int | None = None
    baselines: bool = True
    seed: int = 0
    split: str | None = None
    progress: bool = True
    env: dict[str, Any] = dataclasses.field(default_factory=dict)
    name: str = "success360"

    def run(self, *, model: Any, datamodule: Any = None, out_dir: str | Path, episodes: Sequence[Episode] | None = None,
            n_stimuli: int = 6, untrained: bool = False, **_: Any) -> EvaluationResult:
        if episodes is None:
            if datamodule is None or not hasattr(datamodule, "episodes"):
                raise TypeError("the success360 protocol needs a 360° episode datamodule (data=panoramas or data=hstar), "
                                f"got {type(datamodule).__name__}")
            episodes = datamodule.episodes(self.split) if self.split else datamodule.episodes()
        name = getattr(model, "display_name", "model")
        synthetic = bool(getattr(datamodule, "synthetic", False))
        from scanpath.evaluation.report import run_labels

        res = run_success(model, out_dir, episodes=episodes, max_steps=self.max_steps, resolution=self.resolution,
                          max_episodes=self.max_episodes, baselines=self.baselines, seed=self.seed,
                          progress=self.progress, labels=run_labels(synthetic, [name] if untrained else []),
                          **dict(self.env))
        model_row = res["model_row"]
        settings = {"dataset": getattr(datamodule, "name", "episodes"),
                    "synthetic": synthetic, "split": self.split or "all",
                    "protocol": self.name, "n_episodes": res["n_episodes"], "max_steps": self.max_steps,
                    "resolution": self.resolution, "seed": self.seed}
        rows = success_rows(res["summary"], model_row, res["per_episode"])
        if untrained:
            rows[model_row]["untrained"] = True
        return EvaluationResult(settings=settings, rows=rows, skipped=res["skipped"],
                                figures=["figures/steps_to_success.png"], sections={"Success rates": res["table"]},
                                stimuli=heading_tracks(list(episodes)[: self.max_episodes or None], res["per_episode"],
                                                       n_stimuli))


def run_success(model: Any, output_dir: Path, *, episodes: Sequence[Episode], max_steps: int = 10,
                resolution: int = 720, max_episodes: int | None = None, baselines: bool = True, seed: int = 0,
                progress: bool = True, labels: Sequence[str] = (), **env_kwargs: Any) -> dict[str, Any]:
    """Evaluate ``model`` (+ baselines) on ``episodes``; writes success.json/md, episodes.jsonl and the
    figure (stamped with ``labels``). A baseline that is the model's own agent (same class and settings)
    is not run again: one score per agent, the baseline listed under ``skipped``."""
    from scanpath.io.atomic import atomic_open, atomic_write_json, atomic_write_text

    output_dir = Path(output_dir)
    episodes = list(episodes)[: max_episodes or None]
    model_name = getattr(model, "display_name", "model")
    agents: dict[str, HeadAgent] = {model_name: as_agent(model)}
    skipped: dict[str, str] = {}
    if baselines:
        for bname, bagent in (("random submit", RandomSubmitAgent(seed)),
                              ("turn in place", TurnInPlaceAgent(seed=seed, max_turns=max_steps - 1))):
            if same_agent(agents[model_name], bagent):
                skipped[bname] = f"the evaluated model is this agent (row {model_name!r}): one score per agent"
                continue
            if bname == model_name:  # another agent under the baseline's name: keep both, tell them apart
                agents = {f"{model_name} (model)": agents.pop(model_name)}
                model_name = f"{model_name} (model)"
            agents[bname] = bagent
    # the model's own view resolution wins (the VLM: 1080, as upstream's evaluation configs)
    env = Humanoid360Env(resolution=preferred_resolution(model, resolution), max_steps=max_steps, **env_kwargs)
    summary, per_episode = {}, {}
    for name, agent in agents.items():
        res = run_episodes(agent, env, episodes, progress=progress)
        per_episode[name] = res
        summary[name] = summarise(res, max_steps)
    table = _table(summary, labels)
    result = {"summary": summary, "n_episodes": len(episodes), "max_steps": max_steps, "table": table,
              "skipped": skipped}
    atomic_write_json(output_dir / "success.json", {k: v for k, v in result.items() if k != "table"})
    result["per_episode"] = per_episode
    result["model_row"] = model_name
    atomic_write_text(output_dir / "success.md", table + "\n")
    with atomic_open(output_dir / "episodes.jsonl") as fh:
        for name, res in per_episode.items():
            for r in res:
                fh.write(json.dumps({"agent": name, **r}) + "\n")
    _figure(summary, output_dir / "figures" / "steps_to_success.png", labels)
    return result

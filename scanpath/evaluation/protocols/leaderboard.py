"""One leaderboard across model families on the same test split (``experiment=leaderboard``).

Every listed model (built by the entry point), the baselines and the human row are predicted and
scored by the plain pipeline on the **same** test queries with the same metrics; models that cannot
run on the data are listed under ``skipped`` with the reason; rows are ranked by the data's primary
metric (``rank_by``), the human / observer row last. ``max_queries`` keeps the first n test queries
(split order) for every row alike; the table says so under it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scanpath.evaluation.pipeline import Entry, evaluate_models, first_sample, skip_reason
from scanpath.evaluation.report import EvaluationResult


def rank_rows(rows: Mapping[str, dict[str, Any]], metric: str) -> dict[str, dict[str, Any]]:
    """Rows ordered by ``metric`` (its direction decides), unscored rows after, human/observer rows last."""
    def value(row: Mapping[str, Any]) -> float | None:
        res = (row.get("metrics") or {}).get(metric) or {}
        v = res.get("value")
        return None if v is None or not math.isfinite(float(v)) else float(v)

    scored = [(n, r) for n, r in rows.items() if r.get("role") in ("model", "baseline")]
    hib = next(((r["metrics"][metric].get("higher_is_better")) for _, r in scored if metric in (r.get("metrics") or {})),
               True)
    ranked = sorted([x for x in scored if value(x[1]) is not None], key=lambda x: value(x[1]), reverse=bool(hib))
    rest = [x for x in scored if value(x[1]) is None]
    out: dict[str, dict[str, Any]] = {}
    for i, (n, r) in enumerate(ranked + rest, start=1):
        out[n] = {**r, "rank": i if value(r) is not None else None}
    for n, r in rows.items():
        if n not in out:
            out[n] = r
    return out


@dataclasses.dataclass
class LeaderboardProtocol:
    """Rank ``models`` (entries built by the entry point) and the baselines on one test split."""

    rank_by: str | None = None
    #: score every row on the first n test queries (None = all) ...
    max_queries: int | None = None
    #: ... when one of these model configs runs here (None: always)
    budget_models: Sequence[str] | None = None
    name: str = "leaderboard"

    def limit_applies(self, datamodule: Any, models: Sequence[Entry]) -> list[str] | None:
        """The model configs that make ``max_queries`` apply (runnable on this data), or None when it does not."""
        if self.max_queries is None:
            return None
        if self.budget_models is None:
            return []
        sample = first_sample(datamodule)
        heavy = [str(e.extra.get("model_config")) for e in models
                 if e.extra.get("model_config") in set(self.budget_models) and not skip_reason(e.model, sample)]
        return heavy or None

    def run(self, *, datamodule: Any, out_dir: str | Path, metrics: Mapping[str, Any] | None = None,
            models: Sequence[Entry] = (), baselines: Sequence[Entry] = (), skipped: Mapping[str, str] | None = None,
            human_consistency: bool = True, n_figures: int = 4, device: str = "cpu", seed: int | None = None,
            n_stimuli: int = 6, **_: Any) -> EvaluationResult:
        metrics = dict(metrics or {})
        rank_by = self.rank_by or getattr(datamodule, "primary_metric", None) or next(iter(metrics), None)
        if rank_by not in metrics:
            raise ValueError(f"leaderboard: rank_by={rank_by!r} is not one of the configured metrics {sorted(metrics)}")
        settings: dict[str, Any] = {"seed": seed, "protocol": self.name, "rank_by": rank_by, "n_models": len(models)}
        sections: dict[str, str] = {}
        datamodule.prepare_data()
        datamodule.setup("predict")
        heavy = self.limit_applies(datamodule, models)
        if heavy is not None:
            limit = getattr(datamodule, "limit_test_queries", None)
            if not callable(limit):
                raise ValueError(f"leaderboard.max_queries: {type(datamodule).__name__} cannot limit its test queries")
            total = int(limit(int(self.max_queries)))
            used = min(int(self.max_queries), total)
            why = f", because {', '.join(heavy)} run here (leaderboard.budget_models)" if heavy else ""
            settings["queries"] = {"max_queries": int(self.max_queries), "used": used, "of": total,
                                   "rule": "the first test queries in split order, the same for every row",
                                   "because": heavy or None}
            sections["Test queries"] = (
                f"Every row is scored on the same {used} test queries: the first {used} of the {total} of the test "
                f"split, in split order (leaderboard.max_queries={self.max_queries}{why}; null = all)."
                if used < total else f"Every row is scored on all {total} test queries (leaderboard.max_queries="
                                     f"{self.max_queries} ≥ {total}).")
        result = evaluate_models(datamodule, [*models, *baselines], metrics, out_dir,
                                 human_consistency=human_consistency, n_figures=n_figures, device=device,
                                 skipped=skipped, settings=settings, n_stimuli=n_stimuli, skip_models=True)
        result.rows = rank_rows(result.rows, rank_by)
        result.sections.update(sections)
        return result

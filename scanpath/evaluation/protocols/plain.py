"""The plain protocol: predict then score (:func:`scanpath.evaluation.pipeline.evaluate_models`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scanpath.evaluation.pipeline import Entry, evaluate_models
from scanpath.evaluation.report import EvaluationResult


@dataclasses.dataclass
class PlainProtocol:
    """Every entry predicts the test queries; scored with ``metrics``; human row by leave-one-subject-out.
    ``untrained`` (random weights, decided by the entry point) labels the model row and its figures."""

    name: str = "plain"

    def run(self, *, model: Any, datamodule: Any, out_dir: str | Path, metrics: Mapping[str, Any] | None = None,
            model_name: str | None = None, checkpoint: str | None = None, baselines: Sequence[Entry] = (),
            human_consistency: bool = True, n_figures: int = 4, device: str = "cpu", seed: int | None = None,
            skipped: Mapping[str, str] | None = None, n_stimuli: int = 6, untrained: bool = False,
            **_: Any) -> EvaluationResult:
        name = model_name or getattr(model, "display_name", type(model).__name__)
        entries = [Entry(name, model, "model", checkpoint, "model", extra={"untrained": True} if untrained else {}),
                   *baselines]
        return evaluate_models(datamodule, entries, metrics or {}, out_dir, human_consistency=human_consistency,
                               n_figures=n_figures, device=device, skipped=skipped, settings={"seed": seed},
                               n_stimuli=n_stimuli)

"""scanpath.metrics — the scanpath metric library (spec: specs/metrics.md).

* :func:`score_scanpaths` / :func:`human_consistency` — the pipeline evaluate.py calls.
* :data:`registry` — metric name -> spec (default params, batched scorer); ``conf/metrics/*.yaml``
  selects metrics by name with their params.
* :mod:`scanpath.metrics.functional` — batched functional forms.
* :func:`multimatch` — MultiMatch with multimatch-gaze 0.1.3 semantics.
* :mod:`scanpath.metrics.behavioural` — OAT statistics and Δ.
"""

from scanpath.metrics import metrics_impl as _metrics_impl  # noqa: F401  (fills the registry)
from scanpath.metrics.behavioural import fill_empty_rollouts, mean_stats, oat_delta, oat_stats
from scanpath.metrics.classes import BehaviouralDelta
from scanpath.metrics.evaluation import human_consistency, pair_indices, score_scanpaths
from scanpath.metrics.multimatch_impl import multimatch, multimatch_batch
from scanpath.metrics.registry import MetricSpec, register, registry

__all__ = [
    "score_scanpaths",
    "human_consistency",
    "pair_indices",
    "registry",
    "register",
    "MetricSpec",
    "oat_stats",
    "mean_stats",
    "oat_delta",
    "fill_empty_rollouts",
    "BehaviouralDelta",
    "multimatch",
    "multimatch_batch",
]

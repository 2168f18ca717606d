"""scanpath.metrics — the scanpath metric library (see docs/metrics.md).

* :func:`score_scanpaths` / :func:`human_consistency` — the pipeline evaluate.py calls.
* :data:`registry` — metric name -> spec (default params, batched scorer), filled by the ``@metric``
  decorator in each math module; ``conf/metrics/*.yaml`` selects metrics by name with their params.
* :mod:`scanpath.metrics.functional` — batched functional forms.
* :func:`multimatch` — MultiMatch with multimatch-gaze 0.1.3 semantics (:mod:`~scanpath.metrics.multimatch_scoring`).
* :mod:`~scanpath.metrics.inputs` — scanpaths → label strings, object sequences, target boxes.
* :mod:`scanpath.metrics.behavioural` — OAT statistics and Δ.
"""

# every math module registers its metrics where it defines them (``@metric``); importing them fills the registry
from scanpath.metrics import behavioural, geometric, maps, search, sequence, spherical  # noqa: F401
from scanpath.metrics.behavioural import fill_empty_rollouts, mean_stats, oat_delta, oat_stats
from scanpath.metrics.classes import BehaviouralDelta
from scanpath.metrics.evaluation import human_consistency, pair_indices, score_scanpaths
from scanpath.metrics.multimatch_scoring import multimatch, multimatch_batch
from scanpath.metrics.registry import MetricSpec, metric, register, registry

__all__ = [
    "score_scanpaths",
    "human_consistency",
    "pair_indices",
    "registry",
    "register",
    "metric",
    "MetricSpec",
    "oat_stats",
    "mean_stats",
    "oat_delta",
    "fill_empty_rollouts",
    "BehaviouralDelta",
    "multimatch",
    "multimatch_batch",
]

"""Metric registry: name -> :class:`MetricSpec` (default params + batched scorer).

A ``conf/metrics/*.yaml`` file is a mapping ``{entry_name: {param: value}}``. ``entry_name`` is a
registered metric name, or any label with ``metric: <registered name>`` inside its params (so one
file can hold e.g. ``sed_mean`` and ``sed_min``). Params not given fall back to the spec defaults;
the merged params are reported next to every value.

Two kinds of metric:

* ``pair`` — ``fn(left, right, li, ri, params) -> [P] or [P, k]`` scores pairs
  ``(left[li[p]], right[ri[p]])`` of scanpaths; the evaluation pipeline builds the pairs (each
  prediction meets every human of its key), reduces over humans then over predictions, and
  provides leave-one-subject-out human consistency for free.
* ``set`` — ``fn(predictions, humans, key, params) -> result dict`` for metrics defined on whole
  sets (DSS, OAT Δ, search efficiency, fixation maps); ``human_fn(humans, key, params)`` gives
  their human row when one is defined.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

# params understood by the pipeline for every pair metric (not passed to a scorer's own logic)
PIPELINE_DEFAULTS: dict[str, Any] = {
    "frame": None,  # (W, H) to rescale both sides to before scoring; None = original pixels
    "truncate_pred": None,
    "truncate_gt": None,
    "cut_at_target": False,  # HAT TP preset: cut predictions after the first fixation inside extra["bbox"]
    "pair_reduce": "mean",  # mean | max | min | flat
    "key_reduce": "mean",  # mean | per_task | trial | key (scanpath.metrics.averaging)
    "include_self": False,  # human consistency: self-comparison only for reproduction
}


@dataclasses.dataclass
class MetricSpec:
    name: str
    kind: str  # "pair" | "set"
    fn: Callable[..., Any]
    defaults: dict[str, Any]
    subdims: tuple[str, ...] | None = None
    main: str | Callable[[dict[str, float]], float] | None = None  # how to get "value" from subdims
    higher_is_better: bool = True
    description: str = ""
    human_fn: Callable[..., Any] | None = None
    #: Direction of each sub-dimension where it differs from the metric's (None = no direction, e.g. raw
    #: statistics); unset = every sub-dimension follows ``higher_is_better``.
    dim_higher_is_better: dict[str, bool | None] | None = None
    #: What the metric needs from the scanpaths (``durations``, ``bbox``, ``objects`` …): a tuple, or a
    #: function of the merged params returning one (:mod:`scanpath.metrics.requirements`).
    needs: tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]] = ()
    #: The headline value is an unnormalised distance that grows with scanpath length (raw SED, DTW,
    #: FED): the tables note when the human row ranks below a shorter-scanpath row on it.
    length_dependent: bool = False

    def dim_directions(self, dims: Any) -> dict[str, bool | None]:
        """``{dim: higher_is_better}`` for the sub-dimensions of a result."""
        if self.dim_higher_is_better is None:
            return {d: self.higher_is_better for d in dims}
        return {d: self.dim_higher_is_better.get(d) for d in dims}

    def params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        merged = dict(PIPELINE_DEFAULTS) if self.kind == "pair" else {}
        merged.update(self.defaults)
        for k, v in (overrides or {}).items():
            if k == "metric":
                continue
            if k not in merged:
                raise ValueError(
                    f"metric {self.name!r} has no parameter {k!r}; known: {sorted(merged)}"
                )
            merged[k] = v
        return merged


registry: dict[str, MetricSpec] = {}


def register(spec: MetricSpec) -> MetricSpec:
    if spec.name in registry:
        raise ValueError(f"metric {spec.name!r} registered twice")
    registry[spec.name] = spec
    return spec


def metric(name: str, kind: str, defaults: Mapping[str, Any] | None = None, **spec: Any) -> Callable:
    """Decorator: register the decorated scorer as metric ``name`` (a :class:`MetricSpec` with
    ``defaults`` and the other spec fields). Stack it to register one scorer under several names.
    Each math module registers its metrics where it defines them; importing ``scanpath.metrics``
    imports them all."""
    def deco(fn: Callable) -> Callable:
        register(MetricSpec(name, kind, fn, dict(defaults or {}), **spec))
        return fn
    return deco


def resolve(entry: str, params: Mapping[str, Any] | None) -> tuple[MetricSpec, dict[str, Any]]:
    """Spec and merged params for one config entry."""
    params = dict(params or {})
    name = params.get("metric", entry)
    import scanpath.metrics  # noqa: F401  (importing the package imports every module that registers metrics)

    if name not in registry:
        raise KeyError(f"unknown metric {name!r} (config entry {entry!r}); registered: {sorted(registry)}")
    spec = registry[name]
    return spec, spec.params(params)

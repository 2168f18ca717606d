"""The one ``metrics.json`` schema every evaluation flow writes (plain, OAT, asymmetry, 360°).

::

    {
      "schema_version": 2,                     # 1 = the same without the uncertainty fields (still read)
      "settings": {...},                       # dataset, protocol, frame, truncation, seeds, hashes,
                                               # "uncertainty": how SEM and CI were estimated …
      "rows": {
        "<row name>": {
          "role": "model" | "baseline" | "human" | "observer",
          "n_predictions": int,                # scanpaths / trials / episodes scored for this row
          "n_stimuli": int?,                   # stimuli (evaluation keys) the row was scored on
          "stimuli_differ": bool?,             # true: scored on another stimulus set than other rows
          "metrics": {
            "<metric>": {"value": float|null, "values": {dim: float|null}?, "params": {...},
                         "higher_is_better": bool|null, "n": int, "n_nan": int,
                         "n_stimuli": int?, "sem": float|null?, "ci95": [lo, hi]|null?,
                         "values_sem": {dim: …}?, "values_ci95": {dim: …}?, "values_n_stimuli": {dim: int}?,
                         "uncertainty_note": str?, ...}
          },
          ...                                  # free extra keys (checkpoint, samples_per_image, …)
        }
      },
      "skipped": {"<name>": "<reason>"},       # models / baselines that could not run, with the reason
      "figures": ["figures/<file>.png", ...]   # paths relative to the run dir
    }

Validated with pydantic on every write (:func:`validate_metrics`); :func:`json_schema` gives the
same schema as JSON Schema for tools outside Python.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 2
#: versions :func:`validate_metrics` accepts (version 1 files have no uncertainty fields)
READ_VERSIONS = (1, 2)
ROLES = ("model", "baseline", "human", "observer")


class MetricValue(BaseModel):
    """One metric of one row."""

    model_config = ConfigDict(extra="allow")

    value: float | None
    values: dict[str, float | None] | None = None
    params: dict[str, Any]
    higher_is_better: bool | None
    n: int = Field(ge=0)
    n_nan: int = Field(ge=0)
    #: stimuli (evaluation keys) with a finite value; the SEM and the CI are over these
    n_stimuli: int | None = Field(default=None, ge=0)
    #: standard error of ``value`` over stimuli (None: fewer than 2 stimuli, or not estimable)
    sem: float | None = None
    #: seeded percentile-bootstrap 95 % interval of ``value`` over stimuli
    ci95: tuple[float, float] | None = None
    values_n_stimuli: dict[str, int] | None = None
    values_sem: dict[str, float | None] | None = None
    values_ci95: dict[str, tuple[float, float] | None] | None = None
    #: why ``sem`` / ``ci95`` are missing when the metric cannot be decomposed per stimulus
    uncertainty_note: str | None = None


class Row(BaseModel):
    """One table row: a model, a baseline, the human-consistency row or a simulated observer."""

    model_config = ConfigDict(extra="allow")

    role: Literal["model", "baseline", "human", "observer"]
    n_predictions: int = Field(ge=0)
    metrics: dict[str, MetricValue]
    #: stimuli the row was scored on (union over its metrics); None when the flow has no per-stimulus values
    n_stimuli: int | None = Field(default=None, ge=0)
    #: true when other rows of the table were scored on another stimulus set (compare with care)
    stimuli_differ: bool = False


class MetricsFile(BaseModel):
    """The whole ``metrics.json``."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = SCHEMA_VERSION
    settings: dict[str, Any]
    rows: dict[str, Row]
    skipped: dict[str, str]
    figures: list[str]


class SchemaError(ValueError):
    """A payload that does not follow the ``metrics.json`` schema (a bug in the flow that wrote it)."""


def validate_metrics(payload: dict[str, Any]) -> MetricsFile:
    """Validate a ``metrics.json`` payload; :class:`SchemaError` names the offending path."""
    try:
        return MetricsFile.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SchemaError(f"metrics.json does not follow the schema at {where}: {first['msg']}") from exc


def json_schema() -> dict[str, Any]:
    """The schema as JSON Schema (draft 2020-12, as pydantic emits it)."""
    return MetricsFile.model_json_schema()


def metric_value(
    value: float | None,
    *,
    higher_is_better: bool | None,
    params: dict[str, Any] | None = None,
    n: int | None = None,
    n_nan: int = 0,
    values: dict[str, float | None] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A schema-conforming metric entry for values computed outside ``score_scanpaths``.

    ``n`` defaults to 1 for a finite value and 0 otherwise (a single aggregate number).
    """
    v = None if value is None else float(value)
    if n is None:
        n = int(v is not None and math.isfinite(v))
    out: dict[str, Any] = {"value": v, "params": dict(params or {}), "higher_is_better": higher_is_better,
                           "n": int(n), "n_nan": int(n_nan)}
    if values is not None:
        out["values"] = {str(k): (None if x is None else float(x)) for k, x in values.items()}
    out.update(extra)
    return out


def metric_from_units(
    units: Any,
    *,
    higher_is_better: bool | None,
    keys: Any = None,
    params: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    scale: float = 1.0,
    key_weights: dict[str, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A metric entry from per-unit values (episodes, trials; NaN = not scored): value = ``scale`` ×
    their mean, with n, SEM and the bootstrap CI over ``keys`` (one per unit; default: every unit its
    own stimulus). ``values`` = sub-dimensions as per-unit arrays of the same length (NaN where a unit
    does not belong to the dimension, e.g. another difficulty level); ``key_weights`` as in
    :func:`scanpath.metrics.uncertainty.column_stats` (a weighted mean of per-key means)."""
    import numpy as np

    from scanpath.metrics import uncertainty

    u = scale * np.asarray(units, dtype=np.float64).reshape(-1)
    keys = [str(i) for i in range(len(u))] if keys is None else [str(k) for k in keys]
    finite = np.isfinite(u)
    dims = {str(d): scale * np.asarray(v, dtype=np.float64).reshape(-1) for d, v in (values or {}).items()}

    def mean(a: np.ndarray) -> float | None:
        return float(a[np.isfinite(a)].mean()) if np.isfinite(a).any() else None

    out = metric_value(mean(u), higher_is_better=higher_is_better, params=params, n=int(finite.sum()),
                       n_nan=int((~finite).sum()), values={d: mean(a) for d, a in dims.items()} if dims else None,
                       **extra)
    table = np.column_stack(list(dims.values())) if dims else u[:, None]
    return uncertainty.attach(out, table, keys, list(dims) if dims else None, main=u if dims else None,
                              key_weights=key_weights)

"""The one ``metrics.json`` schema every evaluation flow writes (plain, OAT, asymmetry, 360°).

::

    {
      "schema_version": 1,
      "settings": {...},                       # dataset, protocol, frame, truncation, seeds, hashes …
      "rows": {
        "<row name>": {
          "role": "model" | "baseline" | "human" | "observer",
          "n_predictions": int,                # scanpaths / trials / episodes scored for this row
          "metrics": {
            "<metric>": {"value": float|null, "values": {dim: float|null}?, "params": {...},
                         "higher_is_better": bool|null, "n": int, "n_nan": int, ...}
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

SCHEMA_VERSION = 1
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


class Row(BaseModel):
    """One table row: a model, a baseline, the human-consistency row or a simulated observer."""

    model_config = ConfigDict(extra="allow")

    role: Literal["model", "baseline", "human", "observer"]
    n_predictions: int = Field(ge=0)
    metrics: dict[str, MetricValue]


class MetricsFile(BaseModel):
    """The whole ``metrics.json``."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
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

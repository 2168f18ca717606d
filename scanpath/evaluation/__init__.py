"""The one evaluation layer: predict → score → rows (``pipeline``), the flows that are not plain
(``protocols``), the one ``metrics.json`` schema and its renderers (``schema``, ``report``), and the
one checkpoint loader (``checkpoints``). Everything takes built objects, never a Hydra config."""

from scanpath.evaluation.checkpoints import CheckpointError, load_checkpoint_file, load_weights
from scanpath.evaluation.pipeline import Entry, evaluate_models, predict
from scanpath.evaluation.report import EvaluationResult, write_report
from scanpath.evaluation.schema import SchemaError, json_schema, metric_value, validate_metrics

__all__ = ["CheckpointError", "Entry", "EvaluationResult", "SchemaError", "evaluate_models", "json_schema",
           "load_checkpoint_file", "load_weights", "metric_value", "predict", "validate_metrics", "write_report"]

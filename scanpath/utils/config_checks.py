"""Type checks of the composed config before anything is built, so a mistyped value on the command
line (``trainer.max_epochs=abc``, ``seed=abc``) fails at once with the key and the value named,
instead of deep inside Lightning after data and model were loaded."""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf


class ConfigValueError(ValueError):
    """A config value of the wrong type or range (message names the key and the value)."""


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(float(v))


def _count_or_fraction(v: Any) -> bool:  # Lightning's limit_*_batches: an int count or a float fraction
    return _int(v) and v >= 0 or (isinstance(v, float) and 0.0 <= v <= 1.0)


#: key -> (check, what the key takes); None values always pass (null = the default behaviour)
CHECKS: dict[str, tuple[Any, str]] = {
    "seed": (_int, "an integer or null"),
    "n_figures": (lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "report.n_stimuli": (lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "human_consistency": (lambda v: isinstance(v, bool), "true or false"),
    "ckpt_path": (lambda v: isinstance(v, str), "a checkpoint path, `last` or null"),
    "device": (lambda v: isinstance(v, str), "a torch device string (cpu, cuda, cuda:1)"),
    "trainer.max_epochs": (lambda v: _int(v) and v >= -1, "an integer (-1 = no limit)"),
    "trainer.min_epochs": (lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "trainer.max_steps": (lambda v: _int(v) and v >= -1, "an integer (-1 = no limit)"),
    "trainer.limit_train_batches": (_count_or_fraction, "a batch count or a fraction in [0, 1]"),
    "trainer.limit_val_batches": (_count_or_fraction, "a batch count or a fraction in [0, 1]"),
    "trainer.limit_test_batches": (_count_or_fraction, "a batch count or a fraction in [0, 1]"),
    "trainer.check_val_every_n_epoch": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "trainer.log_every_n_steps": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "trainer.gradient_clip_val": (lambda v: _number(v) and v >= 0, "a non-negative number"),
    "trainer.accumulate_grad_batches": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "data.batch_size": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "data.num_workers": (lambda v: _int(v) and v >= 0, "a non-negative integer"),
}


def check_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigValueError` for the first checked key whose value has the wrong type."""
    for key, (ok, what) in CHECKS.items():
        try:
            value = OmegaConf.select(cfg, key, throw_on_missing=False)
        except Exception as exc:  # an interpolation that cannot resolve
            raise ConfigValueError(f"config key {key}: cannot be resolved ({exc})") from exc
        if value is None or OmegaConf.is_config(value):
            continue
        if not ok(value):
            raise ConfigValueError(f"config key {key}={value!r}: expected {what} "
                                   f"(got {type(value).__name__}); fix it on the command line or in conf/")

"""The settings of NeVA / NevaClip, written down once (docs/nevaclip.md §2.2, §2.3).

:class:`SearchParams` is the optimised-mode fixation search (NevaClip, NeVA-OPT); :class:`NevaParams`
is the trained mode. The Lightning modules take the Hydra keys a user types (``model.n_fixations=…``)
as keyword arguments and build one of these with :meth:`~SearchParams.from_kwargs`, which names any
unknown key; the torch models read the same object, so no argument list is restated between them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import torch

P = TypeVar("P", bound="_Params")

AUTOCAST = {"fp32": None, "amp_bf16": torch.bfloat16, "amp_fp16": torch.float16}


class _Params:
    """``from_kwargs``: the dataclass from user keys, with aliases and a clear error for unknown keys."""

    #: alternative key → field; a ``None`` value of an alias means "not set"
    ALIASES: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_kwargs(cls: type[P], owner: str, defaults: Mapping[str, Any] | None = None, **kwargs: Any) -> P:
        """Build from keyword arguments; ``defaults`` override the dataclass defaults (e.g. NeVA-OPT's).

        Raises :class:`TypeError` naming every unknown key and listing the valid ones.
        """
        valid = cls.keys()
        unknown = sorted(k for k in kwargs if k not in valid and k not in cls.ALIASES)
        if unknown:
            raise TypeError(
                f"{owner}: unknown setting(s) {', '.join(map(repr, unknown))}; valid keys are "
                f"{', '.join(valid + sorted(cls.ALIASES))}"
            )
        values = dict(defaults or {})
        values.update({k: v for k, v in kwargs.items() if k in valid})
        for alias, target in cls.ALIASES.items():
            if kwargs.get(alias) is not None:
                values[target] = kwargs[alias]
        return cls(**values)  # type: ignore[call-arg]

    def replace(self: P, **changes: Any) -> P:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class SearchParams(_Params):
    """Optimised-mode search (docs/nevaclip.md §2.2). Defaults are NevaClip's (upstream ``main.py``).

    ``position_clip`` is the clamp of the fixed mode (Q2), ``upstream_position_clip`` the clamp with
    ``upstream_quirks`` (NevaClip: none; NeVA-OPT: ±2.5). ``faithful`` is an alias of
    ``upstream_quirks``; the torch-level names ``clip`` / ``upstream_clip`` of
    :class:`~scanpath.models.neva.torch_model.NevaOptimizer` are accepted there only.
    """

    n_fixations: int = 10
    n_iter: int = 20
    lr: float = 0.1
    n_candidates: int = 1
    sigma_f: float = 0.2
    blur_k: int = 41
    blur_sigma: float = 10.0
    noise: float = 0.0
    forgetting: float = 0.0
    levels: int = 1
    restart: str = "uniform"
    position_clip: float | None = 1.0
    upstream_position_clip: float | None = None
    upstream_quirks: bool = False
    seed: int = 0
    chunk_size: int | None = None
    precision: str = "fp32"

    ALIASES: ClassVar[Mapping[str, str]] = {"faithful": "upstream_quirks"}

    def __post_init__(self) -> None:
        if self.restart not in ("uniform", "jitter", "none"):
            raise ValueError(f"restart must be 'uniform', 'jitter' or 'none', got {self.restart!r}")
        if self.n_candidates < 1 or self.n_iter < 1 or self.n_fixations < 1:
            raise ValueError("n_candidates, n_iter and n_fixations must be >= 1")
        if self.precision not in AUTOCAST:
            raise ValueError(f"precision must be one of {sorted(AUTOCAST)}, got {self.precision!r}")
        for name in ("n_fixations", "n_iter", "n_candidates", "blur_k", "levels", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("lr", "sigma_f", "blur_sigma", "noise", "forgetting"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "upstream_quirks", bool(self.upstream_quirks))

    @property
    def clip_value(self) -> float | None:
        """Position clamp in effect: ``upstream_position_clip`` with quirks, else ``position_clip``."""
        return self.upstream_position_clip if self.upstream_quirks else self.position_clip

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return AUTOCAST[self.precision]


@dataclass(frozen=True)
class NevaParams(_Params):
    """Trained mode (docs/nevaclip.md §2.3): attention net, frozen downstream, glimpse loop, validation.

    ``downstream``: ``reconstruction`` | ``classifier`` | ``clip`` (``clip`` = CLIP factory kwargs).
    ``classifier_ckpt``: a state dict (or Lightning checkpoint) of the classifier; without it a
    :class:`~scanpath.models.neva.torch_model.SmallClassifier` is fitted for ``classifier_fit_steps``.
    """

    downstream: str = "reconstruction"
    input_size: int = 64
    resize_mode: str = "longest"
    n_glimpses: int = 8
    n_glimpses_eval: int = 10
    sigma_f: float = 0.15
    forgetting: float = 0.8
    noise: float = 0.15
    blur_k: int = 41
    blur_sigma: float = 10.0
    step_per_glimpse: bool = True
    upstream_quirks: bool = False
    val_blur_k: int = 41
    val_blur_sigma: float = 35.0
    val_sigma_f: float = 0.15
    label_key: str = "label"
    num_classes: int | None = None
    classifier_ckpt: str | None = None
    classifier_fit_steps: int = 200
    clip: Mapping[str, Any] | None = None
    duration_ms: float | None = None

    DOWNSTREAMS: ClassVar[tuple[str, ...]] = ("reconstruction", "classifier", "clip")

    def __post_init__(self) -> None:
        if self.downstream not in self.DOWNSTREAMS:
            raise ValueError(f"downstream must be reconstruction, classifier or clip, got {self.downstream!r}")
        for name in ("input_size", "n_glimpses", "n_glimpses_eval", "blur_k", "val_blur_k", "classifier_fit_steps"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("sigma_f", "forgetting", "noise", "blur_sigma", "val_blur_sigma", "val_sigma_f"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "step_per_glimpse", bool(self.step_per_glimpse))
        object.__setattr__(self, "upstream_quirks", bool(self.upstream_quirks))
        if self.clip is not None:
            object.__setattr__(self, "clip", dict(self.clip))

    @property
    def train_blur_sigma(self) -> float:
        """Q9: old NeVA training ignored ``blur_sigma`` and always blurred with σ 5."""
        return 5.0 if self.upstream_quirks else self.blur_sigma

"""Exact resume (issue 16 item 13): a run killed and resumed from a checkpoint trains like one never stopped.

Two kinds of state decide what an epoch does besides the weights, the optimiser and the LR schedule
(which Lightning checkpoints itself):

* **Data order.** :class:`EpochShuffle` draws epoch *e*'s permutation from a generator seeded by
  ``(seed, e)`` — not from the global RNG, whose position at the start of an epoch differs between a
  run that went through the previous epoch and one that loaded it. :class:`ResumableLoader` is a
  DataLoader with ``state_dict`` / ``load_state_dict`` (Lightning stores it in the checkpoint's loop
  state) that records how many batches of the epoch were handed out, so a mid-epoch resume skips
  them in the sampler instead of restarting the epoch.
* **Global RNG streams** (dropout, anything drawing from ``torch`` / ``numpy`` / ``random``):
  :class:`ResumeState` saves them (and the loader position) with every checkpoint and puts them back
  when training restarts (``on_train_start``), as plain containers so the checkpoint still loads
  with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler


def mix_seed(seed: int, *parts: Any) -> int:
    """Stable 63-bit seed from ``seed`` and labels (independent of Python's hash randomisation)."""
    text = "|".join(str(p) for p in (int(seed), *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def default_shuffle_seed() -> int:
    """The run's torch seed (``seed_everything(seed)`` sets it), so the data order follows ``seed``."""
    return int(torch.initial_seed())


class EpochShuffle(Sampler[int]):
    """Permutation of ``range(n)`` that depends on ``(seed, epoch)`` only.

    Lightning calls :meth:`set_epoch` before each epoch (as for a ``DistributedSampler``). ``skip`` leading
    indices are dropped from the next iteration only (a mid-epoch resume)."""

    def __init__(self, n: int, seed: int | None = None) -> None:
        self.n = int(n)
        self.seed = default_shuffle_seed() if seed is None else int(seed)
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def permutation(self) -> list[int]:
        gen = torch.Generator().manual_seed(mix_seed(self.seed, "shuffle", self.epoch))
        return torch.randperm(self.n, generator=gen).tolist()

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        start, self.skip = self.skip, 0
        return iter(self.permutation()[start:])


def _epoch_sampler(loader: DataLoader) -> Any:
    """The loader's :class:`EpochShuffle` (its sampler, or its batch sampler's), else None."""
    for obj in (getattr(loader.batch_sampler, "sampler", None), loader.sampler):
        if isinstance(obj, EpochShuffle):
            return obj
    return None


class ResumableLoader(DataLoader):
    """DataLoader whose place in the epoch is checkpointed (Lightning's stateful-loader protocol).

    ``state_dict`` = ``{"epoch", "batches", "seed"}``: batches handed out so far in the current epoch.
    After ``load_state_dict`` the next iteration of that epoch skips those batches — in the batch
    sampler when it has a ``skip`` attribute (:class:`~scanpath.datamodules.object_layout.LayoutGroupedBatches`),
    else ``batches × batch_size`` indices of the :class:`EpochShuffle`. Worker seeds come from the
    loader's own generator, seeded per epoch, so iterating never draws from the global RNG."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("generator", torch.Generator())
        super().__init__(*args, **kwargs)
        self._served = 0
        self._resume: dict[str, int] | None = None

    def _epoch(self) -> int:
        sampler = _epoch_sampler(self)
        return int(sampler.epoch) if sampler is not None else 0

    def _skip(self, batches: int) -> bool:
        if hasattr(self.batch_sampler, "skip"):
            self.batch_sampler.skip = batches
            return True
        sampler = _epoch_sampler(self)
        if sampler is not None and self.batch_size is not None:
            sampler.skip = batches * int(self.batch_size)
            return True
        return False

    def state_dict(self) -> dict[str, int]:
        sampler = _epoch_sampler(self)
        return {"epoch": self._epoch(), "batches": int(self._served),
                "seed": int(sampler.seed) if sampler is not None else -1}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = {k: int(v) for k, v in state.items()}
        sampler = _epoch_sampler(self)
        if sampler is not None and self._resume.get("seed", -1) >= 0:
            sampler.seed = self._resume["seed"]  # keep the interrupted run's order

    def __iter__(self) -> Iterator[Any]:
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        # a generator: runs at the first next(), after Lightning's set_epoch for this epoch
        epoch = self._epoch()
        resume, self._resume = self._resume, None
        served = resume["batches"] if resume and resume.get("epoch") == epoch else 0
        if served and not self._skip(served):
            served = 0
        self._served = served
        sampler = _epoch_sampler(self)
        if self.generator is not None and sampler is not None:
            self.generator.manual_seed(mix_seed(sampler.seed, "workers", epoch))
        for batch in super().__iter__():
            self._served += 1
            yield batch


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def collect_rng_states() -> dict[str, Any]:
    """torch (CPU and every CUDA device), numpy and Python ``random`` states as weights-only-safe data."""
    version, internal, gauss_next = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": {"version": int(version), "state": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`collect_rng_states` (missing entries are left as they are)."""
    if "torch" in states:
        torch.set_rng_state(states["torch"].cpu())
    if "numpy" in states:
        s = states["numpy"]
        np.random.set_state((s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"], s["gauss"]))
    if "python" in states:
        p = states["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def _train_loaders(trainer: pl.Trainer) -> list[ResumableLoader]:
    loaders = getattr(trainer, "train_dataloader", None)
    if isinstance(loaders, dict):
        loaders = list(loaders.values())
    elif not isinstance(loaders, (list, tuple)):
        loaders = [loaders]
    return [dl for dl in loaders if isinstance(dl, ResumableLoader)]


class ResumeState(pl.Callback):
    """Saves the global RNG states and the training loader's position in every checkpoint; a resumed fit
    puts them back at ``on_train_start``.

    Restoring there rather than at load time keeps anything between loading and training (the
    sanity check, building loaders) from shifting the streams; in an uninterrupted run nothing draws
    from them between a checkpoint and the next training batch either (validation runs in eval mode,
    OAT's decoding uses its own seeded generators). The loader position is applied here too because
    Lightning's own loader-state restore is skipped when the loader was built before the checkpoint
    was read (OAT's cosine schedule asks for ``estimated_stepping_batches`` in ``configure_optimizers``)."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "_trainer", None)
        loaders = [dl.state_dict() for dl in _train_loaders(trainer)] if trainer is not None else []
        return {"rng": collect_rng_states(), "loaders": loaders}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pending, self._pending = self._pending, None
        if not pending:
            return
        loaders = _train_loaders(trainer)
        saved = pending.get("loaders") or []
        if len(saved) == len(loaders):
            for dl, state in zip(loaders, saved):
                dl.load_state_dict(state)
        if pending.get("rng"):
            set_rng_states(pending["rng"])

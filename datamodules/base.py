"""Base LightningDataModule shared by every dataset.

A subclass implements :meth:`ScanpathDataModule.load_samples`, returning one dict per human
scanpath (a *sample*). Required keys: ``"scanpath"`` (:class:`scanpath.types.Scanpath`, pixels of
the original stimulus) and ``"stimulus"`` (id string). Optional keys used by models: ``"image"``
(float tensor ``[3, H, W]`` in [0, 1]), ``"image_size"`` ((W, H)), ``"task"``, plus any
family-specific fields (OAT: ``"boxes"``, ``"grid"``, ``"target_index"``, ``"crops"`` …), which
:func:`scanpath.batch.collate_samples` stacks when they are tensors of equal shape and lists otherwise.

Splits are made **by stimulus** (all scanpaths of a stimulus land in one split) from a seeded
permutation, so results are reproducible and no stimulus leaks between train and test.
``predict_dataloader`` yields one sample per evaluation key of the test split (the first human
scanpath stands in as the "query" record; models must not read its fixations).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from scanpath.batch import collate_samples
from scanpath.types import Scanpath, scanpath_key
from scanpath.utils.resume import EpochShuffle, ResumableLoader

SPLITS = ("train", "val", "test")


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1


class SampleDataset(Dataset):
    """A list of sample dicts as a torch Dataset."""

    def __init__(self, samples: Sequence[dict[str, Any]]) -> None:
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.samples[i]


def split_by_stimulus(
    stimuli: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, set[str]]:
    """Seeded split of unique stimulus ids into train/val/test at ⌊f·n⌋ cut points."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    unique = sorted(set(stimuli))
    order = np.random.default_rng(seed).permutation(len(unique))
    n = len(unique)
    a = int(np.floor(fractions[0] * n))
    b = int(np.floor((fractions[0] + fractions[1]) * n))
    return {
        "train": {unique[i] for i in order[:a]},
        "val": {unique[i] for i in order[a:b]},
        "test": {unique[i] for i in order[b:]},
    }


class ScanpathDataModule(pl.LightningDataModule):
    """Loads samples once, splits them by stimulus, serves train/val/test/predict loaders."""

    #: Shown in logs and metric tables; synthetic datasets set ``synthetic = True``.
    name: str = "dataset"
    synthetic: bool = False
    #: The sample keys the run's models read (None = not declared: serve everything); see
    #: :meth:`require_sample_keys`.
    required_sample_keys: frozenset[str] | None = None
    #: Keep only the first n evaluation keys of the test split (:meth:`limit_test_queries`; None = all).
    test_query_limit: int | None = None

    def __init__(
        self,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        eval_key: str = "stimulus",
        invalid_policy: str = "error",
    ) -> None:
        super().__init__()
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.split_fractions = tuple(float(f) for f in split_fractions)
        self.split_seed = int(split_seed)
        self.eval_key = eval_key
        self.invalid_policy = invalid_policy
        self._splits: dict[str, list[dict[str, Any]]] | None = None

    # ------------------------------------------------------------------ subclass API
    def load_samples(self) -> list[dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def split_samples(self, samples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Default: split by stimulus id. Subclasses may override (e.g. OAT's trial split)."""
        parts = split_by_stimulus([s["stimulus"] for s in samples], self.split_fractions, self.split_seed)
        return {name: [s for s in samples if s["stimulus"] in ids] for name, ids in parts.items()}

    # ------------------------------------------------------------------ lightning hooks
    def setup(self, stage: str | None = None) -> None:
        if self._splits is None:
            self._splits = self.split_samples(self.load_samples())

    def samples(self, split: str) -> list[dict[str, Any]]:
        if split not in SPLITS and split != "all":
            raise ValueError(f"unknown split {split!r}; use one of {SPLITS} or 'all'")
        self.setup()
        assert self._splits is not None
        if split == "all":
            return [s for name in SPLITS for s in self._splits[name]]
        if split == "test" and self.test_query_limit is not None:
            return self._limited_test()
        return self._splits[split]

    def limit_test_queries(self, n: int | None) -> int:
        """Restrict the test split to its first ``n`` evaluation keys in split order (every sample of a
        kept key stays: its humans are the reference), so every model, baseline and the human row of a
        run see the same smaller set (``leaderboard.max_queries``). ``None`` restores the full split.
        Returns the number of test keys before the limit."""
        if n is not None and int(n) < 1:
            raise ValueError(f"the query limit must be >= 1 (or null for all), got {n}")
        self.test_query_limit = None
        total = len(dict.fromkeys(scanpath_key(s["scanpath"], self.eval_key) for s in self.samples("test")))
        self.test_query_limit = None if n is None else int(n)
        self._limited: list[dict[str, Any]] | None = None
        return total

    def _limited_test(self) -> list[dict[str, Any]]:
        cached = getattr(self, "_limited", None)
        if cached is None:
            assert self._splits is not None and self.test_query_limit is not None
            keys = dict.fromkeys(scanpath_key(s["scanpath"], self.eval_key) for s in self._splits["test"])
            keep = set(list(keys)[:self.test_query_limit])
            cached = self._limited = [s for s in self._splits["test"]
                                      if scanpath_key(s["scanpath"], self.eval_key) in keep]
        return cached

    def human_scanpaths(self, split: str = "test") -> list[Scanpath]:
        return [s["scanpath"] for s in self.samples(split)]

    def query_samples(self, split: str = "test") -> list[dict[str, Any]]:
        """One sample per evaluation key (the first of each key, in a stable order)."""
        seen: dict[str, dict[str, Any]] = {}
        for s in self.samples(split):
            seen.setdefault(scanpath_key(s["scanpath"], self.eval_key), s)
        return list(seen.values())

    def require_sample_keys(self, keys: Iterable[str] | None) -> None:
        """Which sample keys the models of this run read (``None``: not known, serve all). Datamodules
        whose samples carry heavy, lazily computed fields (object layouts: ``image``, ``crops``) leave
        the unread ones out of their loaders; the others serve everything as before."""
        self.required_sample_keys = None if keys is None else frozenset(str(k) for k in keys)

    def make_dataset(self, samples: list[dict[str, Any]]) -> Dataset:
        """Samples -> the dataset a loader serves (subclasses load heavy fields such as images lazily)."""
        return SampleDataset(samples)

    def _loader(self, samples: list[dict[str, Any]], shuffle: bool) -> DataLoader:
        """Evaluation loaders keep the split order; the training loader is a :class:`ResumableLoader`
        over an :class:`EpochShuffle` (epoch *e*'s order from ``(seed, e)``, so resuming reproduces
        it). Under DDP Lightning swaps ``shuffle=True`` for its ``DistributedSampler`` (also seeded
        per epoch)."""
        dataset = self.make_dataset(samples)
        if shuffle and not _distributed():
            return ResumableLoader(dataset, batch_size=self.batch_size, sampler=EpochShuffle(len(dataset)),
                                   num_workers=self.num_workers, pin_memory=self.pin_memory,
                                   collate_fn=collate_samples, persistent_workers=self.num_workers > 0)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=torch.Generator(),  # iterating draws no number from the global RNG
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            collate_fn=collate_samples,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.samples("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.samples("val"), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.samples("test"), shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.query_samples("test"), shuffle=False)

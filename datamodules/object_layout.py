"""Shared base for object-grid datamodules (search arrays, Amazon book covers, shelves).

A subclass implements :meth:`ObjectLayoutDataModule.load_trials` (canonical
:class:`~scanpath.io.object_trial.ObjectTrial` records, file order) and, in image mode,
:meth:`ObjectLayoutDataModule.make_store` (a :class:`LayoutStore` that computes a layout's crops /
image on demand). Each sample dict carries the object-layout keys of the team contract:

``scanpath`` (raw pixels, ``task`` = target id, ``fixation_extra["object"]``), ``stimulus`` (layout id),
``task`` (target id), ``grid`` (R, C), ``boxes`` float32 ``[N, 4]`` (x0, y0, x1, y1) row-major,
``target_index``, ``trial_id``, ``synthetic``, ``image_size`` (W, H), ``layout_id``, ``subject``,
``dataset``; in image mode also ``crops`` ``[N, 3, 150, 93]`` and ``target_crop`` ``[3, 150, 93]`` in
[0, 1], and ``image`` ``[3, H, W]`` in [0, 1] when ``include_image`` is set.

The heavy tensors are computed lazily (and LRU-cached per layout) when a sample's key is read, so
1,000 search arrays or 100 full-resolution collages do not sit in memory; ``dict(sample)``
materialises everything.

Splits (docs/oat.md §3.4), chosen by ``split``:

* ``trial`` — seeded permutation of the trials, cut at ⌊0.8n⌋ and ⌊0.9n⌋ (upstream default);
* ``layout`` — grouped by layout (no layout in two splits);
* ``pair`` — the (layout, target) pairs in ``test_pairs`` are the test set; the other trials are
  permuted, ⌊0.8n⌋…⌊0.9n⌋ is validation and the rest (including the 90–100 % slice) training;
* ``split_file`` — a text file of record indices (upstream ``splitlist_*.txt``, one per line) into the
  filtered records gives the order before the cuts.

The evaluation key is the trial's (layout, target): ``eval_key="task"`` (``scanpath_key`` =
``"-<target>-<layout>"``), so all subjects of one layout/target in a split form its human reference.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torch.utils.data import DataLoader, Dataset, Sampler

from scanpath.datamodules.base import ScanpathDataModule, _distributed, split_by_stimulus
from scanpath.batch import collate_samples
from scanpath.datamodules.lazy import LazySample
from scanpath.errors import ScanpathDataError
from scanpath.io.object_trial import CROP_HW, ObjectTrial
from scanpath.utils.lru import LruCache
from scanpath.utils.resume import EpochShuffle, ResumableLoader

log = logging.getLogger(__name__)

SPLIT_MODES = ("trial", "layout", "pair", "split_file")
HEAVY_KEYS = ("crops", "target_crop", "image")


class LayoutStore:
    """Computes a layout's heavy tensors (``crops``, optionally ``image``) on demand; LRU cache.

    Subclasses implement :meth:`compute`. The cache is not pickled (DataLoader workers rebuild it).
    """

    def __init__(self, include_image: bool = False, cache_size: int = 32) -> None:
        self.include_image = bool(include_image)
        self.cache_size = int(cache_size)
        self._cache: LruCache[dict[str, torch.Tensor]] = LruCache(self.cache_size)

    def compute(self, layout_id: str) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def get(self, layout_id: str) -> dict[str, torch.Tensor]:
        return self._cache.get_or_compute(layout_id, lambda: self.compute(layout_id))

    def fetch(self, layout_id: str, key: str) -> torch.Tensor:
        """One heavy field of a layout (subclasses may serve some fields from a cheaper cache)."""
        return self.get(layout_id)[key]

    def release(self) -> None:
        """Forget every cached tensor (they are recomputed on the next read)."""
        self._cache.clear()


class ObjectSample(LazySample):
    """A sample dict whose ``crops`` / ``target_crop`` / ``image`` come from a :class:`LayoutStore`
    when first read (not kept in the sample). Behaves like a plain ``dict`` otherwise."""

    __slots__ = ()

    def __init__(self, data: dict[str, Any], store: LayoutStore | None = None) -> None:
        super().__init__(data, store)

    def _lazy_keys(self) -> tuple[str, ...]:
        if self._store is None:
            return ()
        return ("crops", "target_crop", "image") if self._store.include_image else ("crops", "target_crop")

    def _load(self, key: str) -> Any:
        if key == "target_crop":
            return self._store.fetch(self._data["layout_id"], "crops")[self._data["target_index"]]
        return self._store.fetch(self._data["layout_id"], key)


class _WithoutKeys(Dataset):
    def __init__(self, samples: Sequence[Any], exclude: Sequence[str]) -> None:
        self.samples, self.exclude = samples, frozenset(exclude)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.samples[i]
        return {k: s[k] for k in s if k not in self.exclude}


class LayoutGroupedBatches(Sampler[list[int]]):
    """Training batches that keep the trials of one layout together: layouts are shuffled, their trials
    concatenated and cut into batches of ``batch_size``. The observers of a layout share crops and
    encoder input, so OAT's CNN and encoder then run on ≈ batch_size / observers layouts per step
    instead of batch_size.

    The layout order of epoch *e* comes from ``sampler`` (an :class:`~scanpath.utils.resume.EpochShuffle`
    over the layouts, seeded by ``(seed, e)``; Lightning calls its ``set_epoch``), so a resumed run sees
    the same batches as an uninterrupted one; ``skip`` leading batches are dropped from the next
    iteration only (mid-epoch resume, :class:`~scanpath.utils.resume.ResumableLoader`)."""

    def __init__(self, layout_ids: Sequence[str], batch_size: int, shuffle: bool = True,
                 seed: int | None = None) -> None:
        groups: dict[str, list[int]] = {}
        for i, lid in enumerate(layout_ids):
            groups.setdefault(lid, []).append(i)
        self.groups = list(groups.values())
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.sampler = EpochShuffle(len(self.groups), seed) if shuffle else None
        self.skip = 0
        self.n = len(layout_ids)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self):
        order = self.sampler.permutation() if self.sampler is not None else range(len(self.groups))
        flat = [i for g in order for i in self.groups[g]]
        start, self.skip = self.skip * self.batch_size, 0
        for a in range(start, len(flat), self.batch_size):
            yield flat[a : a + self.batch_size]


def read_split_file(path: str | Path, n: int) -> np.ndarray:
    """Indices (one integer per line/token) into the ``n`` filtered records; validated."""
    path = Path(path)
    if not path.is_file():
        raise ScanpathDataError("split file not found", file=str(path))
    idx = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        for tok in line.replace(",", " ").split():
            try:
                v = int(tok)
            except ValueError:
                raise ScanpathDataError(f"not an integer: {tok!r}", file=str(path), record=f"line {lineno}", field="index") from None
            if not 0 <= v < n:
                raise ScanpathDataError(
                    f"index {v} outside the {n} filtered records", file=str(path), record=f"line {lineno}", field="index"
                )
            idx.append(v)
    arr = np.asarray(idx, dtype=np.int64)
    if len(np.unique(arr)) != len(arr):
        raise ScanpathDataError("repeated record index", file=str(path), field="index")
    return arr


def _cuts(n: int, fractions: Sequence[float]) -> tuple[int, int]:
    a = int(np.floor(fractions[0] * n))
    b = int(np.floor((fractions[0] + fractions[1]) * n))
    return a, b


class ObjectLayoutDataModule(ScanpathDataModule):
    """Base datamodule for object-grid search data (see module docstring)."""

    name = "object_layout"

    def __init__(
        self,
        split: str = "trial",
        split_file: str | None = None,
        test_pairs: Sequence[Sequence[str]] | None = None,
        batch_size: int = 20,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 1234,
        eval_key: str = "task",
        invalid_policy: str = "error",
        include_image: bool = False,
        cache_size: int = 32,
        group_layouts: bool = False,
        loader_exclude: Sequence[str] = (),
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            split_fractions=split_fractions,
            split_seed=split_seed,
            eval_key=eval_key,
            invalid_policy=invalid_policy,
        )
        if split not in SPLIT_MODES:
            raise ValueError(f"split must be one of {SPLIT_MODES}, got {split!r}")
        if split == "split_file" and not split_file:
            raise ValueError("split='split_file' needs split_file=<path>")
        if split == "pair" and not test_pairs:
            raise ValueError("split='pair' needs test_pairs=[[layout_id, target_id], …]")
        self.split = split
        self.split_file = split_file
        self.test_pairs = [tuple(str(v) for v in p) for p in (test_pairs or [])]
        self.include_image = bool(include_image)
        self.cache_size = int(cache_size)
        self.group_layouts = bool(group_layouts)
        self.loader_exclude = tuple(str(k) for k in (loader_exclude or ()))
        self.trials: list[ObjectTrial] = []
        self.store: LayoutStore | None = None

    # ------------------------------------------------------------------ subclass API
    def load_trials(self) -> list[ObjectTrial]:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_store(self, trials: list[ObjectTrial]) -> LayoutStore | None:
        """Image mode: a store computing crops (and image); ``None`` = layout-only mode."""
        return None

    @property
    def crop_hw(self) -> tuple[int, int]:
        """(H, W) of the object crops served in image mode (150×93 as published)."""
        return CROP_HW

    def excluded_keys(self) -> tuple[str, ...]:
        """Keys the loaders leave out: ``loader_exclude`` plus every heavy key (:data:`HEAVY_KEYS`)
        that no model of the run reads (:meth:`require_sample_keys`)."""
        unread = () if self.required_sample_keys is None else \
            tuple(k for k in HEAVY_KEYS if k not in self.required_sample_keys)
        return tuple(dict.fromkeys((*self.loader_exclude, *unread)))

    def make_dataset(self, samples: list[dict[str, Any]]) -> Dataset:
        """The loaders' dataset; :meth:`excluded_keys` (e.g. ``image`` that OAT and the centre-bias
        model never read) are left out, so they are neither rendered into the batch nor stacked."""
        exclude = self.excluded_keys()
        if not exclude:
            return super().make_dataset(samples)
        return _WithoutKeys(samples, exclude)

    def display_samples(self, split: str = "test") -> list[dict[str, Any]]:
        """One lazy sample per evaluation key, for figures and the report: a stimulus image is
        rendered only for the stimuli drawn, also when the loaders leave it out."""
        return self.query_samples(split)

    def teardown(self, stage: str | None = None) -> None:
        """After ``fit`` the cached crops / images of the training and validation layouts are dropped
        (:meth:`LayoutStore.release`): the test run and the end-of-run evaluation read the test
        layouts, so ≈ 280 MB of uint8 crops (1,000 search arrays) would otherwise sit idle beside them."""
        if stage == "fit" and self.store is not None:
            self.store.release()

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches; with ``group_layouts`` the trials of a layout stay together
        (:class:`LayoutGroupedBatches`; single process only — under DDP Lightning's distributed
        sampler shards plain shuffled batches). Resumable mid-epoch (:class:`ResumableLoader`)."""
        if not self.group_layouts or _distributed():
            return super().train_dataloader()
        samples = self.samples("train")
        return ResumableLoader(
            self.make_dataset(samples),
            batch_sampler=LayoutGroupedBatches([s["layout_id"] for s in samples], self.batch_size),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            collate_fn=collate_samples,
            persistent_workers=self.num_workers > 0,
        )

    @property
    def layout_only(self) -> bool:
        """True when samples carry no crops (OAT then uses its learned-embedding deviation)."""
        self.setup()
        return self.store is None

    @property
    def grids(self) -> list[tuple[int, int]]:
        """Distinct grids (R, C) in the data, in order of first appearance."""
        self.setup()
        return list(dict.fromkeys(tuple(t.grid) for t in self.trials))

    @property
    def grid(self) -> tuple[int, int]:
        """The grid (R, C); an error when the data mixes grids (use ``grids``)."""
        grids = self.grids
        if len(grids) > 1:
            raise ValueError(f"{self.name} mixes grids {grids}; select one layout type (e.g. data.prefixes)")
        return grids[0] if grids else (0, 0)

    @property
    def max_len(self) -> int:
        """Longest scanpath of the training split (OAT's decoding cap)."""
        return max((len(s["scanpath"]) for s in self.samples("train")), default=0)

    # ------------------------------------------------------------------ samples
    def load_samples(self) -> list[dict[str, Any]]:
        self.trials = self.load_trials()
        self.store = self.make_store(self.trials)
        if self.synthetic:
            log.warning("%s: SYNTHETIC — not human data", self.name)
        grids = sorted({tuple(t.grid) for t in self.trials})
        if len(grids) > 1:
            log.warning("%s: layouts with different grids %s in one datamodule; object tensors are then "
                        "collated as lists, not stacked", self.name, grids)
        boxes_cache: dict[int, torch.Tensor] = {}
        samples: list[dict[str, Any]] = []
        for t in self.trials:
            key = id(t.boxes)  # trials of one layout share their boxes array
            if key not in boxes_cache:
                boxes_cache[key] = torch.as_tensor(t.boxes, dtype=torch.float32)
            data = {
                "scanpath": t.to_scanpath(),
                "stimulus": t.layout_id,
                "task": t.target_id,
                "layout_id": t.layout_id,
                "subject": t.subject_id,
                "dataset": t.dataset,
                "trial_id": t.trial_id,
                "grid": tuple(t.grid),
                "boxes": boxes_cache[key],
                "target_index": int(t.target),
                "image_size": tuple(t.image_size),
                "synthetic": bool(t.synthetic),
            }
            samples.append(ObjectSample(data, self.store))
        return samples

    # ------------------------------------------------------------------ splits
    def split_samples(self, samples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        n = len(samples)
        fr = self.split_fractions
        if self.split == "layout":
            parts = split_by_stimulus([s["layout_id"] for s in samples], fr, self.split_seed)
            return {k: [s for s in samples if s["layout_id"] in ids] for k, ids in parts.items()}
        if self.split == "pair":
            pairs = set(self.test_pairs)
            found = {(s["layout_id"], s["task"]) for s in samples} & pairs
            missing = pairs - found
            if missing:
                raise ScanpathDataError(f"test pair(s) {sorted(missing)} match no trial", field="test_pairs")
            test = [s for s in samples if (s["layout_id"], s["task"]) in pairs]
            rest = [s for s in samples if (s["layout_id"], s["task"]) not in pairs]
            order = np.random.default_rng(self.split_seed).permutation(len(rest))
            a, b = _cuts(len(rest), fr)
            return {
                "train": [rest[i] for i in np.concatenate([order[:a], order[b:]])],
                "val": [rest[i] for i in order[a:b]],
                "test": test,
            }
        if self.split == "split_file":
            order = read_split_file(self.split_file, n)  # type: ignore[arg-type]
            if len(order) < n:
                log.warning("split file %s lists %d of %d records; the others are unused", self.split_file, len(order), n)
        else:
            order = np.random.default_rng(self.split_seed).permutation(n)
        a, b = _cuts(len(order), fr)
        return {
            "train": [samples[i] for i in order[:a]],
            "val": [samples[i] for i in order[a:b]],
            "test": [samples[i] for i in order[b:]],
        }

"""SYNTHETIC search-array datamodule (default ``data=search_arrays``; no download needed).

Layouts and simulated-observer scanpaths come from :mod:`scanpath.stimuli.search_arrays`, generated
on the fly (≈0.7 s for 1,000 layouts × 3 observers on one CPU core) and bit-identical per ``seed``;
images and object crops are rendered lazily per layout. Every sample has ``synthetic=True`` and the
datamodule logs "SYNTHETIC — not human data". Default split: by layout, 80/10/10 (docs/oat.md §3.3).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from scanpath.datamodules.object_layout import LayoutStore, ObjectLayoutDataModule
from scanpath.io.object_trial import CROP_HW, ObjectTrial
from scanpath.stimuli.search_arrays import ArrayConfig, ObserverConfig, SearchLayout, generate_search_arrays, layout_tensors

log = logging.getLogger(__name__)


class SearchArrayStore(LayoutStore):
    """Renders a layout's crops (and image) on demand."""

    def __init__(
        self, layouts: Mapping[str, SearchLayout], include_image: bool, cache_size: int,
        crop_hw: tuple[int, int] = CROP_HW,
        keep_crops: bool = False,
    ) -> None:
        super().__init__(include_image, cache_size)
        self.layouts = dict(layouts)
        self.crop_hw = (int(crop_hw[0]), int(crop_hw[1]))
        self.keep_crops = bool(keep_crops)
        self._crops_u8: dict[str, torch.Tensor] = {}

    def fetch(self, layout_id: str, key: str) -> torch.Tensor:
        """``crops`` from the all-layout uint8 cache when ``keep_crops`` (rendered once per run,
        not once per epoch); other fields (the image) from the LRU cache."""
        if key == "crops" and self.keep_crops:
            u8 = self._crops_u8.get(layout_id)
            if u8 is None:
                u8 = self._crops_u8[layout_id] = self._to_u8(self._render(layout_id, with_image=False)["crops"])
            return u8.to(torch.float32).mul_(1.0 / 255.0)
        value = super().fetch(layout_id, key)
        if key == "image" and value.dtype == torch.uint8:  # cached as uint8 (4× less memory, lossless)
            return value.to(torch.float32).mul_(1.0 / 255.0)
        return value

    def release(self) -> None:
        """Forget the LRU cache and the all-layout uint8 crops (re-rendered when read again)."""
        super().release()
        self._crops_u8.clear()

    @staticmethod
    def _to_u8(crops: torch.Tensor) -> torch.Tensor:
        return crops.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)

    def compute(self, layout_id: str) -> dict[str, torch.Tensor]:
        """What the LRU cache keeps for a layout: the image as uint8 (it is a uint8 raster divided by
        255, so this is lossless; :meth:`fetch` converts back) and the crops (only when they do not
        live in the all-layout uint8 cache)."""
        out = self._render(layout_id)
        if self.keep_crops:
            self._crops_u8.setdefault(layout_id, self._to_u8(out.pop("crops")))
        if "image" in out:
            out["image"] = self._to_u8(out["image"])
        return out

    def _render(self, layout_id: str, with_image: bool | None = None) -> dict[str, torch.Tensor]:
        with_image = self.include_image if with_image is None else with_image
        image, crops = layout_tensors(self.layouts[layout_id], with_image=with_image)
        t = torch.from_numpy(crops)
        if self.crop_hw != tuple(t.shape[-2:]):  # area-average the 150×93 crops (values stay in [0, 1])
            t = F.interpolate(t, size=self.crop_hw, mode="area").contiguous()
        out = {"crops": t}
        if image is not None:
            out["image"] = torch.from_numpy(image)
        return out


class SearchArraysDataModule(ObjectLayoutDataModule):
    """Procedural SYNTHETIC search arrays with a seeded simulated observer."""

    name = "synthetic_search_arrays"
    synthetic = True

    def __init__(
        self,
        num_layouts: int = 1000,
        observers_per_layout: int = 3,
        seed: int = 0,
        array: Mapping[str, Any] | None = None,
        observer: Mapping[str, Any] | None = None,
        split: str = "layout",
        include_image: bool = True,
        crop_hw: Sequence[int] | None = None,
        keep_crops: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("cache_size", 64)
        super().__init__(split=split, include_image=include_image, **kwargs)
        self.num_layouts = int(num_layouts)
        self.observers_per_layout = int(observers_per_layout)
        self.seed = int(seed)
        arr = dict(array or {})
        for k in ("grid", "cell_hw", "scale_range"):
            if k in arr:
                arr[k] = tuple(arr[k])
        self.array_config = ArrayConfig(**arr)
        self.observer_config = ObserverConfig(**dict(observer or {}))
        self.layouts: list[SearchLayout] = []
        self._crop_hw = tuple(int(v) for v in crop_hw) if crop_hw else CROP_HW
        self.keep_crops = bool(keep_crops)

    @property
    def crop_hw(self) -> tuple[int, int]:
        """(H, W) of the served crops: 150×93 as published, or ``crop_hw`` (area-downsampled)."""
        return self._crop_hw  # type: ignore[return-value]

    def load_trials(self) -> list[ObjectTrial]:
        data = generate_search_arrays(
            self.num_layouts, self.observers_per_layout, self.seed, self.array_config, self.observer_config
        )
        self.layouts = data.layouts
        log.info(
            "search arrays: %d SYNTHETIC layouts × %d simulated observers (seed %d)",
            len(data.layouts), self.observers_per_layout, self.seed,
        )
        return data.trials

    def make_store(self, trials: Sequence[ObjectTrial]) -> LayoutStore:
        return SearchArrayStore({lay.layout_id: lay for lay in self.layouts}, self.include_image, self.cache_size,
                                self.crop_hw, self.keep_crops)

"""MIT1003 free-viewing datamodule (``data=mit1003``) and the lazy image samples shared with
``data=capmit1003``.

Samples carry the human scanpath (original pixels) and, loaded lazily when first read (never kept in
the sample; small LRU cache):

* ``"clip_image"`` ``[3, S, S]`` in [0, 1]: open_clip's preprocessing of the PIL image without
  normalisation (``resize_mode`` ``shortest`` = centre crop, ``longest`` = letterbox), see
  :func:`scanpath.models.neva.coords.preprocess_pil`;
* ``"geometry"`` ``[7]`` float64 (W, H, W′, H′, o_x, o_y, S): the transform actually applied, so a
  model maps its fixations back to original pixels (spec ../shared/specs/nevaclip.md §2.4);
* ``"image"`` ``[3, H, W]`` in [0, 1] at the original resolution (only with ``include_image=True``;
  for image-based baselines).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import torch

from datamodules.base import ScanpathDataModule
from scanpath.io.errors import ScanpathDataError
from scanpath.io.mit1003 import read_mit1003
from scanpath.models.neva.coords import RESIZE_MODES, compute_geometry, preprocess_pil


class ImageStore:
    """Loads and preprocesses image files on demand; LRU cache (not pickled to workers)."""

    def __init__(self, clip_size: int = 224, resize_mode: str = "shortest", include_image: bool = False,
                 cache_size: int = 64) -> None:
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}")
        self.clip_size = int(clip_size)
        self.resize_mode = resize_mode
        self.include_image = bool(include_image)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()

    def keys(self) -> tuple[str, ...]:
        return ("clip_image", "geometry", "image") if self.include_image else ("clip_image", "geometry")

    def get(self, path: str) -> dict[str, torch.Tensor]:
        hit = self._cache.get(path)
        if hit is not None:
            self._cache.move_to_end(path)
            return hit
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                clip_image, geom = preprocess_pil(im, self.clip_size, self.resize_mode)
                out = {"clip_image": clip_image, "geometry": geom.as_tensor()}
                if self.include_image:
                    import torchvision.transforms.functional as TF

                    out["image"] = TF.pil_to_tensor(im).to(torch.float32) / 255.0
        except (OSError, UnidentifiedImageError) as exc:
            raise ScanpathDataError(f"cannot read image ({exc})", file=path, field="image") from exc
        if self.cache_size > 0:
            self._cache[path] = out
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def geometry_of(self, size: tuple[int, int]) -> torch.Tensor:
        return compute_geometry(size[0], size[1], self.clip_size, self.resize_mode).as_tensor()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state


class ImageSample(MutableMapping):
    """A sample dict whose image fields come from an :class:`ImageStore` when first read."""

    __slots__ = ("_data", "_store")

    def __init__(self, data: dict[str, Any], store: ImageStore) -> None:
        self._data = data
        self._store = store

    def _lazy(self) -> tuple[str, ...]:
        return tuple(k for k in self._store.keys() if k not in self._data)

    def __getitem__(self, key: str) -> Any:
        if key in self._data:
            return self._data[key]
        if key in self._lazy():
            if key == "geometry":  # computable from the header size, no decode needed
                return self._store.geometry_of(self._data["image_size"])
            return self._store.get(self._data["image_file"])[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._data
        yield from self._lazy()

    def __len__(self) -> int:
        return len(self._data) + len(self._lazy())

    def __contains__(self, key: object) -> bool:
        return key in self._data or key in self._lazy()

    def __repr__(self) -> str:
        return f"ImageSample({sorted(self)})"


class MIT1003DataModule(ScanpathDataModule):
    """MIT1003 eye-tracking fixations (free viewing), one sample per (stimulus, subject)."""

    name = "mit1003"

    def __init__(
        self,
        root: str | None = None,
        drop_first_fixation: bool = True,
        clip_size: int = 224,
        resize_mode: str = "shortest",
        include_image: bool = False,
        cache_size: int = 64,
        captions_db: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if root is None:
            raise ScanpathDataError("data.root is not set: point it at the MIT1003 folder (STIMULI/, SCANPATHS/)",
                                    field="data.root")
        self.root = Path(root)
        self.drop_first_fixation = bool(drop_first_fixation)
        self.store = ImageStore(clip_size, resize_mode, include_image, cache_size)
        self.captions_db = captions_db

    def load_samples(self) -> list[dict[str, Any]]:
        if (self.root / "SYNTHETIC.txt").is_file():
            self.synthetic = True
        out: list[dict[str, Any]] = []
        for sp in read_mit1003(self.root, drop_first_fixation=self.drop_first_fixation,
                               invalid_policy=self.invalid_policy):
            data = {
                "scanpath": sp,
                "stimulus": sp.stimulus,
                "image_size": sp.image_size,
                "task": "freeview",
                "image_file": sp.extra["image_file"],
            }
            out.append(ImageSample(data, self.store))
        return out

    def query_samples(self, split: str = "test") -> list[dict[str, Any]]:
        """One query per stimulus; with ``captions_db`` one per CapMIT1003 caption of the stimulus."""
        base = super().query_samples(split)
        if self.captions_db is None:
            return base
        from scanpath.io.capmit1003 import read_capmit1003

        by_stim: dict[str, list[Any]] = {}
        for rec in read_capmit1003(self.captions_db):
            by_stim.setdefault(rec.stimulus, []).append(rec)
        out: list[dict[str, Any]] = []
        for s in base:
            for rec in by_stim.get(s["stimulus"], []):
                data = dict(s._data) if isinstance(s, ImageSample) else dict(s)
                data.update(caption=rec.caption, obs_uid=rec.obs_uid)
                out.append(ImageSample(data, self.store))
        return out

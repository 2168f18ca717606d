"""MIT1003 free-viewing datamodule (``data=mit1003``) and the lazy image samples shared with
``data=capmit1003``.

Samples carry the human scanpath (original pixels) and, loaded lazily when first read (never kept in
the sample; small LRU cache):

* ``"clip_image"`` ``[3, S, S]`` in [0, 1]: open_clip's preprocessing of the PIL image without
  normalisation (``resize_mode`` ``shortest`` = centre crop, ``longest`` = letterbox), see
  :func:`scanpath.core.coords.preprocess_pil`;
* ``"geometry"`` ``[7]`` float64 (W, H, W′, H′, o_x, o_y, S): the transform actually applied, so a
  model maps its fixations back to original pixels (see docs/nevaclip.md §2.4);
* ``"image"`` ``[3, H, W]`` in [0, 1] at the original resolution (only with ``include_image=True``;
  for image-based baselines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from scanpath.datamodules.base import ScanpathDataModule
from scanpath.datamodules.lazy import LazySample
from scanpath.datamodules.paths import require_dir, require_file
from scanpath.errors import ScanpathDataError
from scanpath.io.mit1003 import read_mit1003
from scanpath.utils.lru import LruCache
from scanpath.core.coords import RESIZE_MODES, compute_geometry, preprocess_pil


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
        self._cache: LruCache[dict[str, torch.Tensor]] = LruCache(self.cache_size)

    def keys(self) -> tuple[str, ...]:
        return ("clip_image", "geometry", "image") if self.include_image else ("clip_image", "geometry")

    def get(self, path: str) -> dict[str, torch.Tensor]:
        return self._cache.get_or_compute(path, lambda: self._decode(path))

    def _decode(self, path: str) -> dict[str, torch.Tensor]:
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
        return out

    def geometry_of(self, size: tuple[int, int]) -> torch.Tensor:
        return compute_geometry(size[0], size[1], self.clip_size, self.resize_mode).as_tensor()



class ImageSample(LazySample):
    """A sample dict whose image fields come from an :class:`ImageStore` when first read."""

    __slots__ = ()

    def __init__(self, data: dict[str, Any], store: ImageStore) -> None:
        super().__init__(data, store)

    def _lazy_keys(self) -> tuple[str, ...]:
        return self._store.keys()

    def _load(self, key: str) -> Any:
        if key == "geometry":  # computable from the header size, no decode needed
            return self._store.geometry_of(self._data["image_size"])
        return self._store.get(self._data["image_file"])[key]


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
        require_dir(self.root, "data.root")
        require_file(self.captions_db, "data.captions_db")
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

"""STI Amazon book-cover search datamodule (real human data; CC BY-NC-SA 4.0, non-commercial).

Reads ``Amazon.json`` (the shared 80-collage subset or the full 100-collage upstream file) with
:func:`scanpath.io.amazon.load_amazon`. Modes (docs/oat.md §3.1):

* ``images`` — ``image_dir`` holds the collage images named like the JSON keys (``1.jpg`` …); samples
  carry ``crops`` ``[84, 3, 150, 93]`` (RGB, min-max [0, 1]) and ``target_crop``.
* ``layout_only`` — no images: samples carry no crops; OAT then replaces its CNN by a learned
  per-cell embedding (a documented deviation, not comparable to published numbers).
* ``auto`` (default) — ``images`` when ``image_dir`` is set (or an ``images/`` folder lies beside
  the JSON, as in the STI-Dataset layout ``AmazonCovers/{Amazon.json, images/}``) and every collage
  image is there, otherwise ``layout_only``; the choice and its reason are logged.

Paths: a path the user gave (``annotations``, ``root``, ``image_dir``, ``mask_dir``) that does not exist
is an error naming it — never a fallback to the shared file; with ``image_dir`` given, missing collage
images are an error too (``auto`` falls back to layout-only only for an auto-found ``images/``). Collage
keys that lead outside ``image_dir`` are an error unless ``allow_outside=true``.

Default split: ``trial`` (upstream fidelity; trials of one collage may land in different splits).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from scanpath.datamodules.object_layout import LayoutStore, ObjectLayoutDataModule
from scanpath.datamodules.paths import require_dir, require_file
from scanpath.io.amazon import amazon_crops, load_amazon
from scanpath.errors import ScanpathDataError
from scanpath.io.object_trial import ObjectTrial
from scanpath.io.paths import resolve_under

log = logging.getLogger(__name__)

MODES = ("auto", "images", "layout_only")


class AmazonImageStore(LayoutStore):
    """Loads a collage image and cuts its object crops on demand."""

    def __init__(
        self,
        image_dir: str,
        layouts: dict[str, ObjectTrial],
        include_image: bool,
        cache_size: int,
        upstream_pixels: bool = False,
    ) -> None:
        super().__init__(include_image, cache_size)
        self.image_dir = image_dir
        self.layouts = layouts
        self.upstream_pixels = bool(upstream_pixels)

    def compute(self, layout_id: str) -> dict[str, torch.Tensor]:
        t = self.layouts[layout_id]
        path = Path(self.image_dir) / layout_id  # checked to stay under image_dir in make_store
        crops = amazon_crops(path, t.boxes, t.image_size, record=layout_id, upstream_pixels=self.upstream_pixels)
        out = {"crops": torch.from_numpy(crops)}
        if self.include_image:
            from scanpath.io.object_trial import read_rgb

            rgb = read_rgb(str(path), record=layout_id)
            out["image"] = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)
        return out


class AmazonCoversDataModule(ObjectLayoutDataModule):
    """Amazon book-cover collages (6 × 14 covers), one record per subject."""

    name = "amazon_covers"

    def __init__(
        self,
        annotations: str | None = None,
        root: str | None = None,
        image_dir: str | None = None,
        mask_dir: str | None = None,
        mode: str = "auto",
        upstream_duplicate_bug: bool = False,
        upstream_pixels: bool = False,
        filter_sd: float | None = 3.0,
        invalid_policy: str = "keep",
        grid: tuple[int, int] | list[int] = (6, 14),
        split: str = "trial",
        include_image: bool = False,
        allow_outside: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("cache_size", 16)
        super().__init__(split=split, include_image=include_image, invalid_policy=invalid_policy, **kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if annotations in (None, "") and root in (None, ""):
            raise ValueError("amazon_covers needs data.annotations=<Amazon.json> or data.root=<folder holding it>")
        self.root = None if root in (None, "") else str(root)
        #: True when the user named the file: then it must exist (no fallback to another file)
        self.annotations_given = annotations not in (None, "")
        self.annotations = str(annotations) if self.annotations_given else str(Path(str(root)) / "Amazon.json")
        self.image_dir_given = image_dir not in (None, "")
        self.allow_outside = bool(allow_outside)
        self.image_dir = None if image_dir in (None, "") else str(image_dir)
        self.mask_dir = None if mask_dir in (None, "") else str(mask_dir)
        self.mode = mode
        self.upstream_duplicate_bug = bool(upstream_duplicate_bug)
        self.upstream_pixels = bool(upstream_pixels)
        self.filter_sd = None if filter_sd is None else float(filter_sd)
        self.grid_shape = (int(grid[0]), int(grid[1]))
        self.resolved_mode: str | None = None
        self.filter_stats: dict[str, float] = {}
        self.n_raw = 0

    def _resolve_paths(self) -> None:
        """STI layout support: without ``annotations``, ``root`` may be the STI folder
        (``AmazonCovers/Amazon.json``) or the ``AmazonCovers`` folder; without ``image_dir``, an
        ``images/`` folder beside the JSON is used. A path the user gave (``annotations``, ``root``,
        ``image_dir``, ``mask_dir``) that does not exist is an error — never a fallback to other data."""
        if self.annotations_given:
            require_file(self.annotations, "data.annotations")
        else:
            root = require_dir(self.root, "data.root")
            assert root is not None
            cands = (root / "Amazon.json", root / "AmazonCovers" / "Amazon.json")
            found = next((c for c in cands if c.is_file()), None)
            if found is None:
                raise ScanpathDataError(f"data.root holds no Amazon.json (looked for {[str(c) for c in cands]}); "
                                        "set data.annotations=<path>", file=root, field="data.root")
            self.annotations = str(found)
        require_dir(self.image_dir, "data.image_dir")
        require_dir(self.mask_dir, "data.mask_dir")
        if self.image_dir is None and self.mode != "layout_only":
            cand = Path(self.annotations).parent / "images"
            if cand.is_dir():
                log.info("amazon_covers: using collage images found at %s", cand)
                self.image_dir = str(cand)

    def load_trials(self) -> list[ObjectTrial]:
        self._resolve_paths()
        data = load_amazon(
            self.annotations,
            mask_dir=self.mask_dir,
            upstream_duplicate_bug=self.upstream_duplicate_bug,
            filter_sd=self.filter_sd,
            invalid_policy=self.invalid_policy,
            grid=self.grid_shape,
        )
        self.filter_stats = data.filter_stats
        self.n_raw = data.n_raw
        if self.upstream_duplicate_bug:
            log.warning("amazon_covers: reproducing the UPSTREAM DUPLICATE-SUBJECT BUG (comparison only)")
        return data.trials

    def _missing_images(self, trials: list[ObjectTrial]) -> list[str]:
        assert self.image_dir is not None
        keys = dict.fromkeys(t.layout_id for t in trials)
        return [k for k in keys if not resolve_under(self.image_dir, k, allow_outside=self.allow_outside,
                                                     file=self.annotations, record=k, field="collage key").is_file()]

    def make_store(self, trials: list[ObjectTrial]) -> LayoutStore | None:
        mode = self.mode
        if mode in ("auto", "images"):
            if self.image_dir is None:
                reason = "data.image_dir is not set"
            elif not Path(self.image_dir).is_dir():
                reason = f"image folder {self.image_dir!r} does not exist"
            else:
                missing = self._missing_images(trials)
                reason = f"{len(missing)} collage images missing from {self.image_dir!r} (e.g. {missing[:3]})" if missing else ""
            if reason and (mode == "images" or self.image_dir_given):  # the user asked for these images
                raise ScanpathDataError(f"mode={mode} with data.image_dir set, but {reason}", file=self.image_dir,
                                        field="image_dir")
            if reason:
                log.warning(
                    "amazon_covers: LAYOUT-ONLY mode (%s): objects are identified by grid cell only, no crops; "
                    "OAT uses a learned per-cell embedding — a deviation, not comparable to published numbers",
                    reason,
                )
                mode = "layout_only"
            else:
                mode = "images"
        self.resolved_mode = mode
        if mode == "layout_only":
            return None
        log.info("amazon_covers: image mode, crops from %s", self.image_dir)
        layouts = {t.layout_id: t for t in trials}
        return AmazonImageStore(self.image_dir, layouts, self.include_image, self.cache_size, self.upstream_pixels)  # type: ignore[arg-type]

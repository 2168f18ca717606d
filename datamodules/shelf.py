"""OAT's shelf search datamodule (wine / yogurt / shampoo; docs/oat.md §3.2).

``data_files``: one or more ``.csv`` / ``.xlsx`` files in the upstream column format (see
:mod:`scanpath.io.shelf`). ``image_dir``: folder with the ``<Question>.png`` screenshots → image
mode (crops ``[N, 3, 150, 93]``, RGB, min-max [0, 1]); without it (and without a ``<root>/Question``
folder) the samples are layout-only (logged). A data file or ``image_dir`` the user gave that does not
exist, or screenshots missing from a given ``image_dir``, are errors, never a silent layout-only run;
a ``Question`` id leading outside ``image_dir`` is an error unless ``allow_outside=true``. ``X``/``Y``
outside the screenshot follow ``invalid_policy`` (error | keep | clip | drop). Default split: ``trial``; ``split=pair`` with ``test_pairs=[["Q3_10", "T3_12"]]`` is the
upstream held-out pair.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from scanpath.datamodules.object_layout import LayoutStore, ObjectLayoutDataModule
from scanpath.datamodules.paths import require_dir, require_file
from scanpath.errors import ScanpathDataError
from scanpath.io.object_trial import ObjectTrial, read_rgb
from scanpath.io.paths import resolve_under
from scanpath.io.shelf import load_shelf, shelf_crops

log = logging.getLogger(__name__)


class ShelfImageStore(LayoutStore):
    """Crops a shelf screenshot on demand."""

    def __init__(self, image_dir: str, layouts: dict[str, ObjectTrial], include_image: bool, cache_size: int) -> None:
        super().__init__(include_image, cache_size)
        self.image_dir = image_dir
        self.layouts = layouts

    def compute(self, layout_id: str) -> dict[str, torch.Tensor]:
        t = self.layouts[layout_id]
        path = Path(self.image_dir) / f"{layout_id}.png"
        out = {"crops": torch.from_numpy(shelf_crops(path, t.boxes, record=layout_id))}
        if self.include_image:
            out["image"] = torch.from_numpy(read_rgb(str(path), record=layout_id)).permute(2, 0, 1).float().div_(255.0)
        return out


class ShelfDataModule(ObjectLayoutDataModule):
    """Shelf search trials, one record per ``ID``."""

    name = "shelf"

    def __init__(
        self,
        data_files: str | Sequence[str],
        root: str | None = None,
        image_dir: str | None = None,
        mode: str = "auto",
        prefixes: Sequence[str] | None = None,
        geometry: Mapping[str, Mapping[str, Any]] | None = None,
        filter_sd: float | None = None,
        split: str = "trial",
        allow_outside: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(split=split, **kwargs)
        self.allow_outside = bool(allow_outside)
        if mode not in ("auto", "images", "layout_only"):
            raise ValueError(f"mode must be auto, images or layout_only, got {mode!r}")
        self.root = root
        self.data_files = [str(data_files)] if isinstance(data_files, (str, Path)) else [str(p) for p in data_files]
        self.image_dir = None if image_dir in (None, "") else str(image_dir)
        self.image_dir_given = self.image_dir is not None
        self.mode = mode
        self.prefixes = None if not prefixes else [str(p) for p in prefixes]
        self.geometry = {str(k): dict(v) for k, v in (geometry or {}).items()}
        self.filter_sd = None if filter_sd is None else float(filter_sd)
        self.resolved_mode: str | None = None

    def load_trials(self) -> list[ObjectTrial]:
        for i, f in enumerate(self.data_files):
            require_file(f, f"data.data_files[{i}]")
        require_dir(self.image_dir, "data.image_dir")
        if self.image_dir is None and self.root is not None and self.mode != "layout_only":
            cand = Path(self.root) / "Question"  # the upstream layout: <root>/Question/<Question>.png
            if cand.is_dir():
                log.info("shelf: using screenshots found at %s", cand)
                self.image_dir = str(cand)
        trials = load_shelf(self.data_files, geometry=self.geometry, prefixes=self.prefixes, filter_sd=self.filter_sd,
                            invalid_policy=self.invalid_policy)
        if not trials:
            raise ScanpathDataError("no shelf trials left (check data.prefixes)", file=", ".join(self.data_files))
        return trials

    def _image_path(self, layout_id: str) -> Path:
        assert self.image_dir is not None
        return resolve_under(self.image_dir, f"{layout_id}.png", allow_outside=self.allow_outside,
                             file=", ".join(self.data_files), record=layout_id, field="Question")

    def make_store(self, trials: list[ObjectTrial]) -> LayoutStore | None:
        mode = self.mode
        if mode in ("auto", "images"):
            reason = ""
            if self.image_dir is None:
                reason = "data.image_dir is not set"
            else:
                missing = sorted({t.layout_id for t in trials if not self._image_path(t.layout_id).is_file()})
                if missing:
                    reason = f"{len(missing)} screenshots missing from {self.image_dir!r} (e.g. {missing[:3]})"
            if reason and (mode == "images" or self.image_dir_given):  # the user asked for these images
                raise ScanpathDataError(f"mode={mode} with data.image_dir set, but {reason}", file=self.image_dir,
                                        field="image_dir")
            mode = "layout_only" if reason else "images"
            if reason:
                log.warning("shelf: LAYOUT-ONLY mode (%s); no crops — a deviation from the published setup", reason)
        self.resolved_mode = mode
        if mode == "layout_only":
            return None
        return ShelfImageStore(self.image_dir, {t.layout_id: t for t in trials}, self.include_image, self.cache_size)  # type: ignore[arg-type]

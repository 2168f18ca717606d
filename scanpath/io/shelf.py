"""Reader for OAT's own shelf search data (wine / yogurt / shampoo; docs/oat.md §3.2).

The authors distribute the data (Excel workbooks, one row per fixation, rows in fixation order)
via Google Drive only. Accepted: ``.csv`` always, ``.xlsx`` / ``.xls`` when pandas + openpyxl are
installed. Columns:

``ID`` trial · ``Target`` target id (e.g. ``T3_12``) · ``Question`` layout id (e.g. ``Q3_10``; screenshot
``<image_dir>/<Question>.png``, 1680 × 1050) · ``Choice`` fixated object (1-based, row-major) · ``X``,
``Y`` pixels · ``T_Package`` target object (1-based) · ``Sub_ID`` subject.

Rows are grouped by ``ID`` (as upstream, in order of first appearance, rows in file order); a
trial's ``Question``, ``Target``, ``T_Package`` and ``Sub_ID`` must not change. ``Choice`` and
``T_Package`` become 0-based object indices. The geometry (grid, cell size, top offset) comes from
the ``Question`` prefix (:data:`SHELF_GEOMETRY`, overridable): the grid is bottom-aligned and
columns start at x = 0.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.io.text import read_text
from scanpath.io.object_trial import ObjectTrial, crop_boxes, grid_boxes, length_filter, read_rgb

OUTSIDE_POLICIES = ("error", "keep", "clip", "drop")
COLUMNS = ("ID", "Target", "Question", "Choice", "X", "Y", "T_Package", "Sub_ID")
SHELF_IMAGE_SIZE = (1680, 1050)


@dataclasses.dataclass(frozen=True)
class ShelfGeometry:
    """A bottom-aligned grid: ``rows × cols`` cells of ``cell_hw`` = (h, w) px from ``top`` down."""

    product: str
    grid: tuple[int, int]
    cell_hw: tuple[int, int]
    image_size: tuple[int, int] = SHELF_IMAGE_SIZE

    @property
    def top(self) -> int:
        return self.image_size[1] - self.grid[0] * self.cell_hw[0]

    def boxes(self) -> np.ndarray:
        return grid_boxes(self.grid, (self.cell_hw[1], self.cell_hw[0]), origin=(0.0, float(self.top)))


#: Geometry per ``Question`` prefix (docs/oat.md §3.2 table). Tops: 152, 165, 135.
SHELF_GEOMETRY: dict[str, ShelfGeometry] = {
    "Q1": ShelfGeometry("wine", (2, 11), (449, 152)),
    "Q2": ShelfGeometry("shampoo", (3, 9), (295, 186)),
    "Q3": ShelfGeometry("yogurt", (3, 9), (305, 186)),
}


def geometry_table(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, ShelfGeometry]:
    """The default table updated with ``{prefix: {product, grid, cell_hw, image_size}}`` entries."""
    table = dict(SHELF_GEOMETRY)
    for prefix, g in (overrides or {}).items():
        base = table.get(prefix)
        table[prefix] = ShelfGeometry(
            product=str(g.get("product", base.product if base else prefix)),
            grid=tuple(int(v) for v in g.get("grid", base.grid if base else ())),  # type: ignore[arg-type]
            cell_hw=tuple(int(v) for v in g.get("cell_hw", base.cell_hw if base else ())),  # type: ignore[arg-type]
            image_size=tuple(int(v) for v in g.get("image_size", base.image_size if base else SHELF_IMAGE_SIZE)),  # type: ignore[arg-type]
        )
    return table


def geometry_for(question: str, table: Mapping[str, ShelfGeometry]) -> ShelfGeometry | None:
    """Longest table prefix that ``question`` starts with."""
    best = None
    for prefix in table:
        if question.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else table[best]


# -------------------------------------------------------------------------------------- reading
def read_shelf_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a shelf ``.csv`` / ``.xlsx`` as dicts (fully empty rows skipped); columns checked."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise ScanpathDataError("shelf data file not found", file=file)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            reader = csv.DictReader(io.StringIO(read_text(path, "shelf data file"), newline=""))
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): v for k, v in r.items()} for r in reader]
        except csv.Error as exc:
            raise ScanpathDataError(f"not a CSV file: {exc}", file=file) from None
    elif suffix in (".xlsx", ".xls"):
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ScanpathDataError("reading Excel needs pandas and openpyxl (pip install pandas openpyxl)", file=file) from exc
        try:
            df = pd.read_excel(path)
        except ImportError as exc:  # pragma: no cover
            raise ScanpathDataError(f"reading Excel needs openpyxl: {exc}", file=file) from exc
        except Exception as exc:
            raise ScanpathDataError(f"cannot read workbook: {exc}", file=file) from exc
        header = [str(c).strip() for c in df.columns]
        df.columns = header
        rows = [{k: (None if _isnan(v) else v) for k, v in rec.items()} for rec in df.to_dict("records")]
    else:
        raise ScanpathDataError(f"unsupported file type {suffix!r}; use .csv or .xlsx", file=file)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ScanpathDataError(f"missing column(s) {missing}; found {header}", file=file, field=missing[0])
    return [r for r in rows if any(v not in (None, "") for v in r.values())]


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _text(v: Any, *, file: str, row: int, field: str) -> str:
    if v is None or (isinstance(v, str) and not v.strip()):
        raise ScanpathDataError("empty value", file=file, record=f"row {row}", field=field)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _num(v: Any, *, file: str, row: int, field: str, integer: bool = False) -> float:
    if isinstance(v, bool):
        raise ScanpathDataError(f"expected a number, got {v!r}", file=file, record=f"row {row}", field=field)
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        raise ScanpathDataError(f"expected a number, got {v!r}", file=file, record=f"row {row}", field=field) from None
    if not math.isfinite(x):
        raise ScanpathDataError(f"expected a finite number, got {v!r}", file=file, record=f"row {row}", field=field)
    if integer and not x.is_integer():
        raise ScanpathDataError(f"expected an integer, got {v!r}", file=file, record=f"row {row}", field=field)
    return x


def load_shelf(
    paths: str | Path | Sequence[str | Path],
    *,
    geometry: Mapping[str, Mapping[str, Any]] | None = None,
    prefixes: Sequence[str] | None = None,
    filter_sd: float | None = None,
    invalid_policy: str = "error",
) -> list[ObjectTrial]:
    """Read one or more shelf files into canonical 0-based :class:`ObjectTrial` records.

    ``prefixes`` keeps only layouts whose ``Question`` starts with one of them (e.g. ``["Q1", "Q3"]``
    for wine + yogurt as upstream). ``filter_sd`` optionally applies the μ ± k·s length filter
    (upstream applies none to the shelf data). Row numbers in errors count data rows from 1
    (the header is row 0). ``X``/``Y`` outside the screenshot ``[0, W] × [0, H]`` follow
    ``invalid_policy``: ``error`` (default) raises naming file, row and column, ``keep`` keeps the raw
    value (the object still comes from ``Choice``), ``clip`` clamps it into the image, ``drop`` removes
    the fixation (its ``Choice`` too).
    """
    if invalid_policy not in OUTSIDE_POLICIES:
        raise ValueError(f"invalid_policy must be one of {OUTSIDE_POLICIES}, got {invalid_policy!r}")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    table = geometry_table(geometry)
    trials: list[ObjectTrial] = []
    for path in paths:
        file = str(path)
        rows = read_shelf_rows(path)
        groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for i, r in enumerate(rows, start=1):
            tid = _text(r.get("ID"), file=file, row=i, field="ID")
            groups.setdefault(tid, []).append((i, r))
        boxes_by_prefix: dict[str, np.ndarray] = {}
        for tid, grp in groups.items():
            first_row, first = grp[0]
            const = {
                f: _text(first.get(f), file=file, row=first_row, field=f) for f in ("Question", "Target", "Sub_ID")
            }
            t_pkg = _num(first.get("T_Package"), file=file, row=first_row, field="T_Package", integer=True)
            question = const["Question"]
            if prefixes and not any(question.startswith(p) for p in prefixes):
                continue
            geo = geometry_for(question, table)
            if geo is None:
                raise ScanpathDataError(
                    f"no grid geometry for Question {question!r}; known prefixes {sorted(table)} (add one via geometry=)",
                    file=file,
                    record=f"row {first_row}",
                    field="Question",
                )
            n_obj = geo.grid[0] * geo.grid[1]
            if not 1 <= t_pkg <= n_obj:
                raise ScanpathDataError(
                    f"target object {t_pkg:g} outside 1..{n_obj}", file=file, record=f"row {first_row}", field="T_Package"
                )
            objs, xy = [], []
            for i, r in grp:
                for f, v in const.items():
                    if _text(r.get(f), file=file, row=i, field=f) != v:
                        raise ScanpathDataError(
                            f"changes within trial ID {tid} ({v!r} at row {first_row})", file=file, record=f"row {i}", field=f
                        )
                if _num(r.get("T_Package"), file=file, row=i, field="T_Package", integer=True) != t_pkg:
                    raise ScanpathDataError(f"changes within trial ID {tid}", file=file, record=f"row {i}", field="T_Package")
                ch = _num(r.get("Choice"), file=file, row=i, field="Choice", integer=True)
                if not 1 <= ch <= n_obj:
                    raise ScanpathDataError(
                        f"object {ch:g} outside 1..{n_obj} for {geo.grid[0]}×{geo.grid[1]} layout {question}",
                        file=file,
                        record=f"row {i}",
                        field="Choice",
                    )
                px = _num(r.get("X"), file=file, row=i, field="X")
                py = _num(r.get("Y"), file=file, row=i, field="Y")
                w, h = geo.image_size
                if invalid_policy != "keep" and not (0 <= px <= w and 0 <= py <= h):
                    if invalid_policy == "error":
                        fld, val = ("X", px) if not 0 <= px <= w else ("Y", py)
                        raise ScanpathDataError(
                            f"{val:g} lies outside the {w}×{h} screenshot (set invalid_policy to keep, clip or drop)",
                            file=file, record=f"row {i}", field=fld,
                        )
                    if invalid_policy == "drop":
                        continue
                    px, py = min(max(px, 0.0), float(w)), min(max(py, 0.0), float(h))
                objs.append(int(ch) - 1)
                xy.append((px, py))
            prefix = next(p for p in table if table[p] is geo)
            if prefix not in boxes_by_prefix:
                boxes_by_prefix[prefix] = geo.boxes()
            trials.append(
                ObjectTrial(
                    dataset=f"shelf_{geo.product}",
                    layout_id=question,
                    target_id=const["Target"],
                    subject_id=const["Sub_ID"],
                    trial_id=tid,
                    grid=geo.grid,
                    image_size=geo.image_size,
                    boxes=boxes_by_prefix[prefix],
                    target=int(t_pkg) - 1,
                    scanpath=np.asarray(objs, dtype=np.int64),
                    fix_xy=np.asarray(xy, dtype=np.float64).reshape(-1, 2),
                    synthetic=False,
                    extra={"top_offset": geo.top, "product": geo.product, "source_file": file},
                )
            )
    if filter_sd is not None and trials:
        keep, _ = length_filter([len(t) for t in trials], filter_sd)
        trials = [t for t, k in zip(trials, keep) if k]
    return trials


def shelf_crops(image_path: str | Path, boxes: np.ndarray, *, record: str | None = None) -> np.ndarray:
    """``(N, 3, 150, 93)`` float32 RGB crops of a shelf screenshot, min-max [0, 1] per crop."""
    return crop_boxes(read_rgb(str(image_path), record=record), boxes)

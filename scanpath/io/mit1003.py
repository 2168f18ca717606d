"""MIT1003 (Judd et al. 2009) fixations reader.

Layout read by the framework (see docs/nevaclip.md §3): fixations extracted with Judd's
MATLAB code (e.g. via pysaliency) and written as plain text,

* ``<root>/STIMULI/<stem>.jpeg`` (``.jpg``/``.png`` accepted too) — the images (long side 1024 px)
* ``<root>/SCANPATHS/<stem>/<subject>`` — one file per subject, one fixation per row:
  ``x y t_start t_end`` (pixels, seconds; whitespace- or comma-separated; ``#`` comments allowed).

``drop_first_fixation=True`` (default) drops the central first fixation, as pysaliency does.
Durations are ``(t_end − t_start)·1000`` ms. Bad rows raise :class:`ScanpathDataError` naming the
file, the line and the field.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from scanpath.io.capmit1003 import image_size_of
from scanpath.errors import ScanpathDataError
from scanpath.io.text import read_text
from scanpath.types import Scanpath

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
FIELDS = ("x", "y", "t_start", "t_end")


def find_stimulus(root: Path, stem: str) -> Path | None:
    """``<root>/STIMULI/<stem>`` with the first existing image suffix."""
    for suf in IMAGE_SUFFIXES:
        p = root / "STIMULI" / f"{stem}{suf}"
        if p.is_file():
            return p
    return None


def read_fixation_file(path: str | Path) -> np.ndarray:
    """``[N, 4]`` float64 rows (x, y, t_start, t_end) of one subject file."""
    path = Path(path)
    rows = []
    lines = read_text(path, "fixation file").splitlines()  # named error: missing, directory, non-UTF-8
    for lineno, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.replace(",", " ").split()
        if len(parts) != 4:
            raise ScanpathDataError(
                f"expected 4 values (x y t_start t_end), got {len(parts)}",
                file=path, record=f"line {lineno}", field=FIELDS[min(len(parts), 3)],
            )
        vals = []
        for name, p in zip(FIELDS, parts):
            try:
                v = float(p)
            except (ValueError, OverflowError):
                raise ScanpathDataError(
                    f"expected a number, got {p!r}", file=path, record=f"line {lineno}", field=name
                ) from None
            if not math.isfinite(v):
                raise ScanpathDataError(f"non-finite value {p!r}", file=path, record=f"line {lineno}", field=name)
            vals.append(v)
        if vals[3] < vals[2]:
            raise ScanpathDataError(
                f"t_end {vals[3]} is before t_start {vals[2]}", file=path, record=f"line {lineno}", field="t_end"
            )
        rows.append(vals)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def read_mit1003(
    root: str | Path,
    *,
    drop_first_fixation: bool = True,
    stimuli: list[str] | None = None,
    invalid_policy: str = "error",
) -> list[Scanpath]:
    """All scanpaths under ``<root>/SCANPATHS`` (sorted by stimulus, then subject)."""
    root = Path(root)
    sp_dir = root / "SCANPATHS"
    if not sp_dir.is_dir():
        raise ScanpathDataError("MIT1003 root has no SCANPATHS folder", file=sp_dir)
    stems = sorted(p.name for p in sp_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if stimuli is not None:
        wanted = set(stimuli)
        stems = [s for s in stems if s in wanted]
    out: list[Scanpath] = []
    for stem in stems:
        img = find_stimulus(root, stem)
        if img is None:
            raise ScanpathDataError(
                f"no image for stimulus {stem!r} in STIMULI (tried {', '.join(IMAGE_SUFFIXES)})",
                file=root / "STIMULI", record=stem, field="image",
            )
        size = image_size_of(img, record=stem)
        for subj_file in sorted(p for p in (sp_dir / stem).iterdir() if p.is_file() and not p.name.startswith(".")):
            arr = read_fixation_file(subj_file)
            if drop_first_fixation and len(arr):
                arr = arr[1:]
            sp = Scanpath(
                x=arr[:, 0],
                y=arr[:, 1],
                duration=(arr[:, 3] - arr[:, 2]) * 1000.0,
                stimulus=stem,
                subject=subj_file.stem,
                task="freeview",
                image_size=size,
                extra={"image_file": str(img)},
                fixation_extra={"t_start_s": arr[:, 2].copy()},
            )
            out.append(sp.validated(invalid_policy, file=str(subj_file), record=subj_file.name))  # type: ignore[arg-type]
    return out


def write_synthetic_mit1003(
    root: str | Path, stems: list[str] | None = None, subjects: int = 3, fixations: int = 6, seed: int = 0,
    sizes: tuple[tuple[int, int], ...] = ((320, 240), (200, 300)),
) -> Path:
    """Write a SYNTHETIC MIT1003-shaped folder (``STIMULI/``, ``SCANPATHS/<stem>/<subject>``) for tests
    and offline smoke runs — NOT human data. The first fixation of each file is at the centre."""
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "SYNTHETIC.txt").write_text("SYNTHETIC fixture written by scanpath; not human data\n", encoding="utf-8")
    rng = np.random.default_rng(seed)
    stems = stems or ["synthetic_000", "synthetic_001"]
    for i, stem in enumerate(stems):
        w, h = sizes[i % len(sizes)]
        (root / "STIMULI").mkdir(parents=True, exist_ok=True)
        arr = np.full((h, w, 3), 90, dtype=np.uint8)
        arr[h // 3 : h // 3 + 25, w // 4 : w // 4 + 25] = (230, 40, 40)
        Image.fromarray(arr).save(root / "STIMULI" / f"{stem}.jpeg", quality=95)
        d = root / "SCANPATHS" / stem
        d.mkdir(parents=True, exist_ok=True)
        for s in range(subjects):
            t = 0.0
            lines = [f"{w / 2:.1f} {h / 2:.1f} 0.000 0.200"]
            t = 0.25
            for _ in range(fixations - 1):
                dur = float(rng.uniform(0.1, 0.4))
                lines.append(f"{rng.uniform(0, w):.1f} {rng.uniform(0, h):.1f} {t:.3f} {t + dur:.3f}")
                t += dur + 0.03
            (d / f"subj{s:02d}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root

"""Paths taken from data files must stay under the folder the user configured (issue 16 item 3).

A data file names images relative to an image folder (COCO-Search18 ``name``, CapMIT1003
``images.img_path``, Amazon collage keys, shelf ``Question`` ids). An absolute name or ``..`` parts
would make a crafted file read (and feed to a model, or show in a figure) any file on the machine, so
:func:`resolve_under` rejects names that leave the folder. The check is lexical (``os.path.normpath``):
symlinks inside the folder are followed as usual, so a dataset folder of symlinks keeps working.
``allow_outside=True`` (data config key ``allow_outside``) turns the check off for trusted files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scanpath.errors import ScanpathDataError


def resolve_under(
    base: str | Path,
    name: str | Path,
    *,
    allow_outside: bool = False,
    file: str | Path | None = None,
    record: Any = None,
    field: str | None = None,
) -> Path:
    """``base / name``; a :class:`ScanpathDataError` (file, record, field) when it leaves ``base``."""
    base = Path(base)
    joined = base / name
    if allow_outside:
        return joined
    root = os.path.normpath(os.path.abspath(base))
    target = os.path.normpath(os.path.abspath(joined))
    if Path(name).is_absolute() or os.path.commonpath([root, target]) != root:
        raise ScanpathDataError(
            f"path {str(name)!r} points outside the configured folder {str(base)!r} "
            "(set the data config key allow_outside=true only for files you trust)",
            file=file, record=record, field=field,
        )
    return joined

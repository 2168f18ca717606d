"""Checks of the paths a user configured (issue 16 item 5): a given path that does not exist is an
error naming the config key and the path, never a fallback to other data."""

from __future__ import annotations

from pathlib import Path

from scanpath.errors import ScanpathDataError


def require_dir(path: str | Path | None, key: str) -> Path | None:
    """``path`` as a Path (None stays None); a missing folder or a file in its place is an error."""
    if path in (None, ""):
        return None
    p = Path(str(path))
    if not p.is_dir():
        what = "is not a folder" if p.exists() else "does not exist"
        raise ScanpathDataError(f"{key}={str(path)!r} {what}", file=p, field=key)
    return p


def require_file(path: str | Path | None, key: str) -> Path | None:
    """``path`` as a Path (None stays None); a missing file or a folder in its place is an error."""
    if path in (None, ""):
        return None
    p = Path(str(path))
    if not p.is_file():
        what = "is a folder, not a file" if p.is_dir() else "does not exist"
        raise ScanpathDataError(f"{key}={str(path)!r} {what}", file=p, field=key)
    return p

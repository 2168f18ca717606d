"""Reading a user's text file with one set of named errors (issue 16 item 8).

Every text reader goes through :func:`read_text` / :func:`read_json`: a missing file, a directory,
a non-UTF-8 (binary) file or invalid JSON is a :class:`~scanpath.errors.ScanpathDataError` naming
the file; a UTF-8 byte-order mark is accepted (``utf-8-sig``), as Excel and Windows tools write one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scanpath.errors import ScanpathDataError


def read_text(path: str | Path, what: str = "file") -> str:
    """The file's text (UTF-8, optional BOM), or a named error."""
    path = Path(path)
    if path.is_dir():
        raise ScanpathDataError(f"{what} is a directory, expected a file", file=path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScanpathDataError(f"{what} not found", file=path) from None
    except OSError as e:
        raise ScanpathDataError(f"cannot read {what}: {e.strerror or e}", file=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScanpathDataError(
            f"not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r}); is it a binary file?", file=path
        ) from None


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parsed JSON of a user's file (NaN / Infinity literals allowed, validated by the caller)."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ScanpathDataError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", file=path) from None
    except ValueError as e:  # e.g. an integer literal longer than Python's 4300-digit limit
        raise ScanpathDataError(f"invalid JSON: {e}", file=path) from None
    except RecursionError:
        raise ScanpathDataError("JSON nested too deeply", file=path) from None

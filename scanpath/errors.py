"""Errors raised on bad input, naming the file, the record and the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ScanpathDataError(ValueError):
    """Malformed or invalid scanpath data.

    The message always names where the problem is (file, record index or key, field) so a user can
    open the file and fix the record without reading our code.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        record: Any = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.record = record
        self.field = field
        where = []
        if self.file is not None:
            where.append(f"file {self.file!r}")
        if record is not None:
            where.append(f"record {record!r}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)

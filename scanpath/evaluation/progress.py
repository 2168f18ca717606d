"""Progress for long evaluation loops: a rich bar in a terminal, a log line every ``every_s`` seconds
otherwise (log files, SLURM), so non-interactive runs are never silent for minutes."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("scanpath.progress")


def is_interactive() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def track(items: Iterable[T], total: int | None = None, description: str = "working", every_s: float = 30.0,
          enabled: bool = True) -> Iterator[T]:
    """Yield ``items`` while showing progress (``done/total``, rate, ETA)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not enabled:
        yield from items
        return
    if is_interactive():
        from rich.progress import track as rich_track

        yield from rich_track(items, total=total, description=description, transient=True)
        return
    start = last = time.monotonic()
    done = 0
    log.info("%s: started (%s items)", description, total if total is not None else "?")
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            rate = done / max(now - start, 1e-9)
            eta = f", ETA {((total - done) / rate):.0f} s" if total and rate > 0 else ""
            log.info("%s: %d/%s (%.2f/s%s)", description, done, total if total is not None else "?", rate, eta)
    log.info("%s: done, %d items in %.1f s", description, done, time.monotonic() - start)

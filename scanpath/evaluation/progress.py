"""Progress for long evaluation loops: a rich bar in a terminal, otherwise the project's plain progress
line (:class:`scanpath.utils.progress.ProgressLog`, at least every ``every_s`` seconds) so log files
and SLURM runs are never silent for minutes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from scanpath.utils.progress import ProgressLog, _isatty

T = TypeVar("T")


def is_interactive() -> bool:
    """Whether stdout is a terminal (the same test the training progress bar uses)."""
    return _isatty()


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
    prog = ProgressLog(description, total=total, interval_s=every_s, enabled=True)
    for item in items:
        yield item
        prog.update()

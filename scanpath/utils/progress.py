"""Progress reporting that works in a terminal and in log files.

A rich progress bar draws nothing useful when stdout is not a terminal (output redirected to a file,
SLURM, CI): for minutes the log shows no sign of life. :class:`LogProgressBar` is a Lightning progress
bar that writes one plain line at most every ``interval_s`` seconds (and at the end of each stage) —
stage, epoch, step/total, rate and ETA, plus the bar metrics. :func:`auto_progress_bar` picks the rich
bar in a TTY and the line logger otherwise (``conf/callbacks/rich_progress_bar.yaml``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from pytorch_lightning.callbacks.progress.progress_bar import ProgressBar


def _fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fmt_total(total: Any) -> str:
    return "?" if total is None or not math.isfinite(float(total)) else str(int(total))


class LogProgressBar(ProgressBar):
    """Plain-text progress lines for non-interactive runs (module docstring).

    ``interval_s``: the longest time between two lines while a stage runs (30 s by default);
    ``stream``: where lines go (stdout; tests pass a buffer); ``clock``: time source (tests).
    """

    def __init__(self, interval_s: float = 30.0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = float(interval_s)
        self._stream = stream
        self._clock = clock
        self._enabled = True
        self._start: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._fit_start: float | None = None

    # ---------------------------------------------------------------- ProgressBar API
    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def _write(self, line: str) -> None:
        if not self._enabled:
            return
        trainer = getattr(self, "_trainer", None)
        if trainer is not None and not trainer.is_global_zero:
            return
        print(line, file=self.stream, flush=True)

    def _begin(self, stage: str) -> None:
        now = self._clock()
        self._start[stage] = now
        self._last[stage] = now

    def _line(self, stage: str, done: int, total: Any, trainer: Any, force: bool = False, extra: str = "") -> None:
        now = self._clock()
        if not force and now - self._last.get(stage, now) < self.interval_s:
            return
        self._last[stage] = now
        elapsed = now - self._start.get(stage, now)
        rate = done / elapsed if elapsed > 0 else float("nan")
        tot = float(total) if total is not None else float("inf")
        eta = (tot - done) / rate if rate and math.isfinite(rate) and rate > 0 and math.isfinite(tot) else float("nan")
        parts = [f"[{stage}]"]
        if stage == "train":
            max_ep = trainer.max_epochs if trainer.max_epochs is not None and trainer.max_epochs >= 0 else None
            parts.append(f"epoch {trainer.current_epoch + 1}/{max_ep if max_ep else '?'}")
        parts.append(f"step {done}/{_fmt_total(total)}")
        parts.append(f"{rate:.2f} it/s" if math.isfinite(rate) else "? it/s")
        parts.append(f"elapsed {_fmt_duration(elapsed)}")
        parts.append(f"ETA {_fmt_duration(eta)}")
        if stage == "train" and self._fit_start is not None and math.isfinite(tot) and tot > 0:
            max_ep = trainer.max_epochs
            if max_ep is not None and max_ep > 0:
                fit_elapsed = now - self._fit_start
                frac = (trainer.current_epoch + done / tot) / max_ep
                if frac > 0:
                    parts.append(f"fit ETA {_fmt_duration(fit_elapsed * (1 - frac) / frac)} (≤ max_epochs)")
        metrics = extra or self._metrics_text(trainer)
        if metrics:
            parts.append(metrics)
        self._write(" | ".join(parts))

    def _metrics_text(self, trainer: Any) -> str:
        try:
            items = self.get_metrics(trainer, trainer.lightning_module)
        except Exception:  # noqa: BLE001 - metrics are a nicety; never break training over them
            return ""
        out = []
        for k, v in items.items():
            if k == "v_num":
                continue
            try:
                out.append(f"{k}={float(v):.4g}")
            except (TypeError, ValueError):
                out.append(f"{k}={v}")
        return " ".join(out)

    # ---------------------------------------------------------------- hooks
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._fit_start = self._clock()

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._begin("train")

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._line("train", batch_idx + 1, self.total_train_batches, trainer)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        self._line("train", done, self.total_train_batches, trainer, force=True)

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._begin("sanity" if trainer.sanity_checking else "val")

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        self.has_dataloader_changed(dataloader_idx)
        stage = "sanity" if trainer.sanity_checking else "val"
        self._line(stage, batch_idx + 1, self.total_val_batches_current_dataloader, trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        self._line("val", int(self.total_val_batches), self.total_val_batches, trainer, force=True)

    def on_test_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._begin("test")

    def on_test_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                          dataloader_idx: int = 0) -> None:
        self.has_dataloader_changed(dataloader_idx)
        self._line("test", batch_idx + 1, self.total_test_batches_current_dataloader, trainer)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        total = sum(trainer.num_test_batches) if isinstance(trainer.num_test_batches, list) else trainer.num_test_batches
        self._line("test", int(total) if math.isfinite(float(total)) else 0, total, trainer, force=True)

    def on_predict_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._begin("predict")

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        self.has_dataloader_changed(dataloader_idx)
        self._line("predict", batch_idx + 1, self.total_predict_batches_current_dataloader, trainer)


class ProgressLog:
    """The same line format for loops outside Lightning (e.g. an evaluation protocol):

    >>> prog = ProgressLog("evaluate OAT ×100", total=7)
    >>> for batch in batches: ...; prog.update()
    """

    def __init__(self, stage: str, total: int | None = None, interval_s: float = 30.0,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 enabled: bool | None = None) -> None:
        self.stage, self.total, self.interval_s = stage, total, float(interval_s)
        self._stream, self._clock = stream, clock
        self.enabled = (not _isatty(stream)) if enabled is None else enabled
        self.done = 0
        self._start = self._last = clock()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self._clock()
        last = self.total is not None and self.done >= self.total
        if not self.enabled or (now - self._last < self.interval_s and not last):
            return
        self._last = now
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else float("nan")
        eta = (self.total - self.done) / rate if self.total is not None and rate > 0 else float("nan")
        line = (f"[{self.stage}] step {self.done}/{_fmt_total(self.total)} | "
                f"{rate:.2f} it/s | elapsed {_fmt_duration(elapsed)} | ETA {_fmt_duration(eta)}")
        print(line, file=self._stream if self._stream is not None else sys.stdout, flush=True)


def _isatty(stream: TextIO | None = None) -> bool:
    s = stream if stream is not None else sys.stdout
    try:
        return bool(s.isatty())
    except (AttributeError, ValueError):
        return False


def auto_progress_bar(interval_s: float = 30.0, force: str | None = None, **rich_kwargs: Any) -> ProgressBar:
    """The rich bar when stdout is a terminal, else :class:`LogProgressBar` (a line every
    ``interval_s`` s). ``force="rich"`` / ``"log"`` overrides the detection."""
    use_rich = _isatty() if force is None else force == "rich"
    if force not in (None, "rich", "log"):
        raise ValueError(f"force must be None, 'rich' or 'log', got {force!r}")
    if use_rich:
        from pytorch_lightning.callbacks import RichProgressBar

        return RichProgressBar(**rich_kwargs)
    return LogProgressBar(interval_s=interval_s)

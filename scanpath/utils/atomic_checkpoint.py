"""Checkpoints written atomically, and a completeness check for resuming (issue 16 item 12).

Lightning's own save goes through an fsspec transaction whose temporary file lives in the system temp
folder, so the final step is a cross-device *copy*: on a full disk it can leave a 0-byte or truncated
``epoch_NNN.ckpt`` that a later ``ckpt_path=last`` resumes from. :class:`AtomicModelCheckpoint` writes
each checkpoint to ``.<name>.partial`` in the checkpoint folder itself, fsyncs it and renames it over the
target (``os.replace``: atomic on one file system); on any failure the partial file is removed and the
previous checkpoint stays intact. :func:`checkpoint_is_complete` tells a complete ``torch.save`` file
(a zip archive with its central directory at the end) from a truncated one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zipfile
from pathlib import Path
from weakref import proxy

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    """``…/epoch_003.ckpt`` → ``…/.epoch_003.ckpt.partial`` (hidden, not matched by ``*.ckpt``)."""
    path = Path(path)
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def checkpoint_is_complete(path: str | Path) -> bool:
    """True for a non-empty, fully written ``torch.save`` zip file (a truncated zip has no end record)."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        with zipfile.ZipFile(path) as zf:
            return len(zf.namelist()) > 0
    except (OSError, zipfile.BadZipFile):
        return False


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicModelCheckpoint(ModelCheckpoint):
    """:class:`~pytorch_lightning.callbacks.ModelCheckpoint` whose files appear complete or not at all."""

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        tmp = partial_path(filepath)
        try:
            trainer.save_checkpoint(str(tmp), self.save_weights_only)  # collective: every rank calls it
            if trainer.is_global_zero:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, filepath)
                _fsync_dir(Path(filepath).parent)
        except BaseException:
            if trainer.is_global_zero:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

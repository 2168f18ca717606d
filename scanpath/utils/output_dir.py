"""Fail early, and by name, when the output directory cannot be written (issue 16 item 10).

Without this check a read-only or impossible run dir ends in Hydra's ``Unable to configure handler
'file'`` (the job log) or a bare ``PermissionError`` deep in Lightning. :func:`check_writable_dir`
probes the folder (or, when it does not exist yet, the nearest existing parent that must hold it) by
creating and removing a temporary file, and raises :class:`OutputDirError` naming the directory.
:class:`OutputDirCheck` runs it as a Hydra callback before the job's logging is configured
(``hydra.callbacks`` in ``conf/hydra/default.yaml``) and exits with status 1 and a one-line message
(Hydra would only warn about an exception raised in a callback); entry points may also call
:func:`check_output_dir` on the composed config.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency
    Callback = object  # type: ignore[assignment,misc]


class OutputDirError(PermissionError):
    """The output directory (named in the message and in ``.directory``) cannot be created or written."""

    def __init__(self, message: str, directory: str | Path) -> None:
        super().__init__(message)
        self.directory = str(directory)


def check_writable_dir(path: str | Path, what: str = "output directory") -> Path:
    """Return ``path`` when it is (or can be created as) a writable folder; else :class:`OutputDirError`."""
    target = Path(os.path.abspath(os.path.expanduser(str(path))))
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputDirError(
            f"{what} {str(target)!r} cannot be created: {str(probe)!r} is a file, not a folder", probe
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=".scanpath-write-check-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        where = "is not writable" if probe == target else f"cannot be created: {str(probe)!r} is not writable"
        raise OutputDirError(f"{what} {str(target)!r} {where} ({e.strerror or e}); choose another folder, "
                             f"e.g. hydra.run.dir=/path/you/can/write or paths.log_dir=…", probe) from None
    return target


def check_output_dir(cfg: DictConfig) -> Path | None:
    """Check ``cfg.paths.output_dir`` (when it resolves) — for entry points called without Hydra's run."""
    out = OmegaConf.select(cfg, "paths.output_dir", default=None, throw_on_resolution_failure=False)
    return None if out in (None, "") else check_writable_dir(out)


def _select(config: DictConfig, key: str) -> Any:
    return OmegaConf.select(config, key, default=None, throw_on_resolution_failure=False)


def _check_or_exit(path: Any, what: str) -> None:
    """Hydra turns exceptions raised in callbacks into warnings, so an unwritable dir exits here instead
    (``SystemExit`` passes Hydra's ``except Exception``): exit status 1 and one line naming the folder."""
    if not path:
        return
    try:
        check_writable_dir(path, what)
    except OutputDirError as e:
        raise SystemExit(f"Error: {e}") from None


class OutputDirCheck(Callback):  # type: ignore[misc]
    """Hydra callback: check the run (or sweep) dir before Hydra creates it and opens the job log there."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_or_exit(_select(config, "hydra.run.dir"), "output directory (hydra.run.dir)")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_or_exit(_select(config, "hydra.sweep.dir"), "sweep directory (hydra.sweep.dir)")

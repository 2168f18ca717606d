"""Silence third-party messages that are known, harmless and drown the run's own output.

:func:`quiet_known_warnings` is called once by the entry points (``train.py``, ``evaluate.py``) before
Lightning is used. It filters only exact, listed messages; everything else still shows:

* torch ≥ 2.9 ``FutureWarning`` "`isinstance(treespec, LeafSpec)` is deprecated" — raised inside
  Lightning's own ``utilities/_pytree.py`` (not our code; harmless until Lightning updates);
* Lightning's "💡 Tip: … try installing litlogger …" advertisement, logged at INFO on every fit.
"""

from __future__ import annotations

import logging
import warnings

#: (category, message regex) pairs passed to :func:`warnings.filterwarnings`.
KNOWN_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
    (DeprecationWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
)

#: (logger name, message prefix) of known log noise.
KNOWN_LOG_LINES: tuple[tuple[str, str], ...] = (
    ("pytorch_lightning.utilities.rank_zero", "💡 Tip: For seamless cloud logging"),
    ("lightning.pytorch.utilities.rank_zero", "💡 Tip: For seamless cloud logging"),
    ("lightning_fabric.utilities.rank_zero", "💡 Tip: For seamless cloud logging"),
)


class _DropPrefix(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.prefix)


def quiet_known_warnings() -> None:
    """Install the filters (idempotent)."""
    for category, pattern in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    for name, prefix in KNOWN_LOG_LINES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropPrefix) and f.prefix == prefix for f in logger.filters):
            logger.addFilter(_DropPrefix(prefix))

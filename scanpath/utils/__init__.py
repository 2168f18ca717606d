"""Run-time helpers for train.py / evaluate.py (Hydra resolvers, instantiation, logging, banners)."""

from scanpath.utils.hydra import (
    SYNTHETIC_BANNER,
    CheckpointMismatchError,
    close_loggers,
    get_metric_value,
    instantiate_callbacks,
    instantiate_loggers,
    print_banner,
    register_resolvers,
    resolve_ckpt_path,
)
from scanpath.utils.output_dir import OutputDirError, check_output_dir, check_writable_dir

from scanpath.utils.quiet import quiet_known_warnings

register_resolvers()

__all__ = [
    "SYNTHETIC_BANNER",
    "CheckpointMismatchError",
    "OutputDirError",
    "check_output_dir",
    "check_writable_dir",
    "close_loggers",
    "get_metric_value",
    "instantiate_callbacks",
    "instantiate_loggers",
    "print_banner",
    "quiet_known_warnings",
    "register_resolvers",
    "resolve_ckpt_path",
]

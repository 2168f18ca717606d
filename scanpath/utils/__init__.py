"""Run-time helpers for train.py / evaluate.py (Hydra resolvers, instantiation, logging, banners)."""

from scanpath.utils.hydra import (
    SYNTHETIC_BANNER,
    close_loggers,
    get_metric_value,
    instantiate_callbacks,
    instantiate_loggers,
    print_banner,
    register_resolvers,
    resolve_ckpt_path,
)

from scanpath.utils.quiet import quiet_known_warnings

register_resolvers()

__all__ = [
    "SYNTHETIC_BANNER",
    "close_loggers",
    "get_metric_value",
    "instantiate_callbacks",
    "instantiate_loggers",
    "print_banner",
    "quiet_known_warnings",
    "register_resolvers",
    "resolve_ckpt_path",
]

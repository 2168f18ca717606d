"""Hydra / Lightning glue shared by train.py and evaluate.py (lightning-hydra-template style)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("scanpath")

SYNTHETIC_BANNER = "SYNTHETIC — not human data"


def register_resolvers() -> None:
    """``${wandb_offline:}`` → True when no ``WANDB_API_KEY`` is set (so wandb logs offline).

    Also silences Hydra's notice that conf/hydra/launcher/submitit_*.yaml are validated against the
    plugin's schema of the same name (intended: our files fill in the plugin's schema)."""
    import warnings

    warnings.filterwarnings("ignore", message=".*is validated against ConfigStore schema with the same name.*")
    if not OmegaConf.has_resolver("wandb_offline"):
        OmegaConf.register_new_resolver("wandb_offline", lambda: not os.environ.get("WANDB_API_KEY"))


def _instantiate_group(cfg: DictConfig | None, what: str) -> list[Any]:
    from hydra.utils import instantiate

    out: list[Any] = []
    if not cfg:
        return out
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"{what} config must be a DictConfig, got {type(cfg).__name__}")
    for name, conf in cfg.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.info("instantiating %s <%s>", what, conf._target_)
            out.append(instantiate(conf))
    return out


def instantiate_callbacks(cfg: DictConfig | None) -> list[Any]:
    return _instantiate_group(cfg, "callback")


def instantiate_loggers(cfg: DictConfig | None) -> list[Any]:
    return _instantiate_group(cfg, "logger")


def close_loggers() -> None:
    """Always finish a wandb run (even after an exception) so the next run in the process is clean."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            log.info("closing wandb")
            wandb.finish()


def print_banner(text: str, style: str = "bold white on red") -> None:
    from rich.console import Console
    from rich.panel import Panel

    Console(stderr=True).print(Panel(text, style=style, expand=False))
    log.warning(text)


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """``ckpt_path``: a path, ``last`` (this run's checkpoints/last.ckpt, else the newest last.ckpt
    under ``${paths.log_dir}/${task_name}``), or null (→ this run's last.ckpt when it exists and
    ``resume_from_last`` is set: a requeued SLURM job reuses its run dir)."""
    ckpt = cfg.get("ckpt_path")
    run_last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if ckpt is None:
        if cfg.get("resume_from_last", False) and run_last.is_file():
            log.info("resuming from %s (resume_from_last)", run_last)
            return str(run_last)
        return None
    if str(ckpt) == "last":
        if run_last.is_file():
            return str(run_last)
        root = Path(cfg.paths.log_dir) / str(cfg.get("task_name", ""))
        found = sorted(root.glob("**/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if found:
            log.info("ckpt_path=last → %s", found[-1])
            return str(found[-1])
        raise FileNotFoundError(
            f"ckpt_path=last: no checkpoints/last.ckpt in this run dir ({run_last.parent.parent}) nor under {root}"
        )
    path = Path(str(ckpt)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt}: file not found")
    return str(path)


def get_metric_value(metrics: dict[str, Any], name: str | None) -> float | None:
    """The value a sweeper optimises (None when no metric is configured)."""
    if not name:
        return None
    if name not in metrics:
        raise KeyError(
            f"optimized_metric={name!r} was not logged; logged metrics: {sorted(metrics)}. "
            "Set optimized_metric to one of them."
        )
    v = metrics[name]
    return float(v.item() if hasattr(v, "item") else v)

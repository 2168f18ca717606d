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


class CheckpointMismatchError(ValueError):
    """``ckpt_path`` names a checkpoint written by a run of another model / experiment."""


def _run_dir_of(ckpt: Path) -> Path:
    """``<run>/checkpoints/x.ckpt`` → ``<run>``."""
    return ckpt.parent.parent


def run_identity(run_dir: str | Path) -> dict[str, Any] | None:
    """``{"model": model._target_, "experiment": choice or None}`` recorded in a run dir's ``.hydra/``
    (Hydra writes ``config.yaml`` and ``hydra.yaml`` into every run dir); None when not recorded."""
    hydra_dir = Path(run_dir) / ".hydra"
    try:
        conf = OmegaConf.load(hydra_dir / "config.yaml")
    except Exception:  # missing or unreadable: identity unknown
        return None
    model = OmegaConf.select(conf, "model._target_", default=None, throw_on_resolution_failure=False)
    experiment = None
    try:
        hcfg = OmegaConf.load(hydra_dir / "hydra.yaml")
        experiment = OmegaConf.select(hcfg, "hydra.runtime.choices.experiment", default=None,
                                      throw_on_resolution_failure=False)
    except Exception:
        pass
    return {"model": None if model is None else str(model), "experiment": None if experiment is None else str(experiment)}


def current_identity(cfg: DictConfig) -> dict[str, Any]:
    """Model target and experiment choice of the running job (experiment: None outside Hydra's run)."""
    model = OmegaConf.select(cfg, "model._target_", default=None, throw_on_resolution_failure=False)
    experiment = None
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            experiment = HydraConfig.get().runtime.choices.get("experiment")
    except Exception:
        experiment = None
    if experiment is None:
        experiment = OmegaConf.select(cfg, "hydra.runtime.choices.experiment", default=None,
                                      throw_on_resolution_failure=False)
    return {"model": None if model is None else str(model), "experiment": None if experiment is None else str(experiment)}


def _same_run_kind(found: dict[str, Any] | None, want: dict[str, Any]) -> bool:
    if found is None or found.get("model") is None or want.get("model") is None:
        return False
    if found["model"] != want["model"]:
        return False
    return want.get("experiment") is None or found.get("experiment") == want["experiment"]


def check_checkpoint_matches(ckpt: str | Path, cfg: DictConfig) -> None:
    """Raise :class:`CheckpointMismatchError` when the run dir holding ``ckpt`` recorded another model
    class than this job's ``model._target_`` (no record, e.g. a downloaded file: nothing to check)."""
    want = current_identity(cfg)
    found = run_identity(_run_dir_of(Path(ckpt)))
    if found is None or found.get("model") is None or want.get("model") is None:
        return
    if found["model"] != want["model"]:
        raise CheckpointMismatchError(
            f"ckpt_path={ckpt}: written by a run of model {found['model']} "
            f"(experiment {found.get('experiment')}), but this run's model is {want['model']}; "
            "pass the checkpoint of a matching run or change model=/experiment="
        )


def _complete_or_warn(path: Path) -> bool:
    from scanpath.utils.atomic_checkpoint import checkpoint_is_complete

    if checkpoint_is_complete(path):
        return True
    if path.exists():
        log.warning("ignoring incomplete checkpoint %s (%d bytes, not a complete torch.save archive; "
                    "an interrupted or full-disk write)", path, path.stat().st_size)
    return False


def _newest_complete_in_run(run_dir: Path) -> Path | None:
    """``last.ckpt`` of a run when complete, else its newest complete ``*.ckpt`` (warned), else None."""
    ckdir = run_dir / "checkpoints"
    for p in ckdir.glob(".*.partial"):  # AtomicModelCheckpoint's temp file of a save killed mid-write
        log.warning("ignoring the interrupted checkpoint write %s", p)
    last = ckdir / "last.ckpt"
    if _complete_or_warn(last):
        return last
    others = sorted((p for p in ckdir.glob("*.ckpt") if p.name != "last.ckpt"),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for p in others:
        if _complete_or_warn(p):
            if last.exists():
                log.warning("resuming from %s instead of the incomplete %s", p, last)
            return p
    return None


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """``ckpt_path``: a path, ``last``, or null.

    * a path must exist and be a complete checkpoint; when the run dir holding it recorded another
      model class (``.hydra/config.yaml``) it is a :class:`CheckpointMismatchError`;
    * ``last``: this run's ``checkpoints/last.ckpt``; else the newest run under
      ``${paths.log_dir}/${task_name}`` **of the same model** (``model._target_``) **and experiment**
      (when one is chosen), read from each candidate run's ``.hydra/`` record — never another model's run;
    * null: this run's last.ckpt when it exists and ``resume_from_last`` is set (a requeued SLURM job
      reuses its run dir).

    Incomplete files (0 bytes, truncated) are skipped with a warning: the run's newest complete
    checkpoint is used instead."""
    ckpt = cfg.get("ckpt_path")
    run_dir = Path(cfg.paths.output_dir)
    if ckpt is None:
        if cfg.get("resume_from_last", False) and (run_dir / "checkpoints").is_dir():
            found = _newest_complete_in_run(run_dir)
            if found is not None:
                log.info("resuming from %s (resume_from_last)", found)
                return str(found)
        return None
    if str(ckpt) == "last":
        mine = _newest_complete_in_run(run_dir) if (run_dir / "checkpoints").is_dir() else None
        if mine is not None:
            check_checkpoint_matches(mine, cfg)
            return str(mine)
        want = current_identity(cfg)
        root = Path(cfg.paths.log_dir) / str(cfg.get("task_name", ""))
        seen: list[str] = []
        runs = sorted({p.parent.parent for p in root.glob("**/checkpoints/*.ckpt")},
                      key=lambda d: max(q.stat().st_mtime for q in (d / "checkpoints").glob("*.ckpt")), reverse=True)
        for rd in runs:
            if rd.resolve() == run_dir.resolve():
                continue
            ident = run_identity(rd)
            if not _same_run_kind(ident, want):
                seen.append(f"{rd} (model {ident and ident.get('model')}, experiment {ident and ident.get('experiment')})")
                continue
            found = _newest_complete_in_run(rd)
            if found is not None:
                log.info("ckpt_path=last → %s (newest run of %s, experiment %s)", found, want["model"],
                         want["experiment"])
                return str(found)
            seen.append(f"{rd} (no complete checkpoint)")
        raise FileNotFoundError(
            f"ckpt_path=last: no complete checkpoint in this run dir ({run_dir}) nor in any run of model "
            f"{want['model']} (experiment {want['experiment']}) under {root}"
            + (f"; other runs there: {seen[:5]}" if seen else "")
        )
    path = Path(str(ckpt)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt}: file not found" + (" (it is a folder)" if path.is_dir() else ""))
    from scanpath.utils.atomic_checkpoint import checkpoint_is_complete

    if not checkpoint_is_complete(path):
        raise ValueError(f"ckpt_path={ckpt}: not a complete checkpoint ({path.stat().st_size} bytes; a truncated "
                         "or interrupted write, or not a torch.save file)")
    check_checkpoint_matches(path, cfg)
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

"""Hydra glue shared by train.py and evaluate.py: build the baselines and the protocol from the
composed config and run the evaluation layer on built objects (the lightning-hydra-template's
``instantiators`` role; :mod:`scanpath.evaluation` itself never sees a config)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def display_name(model: Any, fallback: str) -> str:
    """The model's table name, or ``fallback`` for the generic defaults."""
    name = getattr(model, "display_name", None)
    return name if name and name not in ("model", "baseline") else fallback


def model_display_name(cfg: DictConfig, model: Any) -> str:
    return display_name(model, str(cfg.model.get("_target_", "model")).rsplit(".", 1)[-1])


def instantiate_baselines(cfg: DictConfig, model_name: str) -> tuple[list[Any], dict[str, str]]:
    """Baseline entries from ``cfg.baselines``; one equal to the evaluated untrained model is skipped."""
    from hydra.utils import instantiate

    from scanpath.evaluation import Entry

    entries: list[Entry] = []
    skipped: dict[str, str] = {}
    model_plain = OmegaConf.to_container(cfg.model, resolve=True)
    for key, bcfg in (cfg.get("baselines") or {}).items():
        if bcfg is None:
            continue
        if OmegaConf.to_container(bcfg, resolve=True) == model_plain and not cfg.get("ckpt_path"):
            skipped[str(key)] = "identical to the evaluated model"
            continue
        bmodel = instantiate(bcfg)
        name = display_name(bmodel, str(key))
        if name == model_name or name in {e.name for e in entries}:
            name = f"{name} [{key}]"
        entries.append(Entry(name, bmodel, "baseline", None, f"baselines.{key}"))
    return entries, skipped


def instantiate_protocol(cfg: DictConfig) -> Any:
    """``cfg.protocol`` (conf/protocol/), or the plain predict-then-score protocol."""
    from hydra.utils import instantiate

    from scanpath.evaluation.protocols import PlainProtocol

    return instantiate(cfg.protocol) if cfg.get("protocol") else PlainProtocol()


def run_evaluation(cfg: DictConfig, model: Any, datamodule: Any, out_dir: str | Path,
                   checkpoint: str | None = None) -> dict[str, Any]:
    """Run the configured protocol on built objects and write the report; returns the metrics.json payload."""
    from scanpath.evaluation import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = model_display_name(cfg, model)
    baselines, skipped = instantiate_baselines(cfg, name)
    protocol = instantiate_protocol(cfg)
    log.info("evaluation protocol: %s (conf/protocol/; protocol=plain for predict-then-score) → %s", protocol.name, out)
    result = protocol.run(model=model, model_name=name, datamodule=datamodule, out_dir=out,
                          metrics=cfg.get("metrics"), checkpoint=checkpoint, baselines=baselines, skipped=skipped,
                          human_consistency=bool(cfg.get("human_consistency", True)),
                          n_figures=int(cfg.get("n_figures") or 0), seed=cfg.get("seed"),
                          device=str(cfg.get("device") or "cpu"),
                          n_stimuli=int(OmegaConf.select(cfg, "report.n_stimuli", default=6) or 0))
    return write_report(result, out)

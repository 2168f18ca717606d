"""Train a scanpath model: ``python train.py model=<name> data=<name> [trainer=gpu] [logger=wandb] ...``.

lightning-hydra-template flow: seed everything, instantiate datamodule / model / callbacks / loggers /
trainer from the config, fit, test the best checkpoint (skipped when the model has no ``test_step``),
evaluate it through :mod:`scanpath.evaluation` into ``<run dir>/evaluation/`` (``evaluate=false`` skips)
and return ``optimized_metric`` (``auto`` = the model's own ``monitor``) for sweepers (Optuna,
submitit). ``ckpt_path=last`` resumes from the run's ``checkpoints/last.ckpt``; a requeued SLURM job
resumes automatically (``resume_from_last``).
wandb is always closed, even after an exception.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from scanpath.resources import checkout_root, config_dir

if checkout_root() is not None:  # paths.root_dir = the checkout (a wheel install: the working directory)
    os.environ.setdefault("PROJECT_ROOT", str(checkout_root()))

import hydra  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, OmegaConf, open_dict  # noqa: E402
from pytorch_lightning.utilities.model_helpers import is_overridden  # noqa: E402

from scanpath.evaluation import load_weights  # noqa: E402
from scanpath.utils import (  # noqa: E402  (registers the ${wandb_offline:} resolver)
    SYNTHETIC_BANNER,
    close_loggers,
    get_metric_value,
    instantiate_callbacks,
    instantiate_loggers,
    print_banner,
    resolve_ckpt_path,
)
from scanpath.utils.config_checks import check_config  # noqa: E402
from scanpath.utils.quiet import quiet_known_warnings  # noqa: E402
from scanpath.utils.instantiators import run_evaluation, serve_sample_keys, training_outputs  # noqa: E402

quiet_known_warnings()  # known, harmless third-party notices (scanpath/utils/quiet.py)

log = logging.getLogger("scanpath.train")


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit and test; returns (metrics, objects) — metrics are the trainer's callback metrics."""
    check_config(cfg)  # wrong types fail here, naming key and value, before anything is built
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    if not getattr(model, "trainable", False):
        raise ValueError(
            f"model {type(model).__name__} is not trainable (zero-shot); evaluate it with "
            f"`python evaluate.py model=...` instead of train.py"
        )
    serve_sample_keys(datamodule, [model])  # loaders render / load only what the model reads
    if cfg.get("optimized_metric") == "auto":  # the model's own validation metric (callbacks interpolate it)
        with open_dict(cfg):
            cfg.optimized_metric = getattr(model, "monitor", "val/loss")
    synthetic = bool(getattr(datamodule, "synthetic", False))
    if synthetic:
        print_banner(f"{SYNTHETIC_BANNER}: dataset {getattr(datamodule, 'name', type(datamodule).__name__)}")

    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    hparams = OmegaConf.to_container(cfg, resolve=True)
    hparams.pop("hydra", None)  # present only when composed with the Hydra node (tests)
    hparams["synthetic_data"] = synthetic
    for lg in trainer.loggers:
        lg.log_hyperparams(hparams)

    objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer,
               "callbacks": callbacks, "loggers": loggers}
    ckpt_path = resolve_ckpt_path(cfg)
    if cfg.get("train", True):
        log.info("starting training%s", f" from {ckpt_path}" if ckpt_path else "")
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = dict(trainer.callback_metrics)

    if cfg.get("test", True):
        if not is_overridden("test_step", model):
            log.info("model %s has no test_step: skipping test", type(model).__name__)
        else:
            ckpt_cb = getattr(trainer, "checkpoint_callback", None)
            best = getattr(ckpt_cb, "best_model_path", "") if ckpt_cb is not None else ""
            if not best:
                log.warning("no best checkpoint (fast_dev_run or checkpointing off): testing current weights")
            trainer.test(model=model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
            metrics.update(trainer.callback_metrics)
    objects["ckpt_path"] = ckpt_path
    if cfg.get("evaluate", True) and not trainer.fast_dev_run and trainer.is_global_zero:
        best = getattr(getattr(trainer, "checkpoint_callback", None), "best_model_path", "") or None
        if best:
            load_weights(model, best)
        objects["evaluation"] = run_evaluation(cfg, model, datamodule, Path(cfg.paths.output_dir) / "evaluation",
                                               checkpoint=best, loggers=list(trainer.loggers), untrained=False)
        for line in training_outputs(cfg, trainer, cfg.paths.output_dir, best):
            log.info(line)
    return metrics, objects


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics, _ = train(cfg)
    finally:
        close_loggers()
    return get_metric_value(metrics, cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()

"""Evaluate scanpath models: ``python evaluate.py model=<name> data=<name> [ckpt_path=…] [protocol=…]``.

Compose the config, build the datamodule and the model (weights from ``ckpt_path`` through the one
checkpoint loader), then run the protocol — ``conf/protocol/<model>.yaml`` when the model has one
(OAT, the 360° agents), else predict-then-score against the baselines and the human row — and write
``metrics.json`` (one schema), ``metrics.md``, predictions and figures into the Hydra run dir.
The logic lives in :mod:`scanpath.evaluation`; the Hydra glue in :mod:`scanpath.utils.instantiators`.
"""

from __future__ import annotations

import os
from typing import Any

from scanpath.resources import checkout_root, config_dir

if checkout_root() is not None:  # paths.root_dir = the checkout (a wheel install: the working directory)
    os.environ.setdefault("PROJECT_ROOT", str(checkout_root()))

import hydra  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from scanpath.evaluation import load_weights  # noqa: E402
from scanpath.utils import SYNTHETIC_BANNER, close_loggers, print_banner  # noqa: E402
from scanpath.utils.config_checks import check_config  # noqa: E402
from scanpath.utils.quiet import quiet_known_warnings  # noqa: E402
from scanpath.utils.instantiators import run_evaluation  # noqa: E402

quiet_known_warnings()  # known, harmless third-party notices (scanpath/utils/quiet.py)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Build, run the protocol, write every output; returns the metrics.json payload."""
    check_config(cfg)  # wrong types fail here, naming key and value, before anything is built
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)
    datamodule = instantiate(cfg.data)
    if getattr(datamodule, "synthetic", False):
        print_banner(f"{SYNTHETIC_BANNER}: dataset {getattr(datamodule, 'name', '?')}")
    model = instantiate(cfg.model)
    ckpt = str(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    if ckpt:
        load_weights(model, ckpt)
    return run_evaluation(cfg, model, datamodule, cfg.paths.output_dir, checkpoint=ckpt)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg)
    finally:
        close_loggers()


if __name__ == "__main__":
    main()

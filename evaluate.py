"""Evaluate scanpath models: ``python evaluate.py model=<name> data=<name> [ckpt_path=…] [protocol=…]``.

Compose the config, build the datamodule and the model (weights from ``ckpt_path`` through the one
checkpoint loader), then run the protocol — ``conf/protocol/<model>.yaml`` when the model has one
(OAT, the 360° agents), else predict-then-score against the baselines and the human row — and write
``metrics.json`` (one schema), ``metrics.md``, predictions and figures into the Hydra run dir.
The logic lives in :mod:`scanpath.evaluation`; the Hydra glue in :mod:`scanpath.utils.instantiators`.
"""

from scanpath.cli.evaluate import main, evaluate  # noqa: F401  (the logic; `scanpath-evaluate` runs the same main)

if __name__ == "__main__":
    main()

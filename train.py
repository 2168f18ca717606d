"""Train a scanpath model: ``python train.py model=<name> data=<name> [trainer=gpu] [logger=wandb] ...``.

lightning-hydra-template flow: seed everything, instantiate datamodule / model / callbacks / loggers /
trainer from the config, fit, test the best checkpoint (skipped when the model has no ``test_step``),
evaluate it through :mod:`scanpath.evaluation` into ``<run dir>/evaluation/`` (``evaluate=false`` skips)
and return ``optimized_metric`` (``auto`` = the model's own ``monitor``) for sweepers (Optuna,
submitit). ``ckpt_path=last`` resumes from the run's ``checkpoints/last.ckpt``; a requeued SLURM job
resumes automatically (``resume_from_last``).
wandb is always closed, even after an exception.
"""

from scanpath.cli.train import main, train  # noqa: F401  (the logic; `scanpath-train` runs the same main)

if __name__ == "__main__":
    main()

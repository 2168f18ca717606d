"""Train a scanpath model: ``python train.py model=<name> data=<name> [trainer=gpu] [logger=wandb] ...``.

Thin entry point of a checkout; the installed console script ``scanpath-train`` runs the same ``main``.
The flow (fit, test the best checkpoint, evaluate it, resume, sweeps) is described and implemented in
:mod:`scanpath.cli.train`.
"""

from scanpath.cli.train import main, train  # noqa: F401  (train: the function tests and callers use)

if __name__ == "__main__":
    main()

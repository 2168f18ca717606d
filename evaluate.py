"""Evaluate scanpath models: ``python evaluate.py model=<name> data=<name> [ckpt_path=…] [protocol=…]``.

Thin entry point of a checkout; the installed console script ``scanpath-evaluate`` runs the same
``main``. The flow (build, run the protocol, write metrics.json, metrics.md, report.html …) is
described and implemented in :mod:`scanpath.cli.evaluate` (docs/evaluation.md).
"""

from scanpath.cli.evaluate import evaluate, main  # noqa: F401  (evaluate: the function tests and callers use)

if __name__ == "__main__":
    main()

"""scanpath: human gaze scanpath prediction models, data and metrics under one roof."""

from scanpath.resources import install_checkout_finder

install_checkout_finder()  # a checkout serves datamodules/ as scanpath.datamodules (scanpath/resources.py)

from scanpath.types import Scanpath, ScanpathBatch  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Scanpath", "ScanpathBatch", "__version__", "score"]


def score(predictions, humans, metrics="hat", **kwargs):  # noqa: ANN001, ANN003, ANN201
    """Score a predictions file (or scanpaths) against human fixations with a metric preset and return
    the ``metrics.json`` payload; ``out_dir=`` also writes the evaluate.py outputs. See
    :func:`scanpath.scoring.score` and docs/scoring.md."""
    from scanpath.scoring import score as _score

    return _score(predictions, humans, metrics, **kwargs)

"""scanpath: human gaze scanpath prediction models, data and metrics under one roof."""

from scanpath.types import Scanpath, ScanpathBatch

__version__ = "0.1.0"
__all__ = ["Scanpath", "ScanpathBatch", "__version__"]

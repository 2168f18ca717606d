"""Where the package's non-library parts live, in a wheel install and in a source checkout.

The wheel maps two top-level folders of the repository into the package with setuptools'
``package_dir`` (``setup.py``): ``conf/`` → ``scanpath/conf`` (the Hydra configs) and
``datamodules/`` → ``scanpath/datamodules``. A checkout keeps both folders where they are, so
:func:`config_dir` looks in both places and :class:`CheckoutFinder` serves the top-level
``datamodules/`` folder as ``scanpath.datamodules`` when the package itself runs from a checkout.
Standard library only: imported by ``scanpath/__init__.py``.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATAMODULES = "scanpath.datamodules"


def checkout_root() -> Path | None:
    """The repository root when ``scanpath`` runs from a source checkout (plain or ``pip install -e``),
    else ``None`` (a wheel install: the configs and datamodules sit inside the package)."""
    if (PACKAGE_DIR / "conf").is_dir():
        return None
    root = PACKAGE_DIR.parent
    return root if (root / "conf").is_dir() and (root / "datamodules" / "__init__.py").is_file() else None


def config_dir() -> Path:
    """The Hydra config folder: ``scanpath/conf`` in a wheel install, the repository's ``conf/`` in a checkout."""
    for cand in (PACKAGE_DIR / "conf", PACKAGE_DIR.parent / "conf"):
        if (cand / "train.yaml").is_file() and (cand / "evaluate.yaml").is_file():
            return cand
    raise FileNotFoundError(f"no Hydra configs (conf/train.yaml, conf/evaluate.yaml) in {PACKAGE_DIR} or next to it")


class CheckoutFinder(importlib.abc.MetaPathFinder):
    """Import ``scanpath.datamodules`` from the checkout's top-level ``datamodules/`` folder.

    Placed first on ``sys.meta_path`` so that an editable install of another checkout (whose finder
    maps the same name to its own folder) never wins over the checkout ``scanpath`` was imported from.
    Submodules (``scanpath.datamodules.base`` …) are then found through the package's ``__path__``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001, ANN201 (importlib protocol)
        if fullname != DATAMODULES:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.folder / "__init__.py", submodule_search_locations=[str(self.folder)])


def install_checkout_finder() -> None:
    """Put :class:`CheckoutFinder` on ``sys.meta_path`` when running from a checkout (once; no-op in a wheel)."""
    root = checkout_root()
    if root is None or any(isinstance(f, CheckoutFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, CheckoutFinder(root / "datamodules"))

"""Fetch the public datasets the framework reads: ``python -m scanpath download <dataset>``
(docs/datasets.md).

:data:`REGISTRY` lists each dataset's files, checksums, licence and data config; :func:`download`
runs the whole install (checks, licence, resumable download, verification, atomic extraction, config
pointer). Standard library only (``urllib``, ``zipfile``, ``tarfile``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanpath.download.transfer import DownloadError, fetch
from scanpath.download.install import Installed, LicenceNotAccepted, install, report
from scanpath.download.registry import REGISTRY, DataConfig, DatasetSpec, RemoteFile
from scanpath.errors import ScanpathDataError

__all__ = ["REGISTRY", "DataConfig", "DatasetSpec", "DownloadError", "Installed", "LicenceNotAccepted",
           "RemoteFile", "download", "fetch", "get_spec", "install", "report"]


def get_spec(name: str) -> DatasetSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ScanpathDataError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}",
                                field="dataset") from None


def download(name: str, root: str | Path = "data", **kwargs: Any) -> Installed:
    """Install the registered dataset ``name`` under ``root`` (keyword arguments: :func:`install`)."""
    return install(get_spec(name), root, **kwargs)

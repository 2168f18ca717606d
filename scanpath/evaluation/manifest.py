"""Run manifests: a run dir tells a reader whether its outputs are complete and belong together.

:func:`prepare_run_dir` runs before an evaluation writes anything: outputs of an earlier evaluation in
the same dir (listed by its ``manifest.json``, or known output names) and stray temp files of an
interrupted write are removed, with a warning, so the dir never mixes two runs. :func:`write_manifest`
runs last: every file with its size and sha256, and ``completed: true``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from scanpath.io.atomic import atomic_write_json

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
#: what an evaluation writes at the top of its dir (figures/ and per-condition folders are listed by the manifest)
OUTPUT_GLOBS = ("metrics.json", "metrics.md", "per_stimulus.json", "report.html", "report_data.json",
                "predictions*.json", "predictions*.meta.json", "success.json", "success.md", "episodes.jsonl", "slopes.*",
                "asymmetry_index.*", "figures/*.png")


def file_sha256(path: str | Path) -> str | None:
    """sha256 of a file's bytes (None when ``path`` is not a file)."""
    path = Path(str(path))
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare_run_dir(out_dir: str | Path, keep: tuple[str, ...] = ()) -> list[Path]:
    """Remove an earlier evaluation's outputs and stray ``*.tmp`` files from ``out_dir``; returns them.

    ``keep`` names files an evaluation reuses on purpose (the asymmetry protocol's resumable
    per-condition folders are not touched: they are not in :data:`OUTPUT_GLOBS`).
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    old: set[Path] = set()
    manifest = out / MANIFEST
    if manifest.is_file():
        import json

        try:
            old |= {out / f["path"] for f in json.loads(manifest.read_text(encoding="utf-8")).get("files", [])}
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable %s: removing the known output names instead", manifest)
        old.add(manifest)
    for pattern in OUTPUT_GLOBS:
        old |= set(out.glob(pattern))
    old |= set(out.rglob(".*.tmp")) | set(out.rglob("*.tmp"))
    removed = []
    for p in sorted(old):
        if p.is_file() and p.name not in keep and "evaluation" not in p.relative_to(out).parts[:-1]:
            p.unlink()
            removed.append(p)
    if removed:
        log.warning("%s held the outputs of an earlier evaluation: removed %d file(s) so the dir holds one run",
                    out, len(removed))
    return removed


def write_manifest(out_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """``manifest.json`` listing every file under ``out_dir`` (size, sha256), written last."""
    out = Path(out_dir)
    files = []
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out)
        if p.is_file() and p.name != MANIFEST and not p.name.endswith(".tmp") and rel.parts[0] not in (".hydra",):
            files.append({"path": str(rel), "bytes": p.stat().st_size, "sha256": file_sha256(p)})
    path = out / MANIFEST
    atomic_write_json(path, {"completed": True, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                             "n_files": len(files), "files": files, **(extra or {})})
    return path

"""Dry-run aid: make this environment look like a bare GPU image (docs/gpu_suite.md §3).

Put this folder on ``PYTHONPATH`` with ``ALLOW_FILES`` naming package lists (``name`` or ``name==version``
lines; ``:``-separated), e.g. ``benchmarks/gpu_image_h200.txt:benchmarks/gpu_wheels.txt``. Importing a
top-level module whose distribution is neither listed, nor one of the preinstalled stack, nor required
(transitively) by a listed one, and not imported by a listed package's own code, then raises ``ImportError`` — as it would on the image, where the
distribution is absent. Local modules (``scanpath``, the tests) and the standard library pass. Each
blocked module is reported once on stderr as ``[image_sim] blocked NAME``.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata as md
import os
import re
import sys

_STACK = {"torch", "triton", "lightning", "pytorch-lightning", "timm", "torchmetrics", "opencv-python-headless",
          "torchvision", "numpy"}
_LOCAL = {"scanpath"}  # the checkout itself (on PYTHONPATH there): its modules pass, its requirements do not


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowed() -> set[str]:
    names = set(_STACK)
    for path in filter(None, os.environ.get("ALLOW_FILES", "").split(":")):
        for line in open(path):
            line = line.split("#")[0].strip()
            if line:
                names.add(_norm(line.split("==")[0]))
    from packaging.requirements import Requirement

    todo = list(names)
    while todo:  # a listed distribution brings what it requires (the image holds a consistent set)
        try:
            reqs = md.requires(todo.pop()) or []
        except md.PackageNotFoundError:
            continue
        for r in reqs:
            req = Requirement(r)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            if _norm(req.name) not in names:
                names.add(_norm(req.name))
                todo.append(_norm(req.name))
    return names | _LOCAL


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuses imports the simulated image could not satisfy (module docstring)."""

    def _ok(self, dists) -> bool:
        return any(_norm(d) in self.allowed for d in dists)

    def _imported_by_allowed(self) -> bool:
        """An allowed package's own import passes: the image holds a consistent version of it, while
        the local version may import things it does not declare."""
        f = sys._getframe(2)
        while f is not None:
            mod = f.f_globals.get("__name__", "")
            if not mod.startswith(("importlib", "_frozen_importlib")) and mod != __name__:
                owners = self.owners.get(mod.split(".")[0])
                return bool(owners) and self._ok(owners)
            f = f.f_back
        return False

    def __init__(self) -> None:
        self.allowed = _allowed()
        self.owners = md.packages_distributions()
        self.reported: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top != name and top in sys.modules:  # a submodule of a package that was let in
            return None
        dists = self.owners.get(top)
        if top in sys.stdlib_module_names or not dists or self._ok(dists) or self._imported_by_allowed():
            return None
        if top not in self.reported:
            self.reported.add(top)
            sys.stderr.write(f"[image_sim] blocked {top} ({', '.join(dists)})\n")
        raise ImportError(f"{top} is not on the simulated image (benchmarks/image_sim)")


def _hide_from_find_spec(blocker: _Blocker) -> None:
    """``importlib.util.find_spec`` of a blocked module answers None, as for an absent one."""
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, package=None):
        try:
            return real(name, package)
        except ImportError as exc:
            if "simulated image" in str(exc):
                return None
            raise

    importlib.util.find_spec = find_spec


if os.environ.get("ALLOW_FILES"):
    _blocker = _Blocker()
    sys.meta_path.insert(0, _blocker)
    _hide_from_find_spec(_blocker)

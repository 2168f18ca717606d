#!/usr/bin/env python
"""Rewrite citations of the internal specs into citations of the project's own docs pages.

The project's documentation (``docs/<page>.md``) keeps the section numbers (§2.3, §6 …) and quirk ids
(Q1, §6 #6, T2 …) of the specifications it was written from, so every citation can be rewritten
mechanically and still points at the same text:

* ``../shared/specs/X.md``, ``shared/specs/X.md``, ``specs/X.md``  →  ``docs/X.md``
* ``../shared/DESIGN.md``, ``shared/DESIGN.md``                    →  ``docs/index.md``
* a "spec" word right before such a path (``spec: specs/oat.md``, ``Spec: ../shared/specs/…``,
  ``spec `specs/…```) becomes "see", so the text reads ``see docs/oat.md``.
* path-less forms: ``spec oat.md §4`` / ``metrics.md §2.8`` / ``humanoid360 §4`` / ``NevaClip spec §4``
  → ``docs/<page>.md §…``; and a bare ``spec §2.3`` / ``Spec §7 item 5`` → ``docs/<page>.md §…``
  where <page> is the family of the file it is written in (``PATH_PAGES``). Files that belong to no
  family (README.md, benchmarks/RESULTS.md, …) keep bare ``spec §`` forms; they are reported.
* a short table of exact phrases (``PHRASES``) that mention "the spec" in prose.

Idempotent: rewritten text no longer matches any pattern. Only pages that exist under ``docs/`` are
targets; any other ``specs/…`` reference is reported and left alone.

    python docs/_tools/rewrite_citations.py [ROOT] [--check] [--quiet]

ROOT defaults to the repository root (two levels above this file). A file that contains the marker
``rewrite-citations: skip`` (e.g. a test holding example citations) is left untouched. ``--check`` changes nothing and
exits 1 when a file would change or an unknown reference remains (for CI).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

#: A file containing this marker is never rewritten nor reported.
SKIP_MARKER = "rewrite-citations: " + "skip"
#: Pages a spec citation may be rewritten to (docs/<name>.md).
PAGES = ("oat", "nevaclip", "eccnet", "humanoid360", "metrics")
#: Files looked at (by suffix or exact name).
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh", ".rst", ".json"}
#: Directories never entered (relative names anywhere in the tree).
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache",
             "logs", "outputs", "multirun", ".ruff_cache", "build", "dist", "_tools"}

#: An optional "spec"/"Spec:" word right before the path (it becomes "see"), then an optional backtick.
_WORD = r"(?:(?P<word>\b[Ss]pec(?:ification)?s?):?(?P<ws>[ \t]+|[ \t]*\n[ \t]*))?(?P<tick>`{1,2})?"
_SPEC_PATH = re.compile(_WORD + r"(?:\.\./)*(?:shared/)?specs/(?P<page>[A-Za-z0-9_]+)\.md")
_DESIGN_PATH = re.compile(_WORD + r"(?:\.\./)*shared/DESIGN\.md")
_LEFTOVER = re.compile(r"(?:shared/specs|shared/DESIGN|(?<![A-Za-z0-9_./-])specs/)")


#: Family page of a file, for bare "spec §N" citations: first matching path prefix wins (None = no
#: family: bare citations there are reported, not guessed).
PATH_PAGES: tuple[tuple[str, str | None], ...] = (
    ("scanpath/evaluation/protocols/oat", "oat"),
    ("scanpath/evaluation/protocols/asymmetry", "eccnet"),
    ("scanpath/evaluation/protocols/success360", "humanoid360"),
    ("scanpath/evaluation/protocols/", None),
    ("scanpath/evaluation/", "metrics"), ("tests/test_evaluat", "metrics"),
    ("scanpath/metrics/", "metrics"), ("tests/test_metrics_", "metrics"), ("tests/test_io_coco", "metrics"),
    ("scanpath/io/coco.py", "metrics"), ("benchmarks/bench_metrics", "metrics"),
    ("scanpath/models/oat/", "oat"), ("scanpath/io/amazon.py", "oat"), ("scanpath/io/shelf.py", "oat"),
    ("scanpath/io/object_trial.py", "oat"), ("scanpath/stimuli/search_arrays.py", "oat"),
    ("datamodules/amazon_covers.py", "oat"), ("datamodules/shelf.py", "oat"),
    ("datamodules/search_arrays.py", "oat"), ("datamodules/object_layout.py", "oat"),
    ("conf/model/oat", "oat"), ("conf/experiment/oat_", "oat"), ("conf/metrics/oat", "oat"),
    ("conf/data/amazon_covers", "oat"), ("conf/data/shelf", "oat"), ("conf/data/search_arrays", "oat"),
    ("tests/test_oat", "oat"), ("tests/test_io_amazon", "oat"), ("tests/test_io_shelf", "oat"),
    ("tests/test_stimuli_search_arrays", "oat"), ("tests/test_datamodules_object", "oat"),
    ("benchmarks/bench_oat", "oat"), ("benchmarks/bench_search_arrays", "oat"),
    ("scanpath/models/neva/", "nevaclip"), ("scanpath/core/coords.py", "nevaclip"),
    ("scanpath/core/foveation.py", "nevaclip"), ("scanpath/io/capmit1003.py", "nevaclip"),
    ("scanpath/io/mit1003.py", "nevaclip"), ("datamodules/capmit1003.py", "nevaclip"),
    ("datamodules/mit1003.py", "nevaclip"), ("conf/model/neva", "nevaclip"),
    ("conf/experiment/nevaclip", "nevaclip"), ("conf/metrics/nevaclip", "nevaclip"),
    ("conf/data/capmit1003", "nevaclip"), ("conf/data/mit1003", "nevaclip"),
    ("tests/test_neva", "nevaclip"), ("tests/test_core_foveation", "nevaclip"),
    ("benchmarks/bench_neva", "nevaclip"),
    ("scanpath/models/eccnet/", "eccnet"), ("scanpath/core/pooling.py", "eccnet"),
    ("scanpath/stimuli/asymmetry.py", "eccnet"), ("scanpath/analysis/asymmetry.py", "eccnet"),
    ("scanpath/analysis/upstream_outputs.py", "eccnet"), ("datamodules/natural_search.py", "eccnet"),
    ("conf/model/eccnet", "eccnet"), ("conf/model/ivsn", "eccnet"), ("conf/model/chance", "eccnet"),
    ("conf/model/pixel_match", "eccnet"), ("conf/experiment/eccnet_", "eccnet"),
    ("conf/metrics/eccnet", "eccnet"), ("conf/data/natural_search", "eccnet"),
    ("tests/test_eccnet", "eccnet"), ("tests/test_asymmetry", "eccnet"), ("tests/test_core_pooling", "eccnet"),
    ("benchmarks/bench_eccnet", "eccnet"),
    ("scanpath/models/humanoid360/", "humanoid360"), ("scanpath/envs/", "humanoid360"),
    ("scanpath/core/projection", "humanoid360"), ("scanpath/io/hstar.py", "humanoid360"),
    ("scanpath/io/salient360.py", "humanoid360"), ("scanpath/analysis/gaze360.py", "humanoid360"),
    ("scanpath/stimuli/panoramas.py", "humanoid360"), ("datamodules/hstar.py", "humanoid360"),
    ("datamodules/panoramas.py", "humanoid360"), ("conf/model/humanoid360", "humanoid360"),
    ("conf/experiment/humanoid360", "humanoid360"), ("conf/metrics/h360", "humanoid360"),
    ("conf/data/hstar", "humanoid360"), ("conf/data/panoramas", "humanoid360"),
    ("tests/test_humanoid360", "humanoid360"), ("tests/test_salient360", "humanoid360"),
    ("tests/test_env360", "humanoid360"), ("tests/test_core_projection", "humanoid360"),
    ("tests/test_core_sphere", "humanoid360"), ("benchmarks/bench_env360", "humanoid360"),
)
#: Exact prose phrases that refer to "the spec" without a section sign: (path prefix, old, new).
PHRASES: tuple[tuple[str, str, str], ...] = (
    ("README.md", "Waldo, spec §2.6)", "Waldo, docs/eccnet.md §2.6)"),
    ("README.md", "SED of spec §4 are", "SED of docs/nevaclip.md §4 are"),
    ("README.md", "Upstream defects (spec §6) that", "Upstream defects (docs/oat.md §6) that"),
    ("README.md", "dataset facts the spec does not list", "dataset facts docs/eccnet.md §2.6 does not list"),
    ("README.md", "the spec measured 44 / 15 / 19", "docs/humanoid360.md §7 item 11: 44 / 15 / 19"),
    ("README.md", "follows the spec's description", "follows the description in docs/humanoid360.md §3"),
    ("benchmarks/RESULTS.md", "| spec §5 (upstream outputs) |", "| docs/eccnet.md §5 (upstream outputs) |"),
    ("conf/model/neva", "with the spec's T = 10 (§4)", "with T = 10 (docs/nevaclip.md §4)"),
    ("conf/experiment/humanoid360_grpo_toy", "the spec's learning check",
     "the learning check of docs/humanoid360.md §7 item 13"),
    ("conf/data/search_arrays", "# spec default;", "# default of docs/oat.md §3.3;"),
    ("scanpath/models/oat/pe.py", "the spec allows", "docs/oat.md §2.4 allows"),
    ("scanpath/models/neva/torch_model.py", "the spec does not fix", "docs/nevaclip.md §2.3 does not fix"),
    ("tests/test_asymmetry_analysis.py", "the spec text says 38", "older descriptions say 38"),
    ("tests/test_salient360_pipeline.py", "# spec: 13–17°", "# docs/humanoid360.md §6 T2: 13–17°"),
)
_PAGE_ALT = "|".join(PAGES)
#: "spec oat.md §4" / "metrics.md §2.8" (no folder) → docs/<page>.md
_BARE_PAGE = re.compile(r"(?:\b[Ss]pecs?[ \t]+)?(?<![\w/.-])(?P<page>" + _PAGE_ALT + r")\.md(?=[ \t]*§)")
#: "humanoid360 §4" → docs/humanoid360.md §4
_BARE_NAME = re.compile(r"(?<![\w/.-])(?P<page>" + _PAGE_ALT + r")(?=[ \t]+§)")
#: "NevaClip spec §4", "OAT spec §6" → docs/<page>.md §…
_FAMILY_SPEC = re.compile(r"\b(?P<fam>NevaClip|NeVA|OAT|eccNET|IVSN|H\*|humanoid360)[ \t]+spec(?=[ \t]*§)")
_FAMILY_PAGE = {"NevaClip": "nevaclip", "NeVA": "nevaclip", "OAT": "oat", "eccNET": "eccnet", "IVSN": "eccnet",
                "H*": "humanoid360", "humanoid360": "humanoid360"}
#: bare "spec §2.3", "Spec §7 item 5", "(spec §6)" → docs/<page of this file>.md §…
_BARE_SPEC = re.compile(r"\b[Ss]pec(?:ification)?[ \t]+(?=§)")
#: what is left of a bare "spec §" (reported, not rewritten)
_BARE_LEFT = re.compile(r"\b[Ss]pecs?\b[ \t]*§")


def page_of(rel: str) -> str | None:
    """Family page of a repository-relative path, or None."""
    rel = rel.replace(os.sep, "/")
    return next((page for prefix, page in PATH_PAGES if rel.startswith(prefix)), None)


def _prefix(m: re.Match[str]) -> str:
    """What replaces the optional "spec" word and backtick in front of the path."""
    word = m.group("word")
    see = "" if not word else ("See" if word[0].isupper() else "see") + m.group("ws")
    return see + (m.group("tick") or "")


def rewrite_text(text: str, rel: str | None = None) -> tuple[str, int]:
    """``text`` with every known citation rewritten, and the number of rewrites. ``rel`` (the file's
    repository-relative path) selects the page of bare "spec §N" citations (``PATH_PAGES``)."""
    count = 0

    def spec(m: re.Match[str]) -> str:
        nonlocal count
        page = m.group("page")
        if page not in PAGES:
            return m.group(0)
        count += 1
        return _prefix(m) + f"docs/{page}.md"

    def design(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return _prefix(m) + "docs/index.md"

    def to_page(page: str) -> str:
        nonlocal count
        count += 1
        return f"docs/{page}.md"

    text = _SPEC_PATH.sub(spec, text)
    text = _DESIGN_PATH.sub(design, text)
    text = _BARE_PAGE.sub(lambda m: to_page(m.group("page")), text)
    text = _FAMILY_SPEC.sub(lambda m: to_page(_FAMILY_PAGE[m.group("fam")]), text)
    text = _BARE_NAME.sub(lambda m: to_page(m.group("page")), text)
    for prefix, old, new in PHRASES:
        if rel and rel.startswith(prefix) and old in text:
            count += text.count(old)
            text = text.replace(old, new)
    page = page_of(rel) if rel else None
    if page:
        text = _BARE_SPEC.sub(lambda m: to_page(page) + " ", text)
    return text, count


def iter_files(root: Path):
    """Text files under ``root`` that may hold citations (skips VCS, caches, run outputs and ``docs/``)."""
    for dirpath, dirnames, filenames in os.walk(root):
        top = Path(dirpath) == root
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")
                             and not (top and d == "docs"))  # the docs pages are the targets, not citers
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.suffix in SUFFIXES and not p.is_symlink():
                yield p


def leftovers(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every remaining ``specs/`` path or bare ``spec §`` citation."""
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1)
            if _LEFTOVER.search(line) or _BARE_LEFT.search(line)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[2]))
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    changed, total, unknown = [], 0, []
    for path in iter_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if SKIP_MARKER in text:
            continue
        rel = path.relative_to(root)
        new, n = rewrite_text(text, rel.as_posix())
        unknown.extend((rel, i, line) for i, line in leftovers(new))
        if n and new != text:
            changed.append((rel, n))
            total += n
            if not args.check:
                tmp = path.with_name(f".{path.name}.rewrite.tmp")
                tmp.write_text(new, encoding="utf-8")
                os.replace(tmp, path)
    if not args.quiet:
        verb = "would rewrite" if args.check else "rewrote"
        for rel, n in changed:
            print(f"{verb} {n:3d}  {rel}")
        print(f"{verb} {total} citation(s) in {len(changed)} file(s)")
        for rel, i, line in unknown:
            print(f"left alone: {rel}:{i}: {line}", file=sys.stderr)
    return 1 if args.check and (changed or unknown) else 0


if __name__ == "__main__":
    sys.exit(main())

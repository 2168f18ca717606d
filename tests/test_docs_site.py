"""The docs site (mkdocs.yml, built with ``mkdocs build --strict`` in CI): every page is in the nav,
every data config has a dataset page that shows it, and the API pages name modules that exist.
Fast and without mkdocs installed; the strict build itself runs in ``.ci/run``."""

from __future__ import annotations

import importlib.util
import re

import yaml

from conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def _nav_pages() -> set[str]:
    cfg = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages: set[str] = set()

    def walk(node) -> None:  # noqa: ANN001 (nav: nested lists of str or {title: page | list})
        if isinstance(node, str):
            pages.add(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(cfg["nav"])
    return pages


def test_every_docs_page_is_in_the_nav():
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "_tools" not in p.parts}
    nav = _nav_pages()
    assert on_disk == nav, {"not in nav": sorted(on_disk - nav), "missing file": sorted(nav - on_disk)}


def test_every_data_config_has_a_dataset_page_showing_it():
    for cfg in sorted((REPO_ROOT / "conf" / "data").glob("*.yaml")):
        page = DOCS / "datasets" / f"{cfg.stem}.md"
        assert page.is_file(), f"no dataset page for conf/data/{cfg.name}"
        text = page.read_text(encoding="utf-8")
        assert f'--8<-- "conf/data/{cfg.name}"' in text, f"{page.name} does not include conf/data/{cfg.name}"
        for field in ("**Licence:**", "**Download", "**Cite:**"):
            assert field in text, f"{page.name} has no {field} line"
        assert cfg.stem in (DOCS / "datasets" / "index.md").read_text(encoding="utf-8")


def test_api_pages_name_importable_modules():
    names = [m for p in (DOCS / "api").glob("*.md")
             for m in re.findall(r"^::: ([\w.]+)", p.read_text(encoding="utf-8"), re.M)]
    assert "scanpath.metrics" in names and "datamodules" in names
    for name in names:
        mod = "scanpath.datamodules" if name == "datamodules" else name  # the checkout folder's installed name
        assert importlib.util.find_spec(mod) is not None, name

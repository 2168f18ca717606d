"""The installable package: configs and datamodules inside it, console scripts, no top-level
``datamodules`` package, and a checkout that imports ``scanpath.datamodules`` from its own folder
(docs/install.md). The fresh-venv run of ``scanpath-evaluate`` is the CI step ``.ci/wheel_smoke``."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT

#: Files the wheel is built from (the same list as .ci/wheel_smoke).
BUILD_INPUTS = ["scanpath", "datamodules", "conf", "setup.py", "pyproject.toml", "README.md", "LICENSE"]
SCRIPTS = {"scanpath": "scanpath.__main__:main", "scanpath-train": "scanpath.cli.train:main",
           "scanpath-evaluate": "scanpath.cli.evaluate:main"}


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_console_scripts_are_declared_and_resolve():
    assert _pyproject()["project"]["scripts"] == SCRIPTS
    for target in SCRIPTS.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target


def test_checkout_serves_its_own_datamodules_folder_and_configs():
    import scanpath.datamodules.base as base
    from scanpath.resources import checkout_root, config_dir

    assert Path(base.__file__).resolve() == REPO_ROOT / "datamodules" / "base.py"
    assert checkout_root() == REPO_ROOT and config_dir() == REPO_ROOT / "conf"


def test_checkout_wins_over_another_installs_finder(tmp_path):
    """An editable install of another checkout maps scanpath.datamodules to its folder; the checkout
    that scanpath was imported from must still be the one used (scanpath.resources.CheckoutFinder)."""
    other = tmp_path / "other" / "datamodules"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("WRONG = True\n")
    code = (
        "import importlib.util, sys\n"
        "class Other:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == 'scanpath.datamodules':\n"
        f"            return importlib.util.spec_from_file_location(name, {str(other / '__init__.py')!r},"
        f" submodule_search_locations=[{str(other)!r}])\n"
        "sys.meta_path.append(Other())\n"
        "import scanpath.datamodules as d\n"
        "print(d.__file__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).resolve() == REPO_ROOT / "datamodules" / "__init__.py"


def test_nothing_imports_or_targets_the_old_top_level_datamodules_name():
    """Every import, ``_target_`` and dotted mention says ``scanpath.datamodules`` (a top-level
    ``datamodules`` module would be a second copy of every class in a checkout)."""
    old = re.compile(r"(^|[^./\w])datamodules\.(?!md\b)\w|^\s*(from|import) datamodules\b", re.M)
    roots = ["scanpath", "datamodules", "conf", "tests", "benchmarks", "docs"]
    files = [p for r in roots for p in (REPO_ROOT / r).rglob("*") if p.suffix in {".py", ".yaml", ".md"}]
    files += [REPO_ROOT / n for n in ("README.md", "train.py", "evaluate.py")]
    bad = [f"{p.relative_to(REPO_ROOT)}:{p.read_text()[:m.start()].count(chr(10)) + 1}"
           for p in files for m in old.finditer(p.read_text())]
    assert not bad, bad


def test_licence_and_citation_metadata():
    project = _pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (REPO_ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"].startswith("1.2") and cff["license"] == "MIT" and cff["title"]
    assert cff["version"] == project["version"]


def test_wheel_holds_configs_datamodules_and_scripts(tmp_path):
    """Build the wheel (no network: the installed setuptools; a few seconds) and read it back."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 cannot read the SPDX licence field")
    src = tmp_path / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        p = REPO_ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(p, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("scanpath-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not any(n.startswith("datamodules/") for n in names)
    for folder, inside in (("conf", "scanpath/conf"), ("datamodules", "scanpath/datamodules"), ("scanpath", "scanpath")):
        want = {f"{inside}/{p.relative_to(REPO_ROOT / folder).as_posix()}"
                for p in (REPO_ROOT / folder).rglob("*") if p.suffix in {".py", ".yaml", ".json", ".typed"}
                and "__pycache__" not in p.parts}
        assert want <= names, sorted(want - names)[:10]
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry = zipfile.ZipFile(wheel).read(meta).decode()
    for script, target in SCRIPTS.items():
        assert f"{script} = {target}" in entry

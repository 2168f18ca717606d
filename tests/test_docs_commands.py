"""Every ``python train.py …`` / ``python evaluate.py …`` command (and its console-script twin
``scanpath-train …`` / ``scanpath-evaluate …``) in a code block of ``docs/**/*.md`` composes with the
current configs (Hydra compose only: nothing is instantiated or run).

Placeholders are filled with dummies first: ``<…>`` and ``…`` become ``x``, and the generic
``model=<m>`` becomes ``model=random``. A command that stops composing means the page (or the config
it documents) needs an update. Slow (about 1 s per command under load): run
``python -m pytest -m slow tests/test_docs_commands.py`` after changing configs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import compose_config

DOCS = Path(__file__).resolve().parents[1] / "docs"
COMMAND = re.compile(r"^(?:python (?P<script>train|evaluate)\.py|scanpath-(?P<cli>train|evaluate))(?P<args>(?:\s.*)?)$")


def _code_lines(text: str):
    """Lines of the fenced code blocks of a markdown text, with backslash continuations joined."""
    out, in_block, buf = [], False, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block, buf = not in_block, ""
            continue
        if not in_block:
            continue
        line = buf + line.strip()
        if line.endswith("\\"):
            buf = line[:-1] + " "
            continue
        buf = ""
        out.append(line)
    return out


def _fill(arg: str) -> str:
    arg = arg.replace("model=<m>", "model=random")
    arg = re.sub(r"<[^>]*>", "x", arg)
    return arg.replace("…", "x").replace("...", "x")


def commands(page: Path) -> list[tuple[str, list[str]]]:
    """(config name, overrides) of every documented train/evaluate command of ``page``."""
    found = []
    for line in _code_lines(page.read_text(encoding="utf-8")):
        line = re.sub(r"\s+#.*$", "", line)  # trailing shell comment
        m = COMMAND.match(line)
        if not m:
            continue
        args = shlex.split(_fill(m.group("args")))
        found.append(("train" if "train" in (m.group("script"), m.group("cli")) else "evaluate", args))
    return found


PAGES = sorted(p for p in DOCS.rglob("*.md") if "_tools" not in p.parts)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_documented_commands_compose(page: Path, tmp_path: Path) -> None:
    cmds = commands(page)
    if page.parent == DOCS and page.name in {"oat.md", "nevaclip.md", "eccnet.md", "humanoid360.md", "metrics.md"}:
        assert cmds, f"{page.name} documents no train/evaluate command"
    failed = []
    for name, overrides in cmds:
        if any(a.startswith("-") for a in overrides):  # Hydra's own flags (-m, --config-dir …): not composed here
            continue
        try:
            compose_config(name, overrides, output_dir=tmp_path)
        except Exception as e:  # noqa: BLE001 - report every failing command at once
            why = f"{type(e).__name__}: {str(e).splitlines()[0]}"
            failed.append(f"python {name}.py {' '.join(overrides)}\n    -> {why}")
    assert not failed, f"{page.name}: documented commands that no longer compose:\n" + "\n".join(failed)

"""The project's docs pages and the citation rewrite (docs/_tools/rewrite_citations.py).

* the rewrite turns every internal-spec citation form into ``docs/<page>.md`` and is idempotent;
* every ``docs/<page>.md §N[.M]`` citation in the code, configs, tests and README names a page that
  exists and a section heading that exists on it (§7 cites checklist items, which are list entries);
* the docs pages themselves never point at the internal specs.

rewrite-citations: skip (this file holds example citations on purpose)
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TOOL = DOCS / "_tools" / "rewrite_citations.py"
CITING = ["scanpath", "datamodules", "conf", "tests", "benchmarks", "README.md", "evaluate.py", "train.py"]


def _tool():
    spec = importlib.util.spec_from_file_location("rewrite_citations", TOOL)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


#: The internal paths, spelled so that this file itself never contains them literally.
S = "spec" + "s/"
SH = "../shared/" + S
SHD = "../shared/" + "DESIGN.md"

CASES = [
    (f"({S}oat.md §2.3)", "scanpath/x.py", "(docs/oat.md §2.3)"),
    (f"spec {SH}nevaclip.md §3", "scanpath/x.py", "see docs/nevaclip.md §3"),
    (f"Spec: {SH}eccnet.md §2.2-2.3.", "scanpath/x.py", "See docs/eccnet.md §2.2-2.3."),
    (f"(spec: `{S}metrics.md`)", "README.md", "(see `docs/metrics.md`)"),
    (f"toolbox; spec\n`{SH}humanoid360.md`. An", "README.md", "toolbox; see\n`docs/humanoid360.md`. An"),
    (f"layout: {SHD}", "README.md", "layout: docs/index.md"),
    ("(spec oat.md §4, metrics.md §2.8)", "scanpath/metrics/behavioural.py",
     "(docs/oat.md §4, docs/metrics.md §2.8)"),
    ("(spec §2.5, humanoid360 §4)", "scanpath/metrics/geometric.py",
     "(docs/metrics.md §2.5, docs/humanoid360.md §4)"),
    ("NevaClip spec §4;", "scanpath/metrics/README.md", "docs/nevaclip.md §4;"),
    ('"""Spec §7 item 5: a square"""', "tests/test_neva_coords.py", '"""docs/nevaclip.md §7 item 5: a square"""'),
    ("(H* protocol, spec §4)", "scanpath/models/humanoid360/agents.py", "(H* protocol, docs/humanoid360.md §4)"),
    # no family for the file: a bare "spec §" stays (reported), a path citation is still rewritten
    (f"(spec §6) and {S}oat.md §6", "README.md", "(spec §6) and docs/oat.md §6"),
    # unknown page names are left alone
    (f"{S}unknown.md §1", "scanpath/x.py", f"{S}unknown.md §1"),
    # already rewritten text and unrelated words do not change
    ("docs/oat.md §2.3, the spec's T = 10, specifications", "scanpath/x.py",
     "docs/oat.md §2.3, the spec's T = 10, specifications"),
    # a file of the evaluation protocols with no family match keeps its bare form
    ("(spec §4)", "scanpath/evaluation/protocols/other.py", "(spec §4)"),
    # the exact-phrase table
    ("dataset facts the spec does not list", "README.md", "dataset facts docs/eccnet.md §2.6 does not list"),
]


@pytest.mark.parametrize("text, rel, expected", CASES)
def test_rewrite_forms_and_idempotence(text: str, rel: str, expected: str) -> None:
    tool = _tool()
    out, _ = tool.rewrite_text(text, rel)
    assert out == expected
    again, n = tool.rewrite_text(out, rel)
    assert again == out and n == 0


def test_rewrite_cli_on_a_tree(tmp_path: Path) -> None:
    tool = _tool()
    (tmp_path / "scanpath" / "models" / "oat").mkdir(parents=True)
    (tmp_path / "conf").mkdir()
    (tmp_path / "docs").mkdir()
    src = tmp_path / "scanpath" / "models" / "oat" / "m.py"
    src.write_text(f'"""OAT (spec {SH}oat.md §3.1); split rule: spec §3.4."""\n', encoding="utf-8")
    cfg = tmp_path / "conf" / "c.yaml"
    cfg.write_text(f"x: 1   # {S}eccnet.md §6\n", encoding="utf-8")
    page = tmp_path / "docs" / "oat.md"
    page.write_text("see [oat.md §5](oat.md#5)\n", encoding="utf-8")
    marked = tmp_path / "conf" / "examples.yaml"
    marked.write_text(f"# rewrite-citations: skip\nx: 1   # {S}oat.md §6\n", encoding="utf-8")
    assert tool.main([str(tmp_path), "--check", "--quiet"]) == 1
    assert "specs" in src.read_text(encoding="utf-8")  # --check changes nothing
    assert tool.main([str(tmp_path), "--quiet"]) == 0
    assert src.read_text(encoding="utf-8") == '"""OAT (see docs/oat.md §3.1); split rule: docs/oat.md §3.4."""\n'
    assert cfg.read_text(encoding="utf-8") == "x: 1   # docs/eccnet.md §6\n"
    assert page.read_text(encoding="utf-8") == "see [oat.md §5](oat.md#5)\n"  # docs pages are not citers
    assert f"{S}oat.md" in marked.read_text(encoding="utf-8")  # the skip marker is honoured
    assert tool.main([str(tmp_path), "--check", "--quiet"]) == 0
    assert not list(tmp_path.rglob("*.rewrite.tmp"))


def _headings(page: Path) -> set[str]:
    """Section numbers of a docs page: '## 2. Title' → '2', '### 2.3 Title' → '2.3'."""
    nums = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#{2,4}\s+(\d+(?:\.\d+)*)\.?\s", line)
        if m:
            nums.add(m.group(1))
    return nums


PAGES = ["oat", "nevaclip", "eccnet", "humanoid360", "metrics"]


@pytest.mark.parametrize("page", PAGES)
def test_family_pages_keep_the_section_numbering(page: str) -> None:
    nums = _headings(DOCS / f"{page}.md")
    assert {"1", "2", "3", "4", "5", "6", "7"} <= nums, sorted(nums)


def test_pages_never_point_at_internal_specs() -> None:
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert not re.search("shared/" + S[:-1] + "|" + r"(?<![\w/.-])" + S + "|shared/DESIGN", text), page.name


def _citing_files():
    for name in CITING:
        p = ROOT / name
        if p.is_file():
            yield p
        elif p.is_dir():
            yield from (f for f in p.rglob("*") if f.suffix in {".py", ".md", ".yaml", ".yml"} and f.is_file()
                        and f.resolve() != Path(__file__).resolve())  # this file's cases are not citations


CITATION = re.compile(r"docs/(?P<page>[A-Za-z0-9_]+)\.md"
                      r"(?P<secs>(?:[ \t]*(?:§|,|/|and|–|-)[ \t]*§?\d+(?:\.\d+)*)*)")


def test_every_docs_citation_resolves() -> None:
    pages = {p.stem: _headings(p) for p in DOCS.glob("*.md")}
    bad = []
    n = 0
    for f in _citing_files():
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in CITATION.finditer(text):
            page = m.group("page")
            if page not in pages:
                bad.append(f"{f.relative_to(ROOT)}: docs/{page}.md does not exist")
                continue
            for sec in re.findall(r"§\s*(\d+(?:\.\d+)*)", m.group(0)):
                n += 1
                major = sec.split(".")[0]
                ok = sec in pages[page] or (major == "7" and major in pages[page])  # §7.3 = checklist item 3
                if not ok:
                    bad.append(f"{f.relative_to(ROOT)}: docs/{page}.md §{sec} has no such heading")
    assert not bad, "\n".join(bad)

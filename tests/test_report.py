"""report.html: written by every evaluation, rebuilt by ``python -m scanpath.report`` from the run dir,
and played in a real headless Chromium (Debian's ``chromium``; .ci/run installs it when missing)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, compose_config, write_tiny_coco

sys.path.insert(0, str(REPO_ROOT))
import evaluate as evaluate_script  # noqa: E402


def _page_data(html: str) -> dict:
    m = re.search(r"const DATA = (\{.*?\});\nconst COLORS", html, re.S)
    assert m, "report.html has no embedded data"
    return json.loads(m.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    out = tmp / "out"
    cfg = compose_config("evaluate", ["model=random", "data.num_layouts=40", "n_figures=1", "report.n_stimuli=3",
                                      "~baselines.saliency_ior", "~baselines.target_similarity"], out)
    evaluate_script.evaluate(cfg)
    return out


def test_report_is_self_contained_and_holds_table_settings_and_playback(run_dir):
    html = (run_dir / "report.html").read_text()
    assert "http://" not in html and "https://" not in html  # no network: nothing is fetched
    data = _page_data(html)
    assert {r["label"] for r in data["rows"]} == {"Random (model)", "Center bias (baseline)", "Human (observer)"}
    assert data["synthetic"] is True and data["settings"]["test_set_sha256"]
    assert data["columns"][-1] == "n"  # stimuli per row
    assert all(("↑" in c) or ("↓" in c) for c in data["columns"][:-1])  # every metric column says its direction
    assert all("±" in r["cells"]["ss ↑"] for r in data["rows"])  # value ± SEM over stimuli
    assert all(r["ci"]["ss ↑"].startswith("95 % CI [") for r in data["rows"])
    assert len(data["stimuli"]) == 3
    s = data["stimuli"][0]
    assert s["image"].startswith("data:image/jpeg;base64,") and s["task"]
    assert set(s["groups"]) == {"Human", "Random", "Center bias"} and s["groups"]["Human"][0]["fix"]
    assert any(f["src"].startswith("data:image/png;base64,") for f in data["figures"])


def test_report_rebuilds_from_the_written_files(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "report.html").unlink()
    out = subprocess.run([sys.executable, "-m", "scanpath.report", str(copy)], cwd=str(REPO_ROOT),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rebuilt = _page_data((copy / "report.html").read_text())
    original = _page_data((run_dir / "report.html").read_text())
    assert rebuilt["rows"] == original["rows"] and rebuilt["stimuli"] == original["stimuli"]
    assert rebuilt["settings"] == original["settings"]
    bad = subprocess.run([sys.executable, "-m", "scanpath.report", str(tmp_path / "nope")], cwd=str(REPO_ROOT),
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "nope" in bad.stderr


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_plays_in_headless_chromium(run_dir):
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium with apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((run_dir / "report.html").as_uri())
        step0 = page.inner_text("#stim-0 .step")
        drawn0 = int(page.get_attribute("#stim-0 canvas", "data-drawn"))
        page.click("#stim-0 button.play")
        page.wait_for_function("document.querySelector('#stim-0 canvas').getAttribute('data-drawn') > 0",
                               timeout=10_000)
        page.wait_for_timeout(1200)
        step1 = page.inner_text("#stim-0 .step")
        drawn1 = int(page.get_attribute("#stim-0 canvas", "data-drawn"))
        # sorting by a column reorders the rows without errors
        page.click("table.metrics th[data-col]")
        (run_dir / "figures").mkdir(exist_ok=True)
        page.screenshot(path=str(run_dir / "figures" / "report.png"))
        browser.close()
    assert step0.startswith("step 0") and not step1.startswith("step 0"), (step0, step1)
    assert drawn0 == 0 and drawn1 > drawn0
    assert errors == [], errors
    assert (run_dir / "figures" / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_oat_and_asymmetry_runs_write_a_report(tmp_path):
    cfg = compose_config("evaluate", ["model=oat", "data.num_layouts=12", "data.include_image=false",
                                      "model.d_model=32", "model.n_heads=2", "model.n_encoder_layers=1",
                                      "model.n_decoder_layers=1", "model.dim_feedforward=32", "model.pe_steps=50",
                                      "protocol.samples=2", "protocol.baseline_rollouts=3", "report.n_stimuli=2"],
                         tmp_path / "oat")
    evaluate_script.evaluate(cfg)
    data = _page_data((tmp_path / "oat" / "report.html").read_text())
    stim = data["stimuli"][0]
    assert stim["boxes"] and stim["image"] is None  # layout-only: the page draws the object grid
    assert {"OAT (greedy)", "OAT (sampled ×2)"} <= set(stim["groups"])

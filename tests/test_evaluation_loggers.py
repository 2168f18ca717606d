"""evaluate.py logger=wandb|tensorboard|csv: the metric table, the settings and the figures reach every
logger (wandb offline, no key, no network); debug=fdr says loggers are off; +logger is not ignored."""

from __future__ import annotations

import csv
import json
import sys

import pytest
from conftest import REPO_ROOT, compose_config

sys.path.insert(0, str(REPO_ROOT))
import evaluate as evaluate_script  # noqa: E402

QUICK = ["model=random", "data.num_layouts=12", "n_figures=1", "report.n_stimuli=0", "~baselines.saliency_ior",
         "~baselines.target_similarity"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One evaluation logged to CSV, TensorBoard and wandb (offline, in a temp dir, without an API key)."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("loggers")
    mp.delenv("WANDB_API_KEY", raising=False)
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_DIR", str(tmp))
    mp.setenv("WANDB_CONFIG_DIR", str(tmp / "wandb_config"))
    mp.setenv("WANDB_CACHE_DIR", str(tmp / "wandb_cache"))
    mp.setenv("WANDB_SILENT", "true")
    out = tmp / "run"
    try:
        payload = evaluate_script.evaluate(compose_config("evaluate", [*QUICK, "logger=many_loggers"], out))
    finally:
        mp.undo()
    return out, payload


def test_csv_logger_gets_table_settings_and_figures(logged):
    out, payload = logged
    folder = next((out / "csv").glob("version_*"))
    with open(folder / "metrics_table.csv", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["row"] for r in table] == ["Random (model)", "Center bias (baseline)", "Human (observer)"]
    ss = payload["rows"]["Random"]["metrics"]["ss"]
    assert float(table[0]["ss ↑"]) == pytest.approx(ss["value"])
    assert float(table[0]["ss ↑ SEM"]) == pytest.approx(ss["sem"])
    header = (folder / "metrics.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "eval/Random/ss" in header and "eval/Random/ss/sem" in header
    hparams = (folder / "hparams.yaml").read_text(encoding="utf-8")
    assert "test_set_sha256" in hparams and "synthetic_search_arrays" in hparams
    assert {p.name for p in (folder / "figures").glob("*.png")} >= {"metrics_table.png"}


def test_tensorboard_logger_gets_text_and_images(logged):
    out, _ = logged
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = next((out / "tensorboard").rglob("events.out.tfevents.*"))
    acc = EventAccumulator(str(events.parent), size_guidance={"images": 0, "tensors": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "eval/figures/metrics_table" in tags["images"]
    assert "eval/Random/ss" in tags["scalars"]
    assert any(t.startswith("eval/metrics_table") for t in tags["tensors"])  # add_text is stored as a tensor


def test_wandb_offline_run_holds_the_table_and_images_without_a_key(logged):
    out, payload = logged
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    tables = list(runs[0].rglob("*.table.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text())
    assert table["columns"][:3] == ["row", "role", "n_stimuli"]
    assert [r[0] for r in table["data"]] == ["Random (model)", "Center bias (baseline)", "Human (observer)"]
    assert list(runs[0].rglob("media/images/eval/figures/metrics_table*.png"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert any(f["path"].startswith("wandb/") for f in manifest["files"])  # finished before the manifest


def test_fdr_says_loggers_are_disabled(tmp_path, capsys):
    out = tmp_path / "fdr"
    evaluate_script.evaluate(compose_config("evaluate", [*QUICK, "logger=csv", "debug=fdr"], out))
    err = capsys.readouterr().err
    assert "loggers disabled (debug=fdr" in err and "csv" in err
    assert not (out / "csv").exists() and (out / "metrics.json").is_file()


def test_plus_logger_is_not_silently_ignored(tmp_path):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose_config("evaluate", [*QUICK, "+logger=wandb"], tmp_path)

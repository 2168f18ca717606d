"""SYNTHETIC data and untrained (random-weight) rows are marked on every figure and table: each
figure writer goes through ``scanpath.viz.save_figure``, which stamps the labels as a text object."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import compose_config
from omegaconf import OmegaConf

import scanpath.viz as viz
from scanpath.evaluation.report import SYNTHETIC_BANNER, UNTRAINED_LABEL, EvaluationResult, render_markdown

HUMAN_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "asymmetry" / "human_rt_digitized.csv"


@pytest.fixture
def stamped(monkeypatch):
    """Every saved figure's stamped label text (the figure is still written)."""
    seen: list[tuple[str, str]] = []
    real = viz.atomic_save_figure

    def spy(fig, path, **kwargs):
        labels = [t.get_text() for t in fig.texts if t.get_gid() == viz.LABEL_GID]
        seen.append((Path(path).name, " ".join(labels)))
        return real(fig, path, **kwargs)

    monkeypatch.setattr(viz, "atomic_save_figure", spy)
    return seen


def test_stamp_helper_adds_one_text_object_and_nothing_without_labels():
    import matplotlib.pyplot as plt

    fig = plt.figure()
    assert viz.stamp_labels(fig, []) is None and not fig.texts
    text = viz.stamp_labels(fig, [SYNTHETIC_BANNER, f"{UNTRAINED_LABEL}: OAT"])
    assert text.get_gid() == viz.LABEL_GID and SYNTHETIC_BANNER in text.get_text() and "OAT" in text.get_text()
    plt.close(fig)


def test_overlays_and_table_png_carry_synthetic_and_untrained(stamped, tmp_path):
    from hydra.utils import instantiate

    from scanpath.evaluation import Entry, evaluate_models, write_report
    from scanpath.models.baselines import RandomBaseline

    cfg = compose_config("evaluate", ["data.num_layouts=12"], tmp_path)
    dm = instantiate(cfg.data)
    result = evaluate_models(dm, [Entry("Net", RandomBaseline(seed=2), "model", extra={"untrained": True}),
                                  Entry("Random", RandomBaseline(seed=0), "baseline")],
                             {"ss": {}}, tmp_path, n_figures=1, n_stimuli=0, progress=False)
    write_report(result, tmp_path, console=False, html=False)
    by_file = dict(stamped)
    overlay = next(v for k, v in by_file.items() if k.startswith("scanpaths_"))
    for text in (overlay, by_file["metrics_table.png"]):
        assert SYNTHETIC_BANNER in text and f"{UNTRAINED_LABEL}: Net" in text
    md = (tmp_path / "metrics.md").read_text()
    assert SYNTHETIC_BANNER in md.splitlines()[0] and f"**{UNTRAINED_LABEL}: Net**" in md
    assert "| Net (model) (untrained) |" in md


def test_markdown_of_a_trained_real_run_has_no_labels():
    rows = {"m": {"role": "model", "n_predictions": 1, "metrics": {"ss": {"value": 0.5, "higher_is_better": True}}}}
    md = render_markdown(EvaluationResult(settings={"dataset": "real", "synthetic": False}, rows=rows))
    assert SYNTHETIC_BANNER not in md and UNTRAINED_LABEL not in md


def test_rt_figure_marks_an_untrained_model(stamped, tmp_path, monkeypatch):
    if not HUMAN_CSV.is_file():
        pytest.skip("human RT CSV not available at ../shared/data/asymmetry")
    import scanpath.evaluation.protocols.asymmetry as asym
    from scanpath.models.eccnet.module import EccNetSearchModel

    monkeypatch.setattr(asym, "is_untrained", lambda model: True)  # chance has no network; pretend it has one
    res = asym.run_asymmetry(EccNetSearchModel("chance", seed=0), tmp_path, conditions=["top_down", "left_right"],
                             max_trials_per_size=1, human_csv=str(HUMAN_CSV), progress=False)
    assert f"{UNTRAINED_LABEL}: chance" in dict(stamped)["rt_vs_set_size.png"]
    assert f"**{UNTRAINED_LABEL}: chance**" in res["slope_table"] + res["ai_table"]
    rows = asym.asymmetry_rows(res)
    assert rows["chance"]["untrained"] is True


def test_success_histogram_and_table_carry_the_labels(stamped, tmp_path):
    from scanpath.evaluation.protocols.success360 import Success360Protocol
    from scanpath.models.humanoid360.agents import ScriptedVLM
    from scanpath.stimuli.panoramas import generate_scene, scene_episodes

    class Panoramas:
        name, synthetic = "panoramas", True

        def episodes(self):
            return scene_episodes(generate_scene(0, preset="toy", size=(512, 256)))

    result = Success360Protocol(resolution=36, progress=False, env={"renderer": "none"}).run(
        model=ScriptedVLM(90, 0), datamodule=Panoramas(), out_dir=tmp_path, n_stimuli=0, untrained=True)
    text = dict(stamped)["steps_to_success.png"]
    assert SYNTHETIC_BANNER in text and f"{UNTRAINED_LABEL}: scripted VLM" in text
    assert f"**{UNTRAINED_LABEL}: scripted VLM**" in result.sections["Success rates"]
    assert result.rows["scripted VLM"]["untrained"] is True


def test_learning_curve_marks_synthetic_training_data(stamped, tmp_path):
    from scanpath.utils.instantiators import training_outputs

    log_dir = tmp_path / "csv"
    log_dir.mkdir()
    (log_dir / "metrics.csv").write_text("epoch,step,train/loss,val/loss\n0,1,1.0,\n0,1,,1.2\n1,2,0.8,\n1,2,,0.9\n")

    class Logger:
        def __init__(self):
            self.log_dir = str(log_dir)

    class Trainer:
        loggers = [Logger()]
        datamodule = type("DM", (), {"synthetic": True})()

    cfg = OmegaConf.create({"model": {"_target_": "scanpath.models.oat.module.OATModule"},
                            "optimized_metric": "val/loss"})
    training_outputs(cfg, Trainer(), tmp_path, None)
    assert SYNTHETIC_BANNER in dict(stamped)["learning_curve.png"]
    assert (tmp_path / "evaluation" / "figures" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_every_figure_writer_saves_through_the_stamping_helper():
    """No figure is written around ``save_figure`` (which is where the labels are stamped)."""
    root = Path(__file__).resolve().parents[1] / "scanpath"
    offenders = []
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name in ("viz.py", "atomic.py") or "gaze360" in path.name:  # gaze360: human head traces only
            continue
        if "atomic_save_figure(" in text or ".savefig(" in text:
            offenders.append(str(path.relative_to(root)))
    assert offenders == []

"""train.py: fast_dev_run for every trainable model config, resume from last.ckpt, sweeps (slow)."""

from __future__ import annotations

import csv
import importlib
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR, REPO_ROOT, compose_config, write_tiny_coco
from omegaconf import OmegaConf
from test_configs import offline_model_overrides

sys.path.insert(0, str(REPO_ROOT))
import train as train_script  # noqa: E402

from scanpath.utils import get_metric_value  # noqa: E402

#: fast settings per dataset target (class name) for the fdr runs
FAST_DATA = {
    "SearchArraysDataModule": ["data.num_layouts=12", "data.batch_size=4"],
}


def _trainable_model_configs() -> list:
    """Model configs whose target class declares ``trainable = True`` (discovered at collection)."""
    params = []
    for path in sorted((CONF_DIR / "model").glob("*.yaml")):
        try:
            raw = OmegaConf.load(path)
        except Exception as e:  # a broken YAML fails its own test, never the collection
            params.append(pytest.param(path.stem, f"cannot parse {path.name}: {e}", id=path.stem))
            continue
        target = raw.get("_target_") or OmegaConf.select(raw, "model._target_")
        if not target:
            continue
        mod, _, cls = str(target).rpartition(".")
        try:
            trainable = bool(getattr(getattr(importlib.import_module(mod), cls), "trainable", False))
        except Exception as e:  # import errors surface as a failing test, not a collection error
            params.append(pytest.param(path.stem, f"cannot import {target}: {e!r}", id=path.stem))
            continue
        if trainable:
            params.append(pytest.param(path.stem, None, id=path.stem))
    return params or [pytest.param(None, None, marks=pytest.mark.skip(reason="no trainable model configs yet"))]


def _coco(tmp_path: Path) -> list[str]:
    return ["data=coco_search18", f"data.annotations={write_tiny_coco(tmp_path / 'tiny.json')}", "data.frame=null"]


@pytest.mark.parametrize("name,discovery_error", _trainable_model_configs())
def test_fast_dev_run_every_trainable_model(name, discovery_error, tmp_path, capsys):
    if discovery_error:
        pytest.fail(discovery_error)
    # a model's cross-group preset (data, trainer budget) is conf/experiment/<model>.yaml when it has one
    choice = f"experiment={name}" if (REPO_ROOT / "conf" / "experiment" / f"{name}.yaml").is_file() else f"model={name}"
    cfg = compose_config("train", [choice], tmp_path)
    fast = FAST_DATA.get(str(cfg.data._target_).rsplit(".", 1)[-1], [])
    if OmegaConf.missing_keys(cfg.data):
        pytest.skip(f"model={name} defaults to a dataset that needs user data: {sorted(OmegaConf.missing_keys(cfg.data))}")
    cfg = compose_config("train", [choice, "debug=fdr", *fast, *offline_model_overrides(cfg, name)], tmp_path)
    metrics, objs = train_script.train(cfg)
    # training batches that ran (global_step only counts automatic-optimisation steps)
    assert objs["trainer"].fit_loop.epoch_loop.batch_progress.total.completed >= 1
    assert any(k.startswith("train/") for k in metrics), sorted(metrics)
    if getattr(objs["datamodule"], "synthetic", False):
        assert "SYNTHETIC — not human data" in capsys.readouterr().err


def test_center_bias_trains_tests_and_returns_optimized_metric(tmp_path):
    cfg = compose_config("train", ["model=center_bias", *_coco(tmp_path), "debug=limit", "trainer.max_epochs=2"], tmp_path)
    metrics, objs = train_script.train(cfg)
    value = get_metric_value(metrics, cfg.optimized_metric)
    assert math.isfinite(value)
    assert "test/loss" in metrics and math.isfinite(float(metrics["test/loss"]))
    ckpt_dir = tmp_path / "checkpoints"
    assert (ckpt_dir / "last.ckpt").is_file() and objs["trainer"].checkpoint_callback.best_model_path
    assert (tmp_path / "csv").is_dir()


def test_zero_shot_model_is_rejected(tmp_path):
    cfg = compose_config("train", ["model=random", *_coco(tmp_path), "debug=fdr"], tmp_path)
    with pytest.raises(ValueError, match="not trainable"):
        train_script.train(cfg)


def _epochs_logged(run_dir: Path, version: int) -> set[int]:
    with open(run_dir / "csv" / f"version_{version}" / "metrics.csv") as fh:
        return {int(r["epoch"]) for r in csv.DictReader(fh) if r.get("epoch")}


def test_resume_from_last_ckpt_continues_the_step_count(tmp_path):
    common = ["model=center_bias", *_coco(tmp_path), "trainer.log_every_n_steps=1", "callbacks.early_stopping.patience=100"]
    cfg = compose_config("train", [*common, "trainer.max_epochs=2", "test=false"], tmp_path)
    _, objs = train_script.train(cfg)
    steps_per_epoch = objs["trainer"].num_training_batches
    assert objs["trainer"].global_step == 2 * steps_per_epoch
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 2 * steps_per_epoch

    cfg = compose_config("train", [*common, "trainer.max_epochs=4", "test=false", "ckpt_path=last"], tmp_path)
    _, objs = train_script.train(cfg)
    assert objs["ckpt_path"] == str(last)
    assert objs["trainer"].global_step == 4 * steps_per_epoch
    assert _epochs_logged(tmp_path, 1) == {2, 3}  # the resumed run trained only epochs 2 and 3

    # a requeued job (same run dir, ckpt_path unset) resumes automatically
    cfg = compose_config("train", [*common, "trainer.max_epochs=5", "test=false"], tmp_path)
    _, objs = train_script.train(cfg)
    assert objs["ckpt_path"] == str(last) and objs["trainer"].global_step == 5 * steps_per_epoch


def test_last_ckpt_is_refreshed_every_epoch_even_without_improvement(tmp_path):
    # optimized_mode=max on a falling val/loss: the monitored checkpoint stops improving after epoch 0,
    # yet last.ckpt must follow training (Lightning's own save_last would stay at epoch 0).
    common = ["model=center_bias", *_coco(tmp_path), "callbacks.early_stopping.patience=100"]
    cfg = compose_config("train", [*common, "trainer.max_epochs=3", "test=false", "optimized_mode=max"], tmp_path)
    _, objs = train_script.train(cfg)
    trainer = objs["trainer"]
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 2 and last["global_step"] == trainer.global_step
    assert "epoch_000" in Path(trainer.checkpoint_callback.best_model_path).name


def test_ckpt_path_last_without_checkpoint_fails_clearly(tmp_path):
    cfg = compose_config("train", ["model=center_bias", *_coco(tmp_path), "ckpt_path=last"], tmp_path)
    with pytest.raises(FileNotFoundError, match="ckpt_path=last"):
        train_script.train(cfg)


def _run(args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


@pytest.mark.slow
def test_ddp_sim_two_processes(tmp_path):
    ann = write_tiny_coco(tmp_path / "tiny.json")
    run_dir = tmp_path / "ddp"
    _run([str(REPO_ROOT / "train.py"), "model=center_bias", "data=coco_search18", f"data.annotations={ann}",
          "data.frame=null", "trainer=ddp_sim", "trainer.max_epochs=2", f"hydra.run.dir={run_dir}"], REPO_ROOT)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    # 6 train stimuli × 3 subjects = 18 samples, batch 16: one batch per rank per epoch with 2 ranks
    assert ckpt["global_step"] == 2 and ckpt["epoch"] == 1


@pytest.mark.slow
def test_submitit_local_two_job_sweep(tmp_path):
    ann = write_tiny_coco(tmp_path / "tiny.json")
    sweep = tmp_path / "sweep"
    proc = _run([str(REPO_ROOT / "train.py"), "-m", "hydra/launcher=submitit_local", "model=center_bias",
                 "data=coco_search18", f"data.annotations={ann}", "data.frame=null", "debug=limit",
                 "seed=1,2", f"hydra.sweep.dir={sweep}"], REPO_ROOT)
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file(), proc.stderr[-3000:]
    assert (sweep / "0" / ".hydra" / "overrides.yaml").read_text().count("seed=1") == 1


@pytest.mark.slow
def test_optuna_sweep_two_trials(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    ann = write_tiny_coco(tmp_path / "tiny.json")
    sweep = tmp_path / "optuna"
    _run([str(REPO_ROOT / "train.py"), "hparams_search=optuna", "model=center_bias", "data=coco_search18",
          f"data.annotations={ann}", "data.frame=null", "debug=limit", "hydra.sweeper.n_trials=2",
          "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweep.dir={sweep}"], REPO_ROOT)
    assert "best_value" in (sweep / "optimization_results.yaml").read_text()


def test_wandb_run_is_closed_even_when_training_fails(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_config("train", ["model=random", *_coco(tmp_path)], tmp_path)  # random is not trainable
    wandb.init(mode="offline", dir=str(tmp_path), project="scanpath-test")
    assert wandb.run is not None
    with pytest.raises(ValueError, match="not trainable"):
        train_script.main.__wrapped__(cfg)  # the function under @hydra.main
    assert wandb.run is None


def test_train_ends_in_an_evaluation_of_the_best_checkpoint(tmp_path, caplog):
    """train.py model=oat: after testing, the best checkpoint goes through the OAT protocol into
    <run dir>/evaluation/ (one schema, report, learning curve) and the next commands are printed."""
    import json
    import logging

    from scanpath.evaluation import validate_metrics

    tiny = ["model=oat", "data.num_layouts=30", "data.include_image=false", "model.d_model=32", "model.n_heads=2",
            "model.n_encoder_layers=1", "model.n_decoder_layers=1", "model.dim_feedforward=32", "model.pe_steps=50",
            "model.train_budget.max_epochs=2", "model.train_budget.limit_train_batches=2",
            "model.train_budget.limit_val_batches=1", "model.train_budget.limit_test_batches=1",
            "protocol.samples=2", "protocol.baseline_rollouts=3", "report.n_stimuli=2",
            "callbacks.rich_progress_bar=null"]
    cfg = compose_config("train", tiny, tmp_path)
    assert cfg.protocol._target_.endswith("OATProtocol")
    with caplog.at_level(logging.INFO, logger="scanpath.train"):
        _, objs = train_script.train(cfg)
    ev = tmp_path / "evaluation"
    payload = json.loads((ev / "metrics.json").read_text())
    validate_metrics(payload)
    assert {"OAT (greedy)", "OAT (sampled ×2)", "random (objects)", "center (objects)", "Human"} <= set(payload["rows"])
    best = objs["trainer"].checkpoint_callback.best_model_path
    assert best and payload["rows"]["OAT (greedy)"]["checkpoint"] == best
    assert cfg.optimized_metric == "val/delta"  # auto → the model's own monitor
    assert (ev / "report.html").is_file() and (ev / "figures" / "learning_curve.png").is_file()
    text = caplog.text
    assert "report.html" in text and "experiment=leaderboard" in text and f"ckpt_path={best}" in text

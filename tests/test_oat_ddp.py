"""OAT val/delta under DDP (slow): two simulated ranks (trainer=ddp_sim, gloo on CPU) each see half the
validation trials; the torchmetrics BehaviouralDelta gathers their rollouts, so val/delta equals a
single-process validation of the same weights (rollouts are seeded per trial, independent of sharding)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

TINY = ["model=oat", "data.num_layouts=20", "data.batch_size=3", "model.d_model=32", "model.n_heads=2",
        "model.n_encoder_layers=1", "model.n_decoder_layers=1", "model.dim_feedforward=32",
        "model.pe_steps=200", "model.train_budget.max_epochs=1", "model.lr_schedule=constant",
        "model.lr_warmup_steps=0", "test=false", "logger=csv"]


@pytest.mark.slow
def test_oat_val_delta_is_gathered_across_ddp_ranks(tmp_path):
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "SCANPATH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *TINY, "trainer=ddp_sim",
                           f"hydra.run.dir={run_dir}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    rows = [r for f in run_dir.rglob("metrics.csv") for r in csv.DictReader(f.open())]
    ddp_delta = [float(r["val/delta"]) for r in rows if r.get("val/delta")]
    assert len(ddp_delta) == 1

    sys.path.insert(0, str(REPO_ROOT))
    os.environ["SCANPATH_CACHE"] = str(tmp_path / "cache")
    import pytorch_lightning as pl
    from conftest import compose_config
    from hydra.utils import instantiate

    from scanpath.models.oat.module import OATModule

    cfg = compose_config("train", TINY, tmp_path / "single")
    dm = instantiate(cfg.data)
    ckpt = next((run_dir / "checkpoints").glob("last.ckpt"))
    module = OATModule.load_from_checkpoint(str(ckpt), map_location="cpu", weights_only=True)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    single = trainer.validate(module, datamodule=dm)[0]["val/delta"]
    # 2 val layouts × 3 observers = 6 trials: the distributed sampler pads none, no trial counts twice
    assert single == pytest.approx(ddp_delta[0], abs=1e-6)

"""Issue 16 items 6, 10, 12: ``ckpt_path=last`` never picks another model's run; an unwritable output
dir is named; checkpoints are written atomically and incomplete ones are skipped on resume."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from scanpath.utils.hydra import resolve_ckpt_path

REPO = Path(__file__).resolve().parents[1]


def _run(root: Path, name: str, model: str, experiment: str | None = None, ckpts=("last.ckpt",), age: float = 0):
    rd = root / "train" / "runs" / name
    (rd / ".hydra").mkdir(parents=True)
    (rd / ".hydra" / "config.yaml").write_text(f"model:\n  _target_: {model}\n")
    choices = f"hydra:\n  runtime:\n    choices:\n      experiment: {experiment if experiment else 'null'}\n"
    (rd / ".hydra" / "hydra.yaml").write_text(choices)
    (rd / "checkpoints").mkdir()
    for c in ckpts:
        p = rd / "checkpoints" / c
        torch.save({"state_dict": {}, "run": name, "file": c}, p)
        t = time.time() - age
        os.utime(p, (t, t))
    return rd


def _cfg(root: Path, out: Path, model: str, ckpt="last", experiment=None, resume=True):
    d = {"ckpt_path": ckpt, "resume_from_last": resume, "task_name": "train",
         "paths": {"output_dir": str(out), "log_dir": str(root)}, "model": {"_target_": model}}
    if experiment:
        d["hydra"] = {"runtime": {"choices": {"experiment": experiment}}}
    return OmegaConf.create(d)


def test_last_picks_newest_run_of_the_same_model_only(tmp_path):
    a = _run(tmp_path, "a", "pkg.OAT", age=100)
    _run(tmp_path, "b", "pkg.Chance", age=10)  # newer, but another model
    out = tmp_path / "train" / "runs" / "now"
    got = resolve_ckpt_path(_cfg(tmp_path, out, "pkg.OAT"))
    assert Path(got) == a / "checkpoints" / "last.ckpt"
    with pytest.raises(FileNotFoundError, match="pkg.NeVA"):
        resolve_ckpt_path(_cfg(tmp_path, out, "pkg.NeVA"))


def test_last_respects_the_experiment(tmp_path):
    a = _run(tmp_path, "a", "pkg.OAT", "oat_paper", age=100)
    _run(tmp_path, "b", "pkg.OAT", "oat_amazon", age=10)
    out = tmp_path / "train" / "runs" / "now"
    assert Path(resolve_ckpt_path(_cfg(tmp_path, out, "pkg.OAT", experiment="oat_paper"))).parent.parent == a


def test_this_runs_checkpoint_of_another_model_is_an_error(tmp_path):
    from scanpath.utils.hydra import CheckpointMismatchError

    b = _run(tmp_path, "b", "pkg.Chance")
    with pytest.raises(CheckpointMismatchError, match="pkg.Chance"):
        resolve_ckpt_path(_cfg(tmp_path, b, "pkg.OAT"))
    with pytest.raises(CheckpointMismatchError, match="pkg.Chance"):
        resolve_ckpt_path(_cfg(tmp_path, tmp_path / "x", "pkg.OAT", ckpt=str(b / "checkpoints" / "last.ckpt")))


def test_incomplete_checkpoints_are_skipped_with_a_warning(tmp_path, caplog):
    a = _run(tmp_path, "a", "pkg.OAT", ckpts=("epoch_000.ckpt", "last.ckpt"))
    (a / "checkpoints" / "last.ckpt").write_bytes(b"")  # full disk: 0-byte file
    with caplog.at_level(logging.WARNING):
        got = resolve_ckpt_path(_cfg(tmp_path, a, "pkg.OAT", ckpt=None))
    assert Path(got).name == "epoch_000.ckpt" and "incomplete" in caplog.text
    data = (a / "checkpoints" / "epoch_000.ckpt").read_bytes()
    (a / "checkpoints" / "epoch_000.ckpt").write_bytes(data[: len(data) // 2])  # truncated
    assert resolve_ckpt_path(_cfg(tmp_path, a, "pkg.OAT", ckpt=None)) is None
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        resolve_ckpt_path(_cfg(tmp_path, tmp_path / "x", "pkg.OAT", ckpt=str(a / "checkpoints" / "epoch_000.ckpt")))


# ------------------------------------------------------------------------------- atomic checkpoints
class _Tiny(__import__("pytorch_lightning").LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def training_step(self, batch, _):
        loss = self.lin(batch[0]).pow(2).mean()
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _callbacks(ckdir: Path):
    from hydra.utils import instantiate

    out = []
    for name in ("last_checkpoint", "model_checkpoint"):
        conf = OmegaConf.load(REPO / "conf" / "callbacks" / f"{name}.yaml")[name]
        conf.dirpath = str(ckdir)
        if name == "model_checkpoint":
            conf.monitor, conf.mode = "train_loss", "min"
            conf.save_top_k = -1
        out.append(instantiate(conf))
    return out


def test_full_disk_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    import pytorch_lightning as pl
    from lightning_fabric.plugins.io import torch_io

    real = torch_io._atomic_save
    calls = {"n": 0}

    def full_disk(checkpoint, filepath):
        calls["n"] += 1
        if calls["n"] <= 2:  # epoch 0: both callbacks save fine
            return real(checkpoint, filepath)
        with open(filepath, "wb") as fh:  # what a cross-device copy leaves when the disk fills up
            fh.write(b"PK\x03\x04")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch_io, "_atomic_save", full_disk)
    ckdir = tmp_path / "checkpoints"
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2)), batch_size=2)
    trainer = pl.Trainer(max_epochs=3, callbacks=_callbacks(ckdir), logger=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", default_root_dir=str(tmp_path))
    with pytest.raises(OSError, match="No space"):
        trainer.fit(_Tiny(), data)
    names = sorted(p.name for p in ckdir.iterdir())
    assert names == ["epoch_000.ckpt", "last.ckpt"], names  # no 0-byte epoch_001.ckpt, no partial leftovers
    for n in names:  # the surviving files are complete and load safely
        ck = torch.load(ckdir / n, map_location="cpu", weights_only=True)
        assert ck["epoch"] == 0


# ----------------------------------------------------------------------------------- output dirs
def test_check_writable_dir(tmp_path):
    from scanpath.utils.output_dir import OutputDirCheck, OutputDirError, check_writable_dir

    assert check_writable_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()  # the probe creates nothing
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match="is a file"):
        check_writable_dir(tmp_path / "file" / "run")
    with pytest.raises(OutputDirError, match="/sys") as e:  # read-only even for root
        check_writable_dir("/sys/scanpath_run")
    assert e.value.directory == "/sys"
    with pytest.raises(SystemExit, match="hydra.run.dir.*/sys"):  # Hydra only warns about callback exceptions
        OutputDirCheck().on_run_start(config=OmegaConf.create({"hydra": {"run": {"dir": "/sys/x/run"}}}))


def test_train_cli_names_the_unwritable_output_dir(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "train.py", "hydra.run.dir=/sys/scanpath_ro_run", "data.num_layouts=4"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "/sys/scanpath_ro_run" in out and "not writable" in out, out[-2000:]
    assert "Unable to configure handler" not in out and "Traceback" not in out, out[-2000:]

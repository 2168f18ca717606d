"""Issue 16 item 13: a run killed at step k and resumed equals the uninterrupted run, metric for metric.

Unit tests pin the pieces (epoch-seeded order, loader position, RNG round trip through a weights-only
checkpoint); the end-to-end tests train a tiny OAT (dropout, warm-up + cosine LR, layout-grouped
batches) for 3 epochs × 4 batches on the synthetic search arrays: once straight through, once killed
(an exception raised in ``on_train_batch_end``, as a crash would) and resumed — from ``ckpt_path=last``
(end of epoch 0) or from a checkpoint written in the middle of epoch 1. Every validation metric of
every epoch must be bit-identical (single-threaded CPU, so float sums run in the same order).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import REPO_ROOT, compose_config

from scanpath.datamodules.object_layout import LayoutGroupedBatches
from scanpath.utils.atomic_checkpoint import AtomicModelCheckpoint
from scanpath.utils.resume import EpochShuffle, ResumableLoader, ResumeState, collect_rng_states, set_rng_states

sys.path.insert(0, str(REPO_ROOT))
import scanpath.cli.train as train_script  # noqa: E402  (the flow train.py runs)


# ------------------------------------------------------------------------------ pieces
def test_epoch_shuffle_depends_on_seed_and_epoch_only():
    a, b = EpochShuffle(50, seed=7), EpochShuffle(50, seed=7)
    torch.rand(3)  # the global RNG plays no part
    assert list(a) == list(b) and sorted(a) == list(range(50))
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(EpochShuffle(50, seed=8)) != list(EpochShuffle(50, seed=7))
    full = list(a)
    a.skip = 20
    assert list(a) == full[20:] and list(a) == full  # skip applies to the next iteration only


def test_layout_grouped_batches_order_follows_the_epoch_and_skips():
    ids = [f"L{i // 3}" for i in range(30)]  # 10 layouts × 3 observers
    s = LayoutGroupedBatches(ids, batch_size=4, seed=3)
    e0 = list(s)
    assert all(len({ids[i] for i in b}) <= 2 for b in e0)  # observers of a layout stay together
    s.sampler.set_epoch(1)
    e1 = list(s)
    assert e0 != e1 and sorted(i for b in e1 for i in b) == list(range(30))
    s.skip = 3
    assert list(s) == e1[3:] and list(s) == e1


def test_resumable_loader_state_skips_the_batches_already_served():
    data = list(range(23))
    loader = ResumableLoader(data, batch_size=5, sampler=EpochShuffle(len(data), seed=1))
    loader.sampler.set_epoch(2)
    full = [b.tolist() for b in loader]
    it = iter(loader)
    seen = [next(it).tolist(), next(it).tolist()]
    state = loader.state_dict()
    assert state == {"epoch": 2, "batches": 2, "seed": 1} and seen == full[:2]

    fresh = ResumableLoader(data, batch_size=5, sampler=EpochShuffle(len(data), seed=99))
    fresh.load_state_dict(state)  # the interrupted run's seed is kept
    fresh.sampler.set_epoch(2)
    assert [b.tolist() for b in fresh] == full[2:]
    assert [b.tolist() for b in fresh] == full  # the next pass is a whole epoch again
    other = ResumableLoader(data, batch_size=5, sampler=EpochShuffle(len(data), seed=1))
    other.load_state_dict(state)
    other.sampler.set_epoch(3)  # a state of another epoch is not applied
    assert len(list(other)) == 5

    before = torch.get_rng_state()
    list(loader)
    assert torch.equal(before, torch.get_rng_state())  # iterating draws nothing from the global RNG


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    states = collect_rng_states()
    want = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    torch.save({"s": states}, tmp_path / "rng.pt")
    loaded = torch.load(tmp_path / "rng.pt", weights_only=True)["s"]
    torch.rand(10), np.random.rand(10), random.random()
    set_rng_states(loaded)
    got = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]


# ------------------------------------------------------------------------------ end to end
TINY_OAT = ["model=oat", "data.num_layouts=40", "data.include_image=false", "data.batch_size=6",
            "model.d_model=32", "model.n_heads=2", "model.n_encoder_layers=1", "model.n_decoder_layers=1",
            "model.dim_feedforward=32", "model.pe_steps=50", "model.train_budget.max_epochs=3",
            "model.train_budget.limit_train_batches=4", "model.train_budget.limit_val_batches=2",
            "test=false", "evaluate=false", "callbacks.rich_progress_bar=null"]


class Recorder(pl.Callback):
    """Logged metrics per epoch: validation ones at the end of validation, training ones at epoch end."""

    def __init__(self) -> None:
        self.val: dict[int, dict[str, float]] = {}
        self.train: dict[int, dict[str, float]] = {}

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.val[trainer.current_epoch] = {k: float(v) for k, v in trainer.callback_metrics.items()
                                               if k.startswith("val/")}

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.train[trainer.current_epoch] = {k: float(v) for k, v in trainer.callback_metrics.items()
                                             if k.startswith("train/")}


class KillAtStep(pl.Callback):
    """Crashes the run right after optimiser step ``step`` (after the checkpoint callbacks ran)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated kill")


def _train(run_dir: Path, monkeypatch, extra_callbacks: list, overrides: list[str] = ()) -> Recorder:
    rec = Recorder()
    real = train_script.instantiate_callbacks
    monkeypatch.setattr(train_script, "instantiate_callbacks", lambda c: [*real(c), rec, *extra_callbacks])
    cfg = compose_config("train", [*TINY_OAT, *overrides], run_dir)
    try:
        train_script.train(cfg)
    except RuntimeError as e:
        assert "simulated kill" in str(e)
    finally:
        monkeypatch.setattr(train_script, "instantiate_callbacks", real)
    return rec


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    try:
        rec = _train(tmp_path_factory.mktemp("straight"), mp, [])
    finally:
        mp.undo()
    assert sorted(rec.val) == [0, 1, 2] and all("val/delta" in m for m in rec.val.values())
    return rec


def _assert_same(resumed: Recorder, straight: Recorder, epochs: list[int], train_epochs: list[int]) -> None:
    for e in epochs:
        assert resumed.val[e] == straight.val[e], f"epoch {e}: {resumed.val[e]} != {straight.val[e]}"
    for e in train_epochs:
        assert resumed.train[e] == straight.train[e], f"epoch {e}: {resumed.train[e]} != {straight.train[e]}"


@pytest.mark.slow
def test_kill_then_ckpt_path_last_reproduces_the_uninterrupted_run(tmp_path, monkeypatch, uninterrupted):
    killed = _train(tmp_path, monkeypatch, [KillAtStep(6)])  # dies in epoch 1 (4 steps per epoch)
    assert sorted(killed.val) == [0]
    resumed = _train(tmp_path, monkeypatch, [], ["ckpt_path=last"])  # last.ckpt = end of epoch 0
    assert sorted(resumed.val) == [1, 2]
    _assert_same(killed, uninterrupted, [0], [0])
    _assert_same(resumed, uninterrupted, [1, 2], [1, 2])


@pytest.mark.slow
def test_resume_from_a_mid_epoch_checkpoint_reproduces_the_uninterrupted_run(tmp_path, monkeypatch, uninterrupted):
    mid = AtomicModelCheckpoint(dirpath=tmp_path / "mid", filename="mid", every_n_train_steps=6, save_top_k=1)
    _train(tmp_path, monkeypatch, [mid, KillAtStep(7)])  # checkpoint after step 6 = batch 2 of epoch 1
    ckpt = tmp_path / "mid" / "mid.ckpt"
    state = torch.load(ckpt, weights_only=True)
    assert state["global_step"] == 6
    saved = state["callbacks"][ResumeState().state_key]
    assert saved["loaders"] == [{"epoch": 1, "batches": 2, "seed": 1234}]
    resumed = _train(tmp_path, monkeypatch, [], [f"ckpt_path={ckpt}"])
    # every validation metric matches; the epoch-mean training loss of the interrupted epoch averages
    # only the batches run after the resume (Lightning keeps no running means in checkpoints)
    _assert_same(resumed, uninterrupted, [1, 2], [2])

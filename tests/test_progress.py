"""Non-TTY progress lines (scanpath.utils.progress) and the known-warning filter (scanpath.utils.quiet)."""

from __future__ import annotations

import io
import logging
import re
import warnings

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from scanpath.utils.progress import LogProgressBar, ProgressLog, auto_progress_bar
from scanpath.utils.quiet import quiet_known_warnings


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.lin(batch[0]).pow(2).mean()
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.lin(batch[0]).pow(2).mean(), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _Clock:
    """Every reading advances 10 s: with interval_s=30 a line is due every third batch or so."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 10.0
        return self.t


def _loader(n: int) -> DataLoader:
    return DataLoader(TensorDataset(torch.randn(n, 2)), batch_size=2)


def test_log_progress_bar_writes_timed_lines_with_epoch_step_rate_eta(tmp_path):
    buf = io.StringIO()
    bar = LogProgressBar(interval_s=30, stream=buf, clock=_Clock())
    trainer = pl.Trainer(max_epochs=2, callbacks=[bar], logger=False, enable_checkpointing=False,
                         default_root_dir=tmp_path, num_sanity_val_steps=0, enable_model_summary=False)
    assert trainer.progress_bar_callback is bar  # Lightning uses it instead of its TQDM default
    trainer.fit(_Tiny(), _loader(20), _loader(4))
    lines = buf.getvalue().splitlines()
    train = [ln for ln in lines if ln.startswith("[train]")]
    assert train, lines
    pat = re.compile(r"^\[train\] \| epoch (\d)/2 \| step (\d+)/10 \| [\d.]+ it/s \| elapsed \S+ \| ETA \S+")
    assert all(pat.match(ln) for ln in train), train
    # timed lines inside the epoch (not only the forced end-of-epoch line), for both epochs
    assert {pat.match(ln).group(1) for ln in train} == {"1", "2"}
    assert any(pat.match(ln).group(2) not in ("10",) for ln in train)
    assert any("train/loss=" in ln for ln in train)
    assert any(ln.startswith("[val]") and "step 2/2" in ln for ln in lines), lines


def test_log_progress_bar_respects_interval():
    buf = io.StringIO()
    t = [0.0]
    prog = ProgressLog("evaluate", total=100, interval_s=30, stream=buf, clock=lambda: t[0], enabled=True)
    for _ in range(99):
        t[0] += 1.0  # 99 s in total → lines at 30, 60, 90 s
        prog.update()
    assert len(buf.getvalue().splitlines()) == 3
    t[0] += 1.0
    prog.update()  # the last step always reports
    last = buf.getvalue().splitlines()[-1]
    assert last.startswith("[evaluate] step 100/100") and "ETA 0:00" in last


def test_auto_progress_bar_picks_log_lines_off_a_tty(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "stdout", io.StringIO())  # not a TTY
    assert isinstance(auto_progress_bar(), LogProgressBar)
    from pytorch_lightning.callbacks import RichProgressBar

    assert isinstance(auto_progress_bar(force="rich"), RichProgressBar)


def test_quiet_known_warnings_filters_only_the_listed_messages(caplog):
    quiet_known_warnings()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("default")
        quiet_known_warnings()  # re-install after simplefilter reset (entry points call it once)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use …", FutureWarning)
        warnings.warn("something else", FutureWarning)
    assert [str(w.message) for w in rec] == ["something else"]
    log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    with caplog.at_level(logging.INFO, logger=log.name):
        log.info("💡 Tip: For seamless cloud logging and experiment tracking, try installing litlogger")
        log.info("GPU available: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False"]

"""torchmetrics wrappers: same numbers as the functional pipeline, split updates, distributed sync."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from scanpath.metrics import human_consistency, score_scanpaths
from scanpath.metrics.classes import (
    DTW,
    BehaviouralDelta,
    DiversitySequenceScore,
    HumanConsistency,
    MultiMatch,
    SaliencyMapMetrics,
    ScanMatch,
    SearchEfficiency,
    SequenceScore,
)
from scanpath.types import Scanpath, ScanpathBatch


def _data(seed=0):
    rng = np.random.default_rng(seed)

    def sp(n, stim, subj):
        return Scanpath(rng.uniform(0, 300, n), rng.uniform(0, 200, n), rng.uniform(80, 400, n), stimulus=stim,
                        subject=subj, task="cup", condition="present", image_size=(300, 200),
                        extra={"bbox": [100, 50, 80, 80]})
    humans = [sp(int(rng.integers(2, 12)), f"s{k}", j) for k in range(5) for j in range(4)]
    preds = [sp(int(rng.integers(2, 12)), f"s{k}", r + 1) for k in range(5) for r in range(3)]
    return preds, humans


@pytest.mark.parametrize("cls,name,params", [
    (SequenceScore, "ss", {}), (MultiMatch, "multimatch", {}), (ScanMatch, "scanmatch", {}),
    (DTW, "dtw", {"pair_reduce": "min"}),
])
def test_pair_classes_match_pipeline_and_split_updates(cls, name, params):
    preds, humans = _data()
    ref = score_scanpaths(preds, humans, {name: params})[name]
    m = cls(humans, params=params)
    m.update(preds[:7])
    m.update(ScanpathBatch.from_list(preds[7:]))
    out = m.compute()
    assert out["value"] == pytest.approx(ref["value"], abs=1e-12)
    assert out["n_nan"] == ref["n_nan"] and out["n_pairs"] == ref["n_pairs"]


def test_set_classes_match_pipeline():
    preds, humans = _data(1)
    for cls, name in ((DiversitySequenceScore, "dss"), (SaliencyMapMetrics, "saliency")):
        params = {"n_splits": 5} if name == "saliency" else {}
        ref = score_scanpaths(preds, humans, {name: params})[name]
        m = cls(humans, params=params)
        m.update(preds[:4])
        m.update(preds[4:])
        assert m.compute()["value"] == pytest.approx(ref["value"], abs=1e-12), name
    se = SearchEfficiency(humans)
    se.update(preds)
    ref = score_scanpaths(preds, humans, {"search_efficiency": {}})["search_efficiency"]
    assert se.compute()["value"] == pytest.approx(ref["value"])


def test_human_consistency_class_shards():
    _, humans = _data(2)
    ref = human_consistency(humans, {"ss": {}})["ss"]
    m = HumanConsistency(humans, "ss")
    m.update(range(0, 10))
    m.update(range(10, len(humans)))
    assert m.compute()["value"] == pytest.approx(ref["value"], abs=1e-12)


def test_behavioural_delta_class():
    def sp(objs, subj, trial):
        n = len(objs)
        return Scanpath(np.zeros(n), np.zeros(n), stimulus=trial, subject=subj, task="7",
                        fixation_extra={"object": np.asarray(objs, dtype=np.int64)})
    humans = [sp([3, 3, 5, 3, 7], 0, "t1"), sp([1, 7], 1, "t1"), sp([2, 2, 7], 0, "t2")]
    m = BehaviouralDelta(humans)
    m.update(humans[:2])
    m.update(humans[2:])
    assert m.compute()["value"] == 0.0
    m2 = BehaviouralDelta(humans)
    m2.update([sp([1, 2, 3, 4], 5, "t1"), sp([7], 5, "t2")])
    assert m2.compute()["value"] > 0


def _ddp_worker(rank, world, port, q):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    preds, humans = _data()
    out = {}
    for cls in (SequenceScore, MultiMatch):
        m = cls(humans)
        m.update(preds[rank::world])
        out[cls.__name__] = m.compute()["value"]
    q.put((rank, out))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_ddp_equals_single_process():
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_ddp_worker, args=(r, 2, port, q)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(q.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    preds, humans = _data()
    for cls in (SequenceScore, MultiMatch):
        m = cls(humans)
        m.update(preds)
        single = m.compute()["value"]
        assert results[0][cls.__name__] == pytest.approx(single, abs=1e-12)
        assert results[1][cls.__name__] == pytest.approx(single, abs=1e-12)

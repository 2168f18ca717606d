"""Slow: all 12 asymmetry conditions end to end with a random-init eccNET on CPU.

Random weights cannot reproduce the published polarity (that needs ImageNet weights); this checks the
whole pipeline (generation, search to the published NumFix, outputs, RT/slope/AI analysis) runs and gives
finite slopes. By default it keeps the first trial of every set-size block (40 of the 1,272 trials; 18 min
on a 2-core CPU before background skipping, see benchmarks/RESULTS.md). ``SCANPATH_ECCNET_TRIALS_PER_SIZE``
= k keeps k trials per block; ``all`` runs every trial (the published protocol, hours on CPU).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

HUMAN_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "asymmetry" / "human_rt_digitized.csv"


def _trials_per_size() -> int | None:
    raw = os.environ.get("SCANPATH_ECCNET_TRIALS_PER_SIZE", "1")
    return None if raw == "all" else int(raw)


@pytest.mark.slow
def test_full_run_all_conditions_random_init(tmp_path: Path) -> None:
    if not HUMAN_CSV.is_file():
        pytest.skip("human RT CSV not available at ../shared/data/asymmetry")
    from scanpath.models.eccnet.module import EccNetSearchModel
    from scanpath.evaluation.protocols.asymmetry import run_asymmetry
    from scanpath.stimuli.asymmetry import CONDITIONS, experiment_of

    per_size = _trials_per_size()
    model = EccNetSearchModel("eccnet", weights="random", batch_size=4, seed=0)
    t0 = time.perf_counter()
    res = run_asymmetry(model, tmp_path, seed=0, max_trials_per_size=per_size, human_csv=str(HUMAN_CSV),
                        progress=False)
    dt = time.perf_counter() - t0
    print(f"\nfull run (12 conditions, trials per set size: {per_size or 'all'}, published NumFix, "
          f"random init): {dt:.1f} s")
    print(res["table"])
    assert set(res["slopes"]) == set(CONDITIONS)
    assert all(math.isfinite(v) for v in res["slopes"].values())
    assert set(res["asymmetry_index"]) == {"exp1", "exp2", "exp3", "exp4", "exp5", "exp6", "mean"}
    assert all(-1.0 <= v <= 1.0 for v in res["asymmetry_index"].values())
    n_total = 0
    for c in CONDITIONS:
        spec = experiment_of(c)
        n = len(spec.set_sizes) * (spec.trials_per_size if per_size is None else min(per_size, spec.trials_per_size))
        n_total += n
        fa = np.loadtxt(tmp_path / c / "found_at.csv", delimiter=",", ndmin=2)
        assert fa.shape == (n, spec.num_fix + 1) and (fa.sum(1) <= 1).all()
        fx = np.load(tmp_path / c / "fixations.npy")
        assert fx.shape == (n, spec.num_fix + 1, 2)
        assert (fx >= 0).all() and (fx <= spec.display).all()
        meta = json.loads((tmp_path / c / "trials.json").read_text())
        assert sorted({t["set_size"] for t in meta["trials"]}) == sorted(spec.set_sizes)
        for t, row in zip(meta["trials"], fa):  # N in trials.json agrees with the one-hot table
            assert (t["N"] is None) == (row.sum() == 0)
            assert t["N"] is None or row[t["N"]] == 1
    assert (tmp_path / "rt_vs_set_size.png").stat().st_size > 0
    assert json.loads((tmp_path / "asymmetry_index.json").read_text())["n_trials"] == n_total

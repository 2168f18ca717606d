"""Slow: all 12 asymmetry conditions end to end with a random-init eccNET on CPU.

Random weights cannot reproduce the published polarity (that needs ImageNet weights); this checks the
whole pipeline (generation, search, outputs, RT/slope/AI analysis) runs and gives finite slopes. To fit
a 2-core CPU it keeps one trial per set-size block and caps NumFix at 2 (unfound -> N = set size).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

HUMAN_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "asymmetry" / "human_rt_digitized.csv"


@pytest.mark.slow
def test_full_run_all_conditions_random_init(tmp_path: Path) -> None:
    if not HUMAN_CSV.is_file():
        pytest.skip("human RT CSV not available at ../shared/data/asymmetry")
    from scanpath.models.eccnet.module import EccNetSearchModel
    from scanpath.models.eccnet.runner import run_asymmetry
    from scanpath.stimuli.asymmetry import CONDITIONS, experiment_of

    model = EccNetSearchModel("eccnet", weights="random", batch_size=4, seed=0)
    t0 = time.perf_counter()
    res = run_asymmetry(None, tmp_path, seed=0, max_trials_per_size=1, num_fix_cap=2, human_csv=str(HUMAN_CSV),
                        model=model, progress=False)
    dt = time.perf_counter() - t0
    print(f"\nfull run (12 conditions, 1 trial per set size, NumFix<=2, random init): {dt:.1f} s")
    print(res["table"])
    assert set(res["slopes"]) == set(CONDITIONS)
    assert all(math.isfinite(v) for v in res["slopes"].values())
    assert set(res["asymmetry_index"]) == {"exp1", "exp2", "exp3", "exp4", "exp5", "exp6", "mean"}
    assert all(-1.0 <= v <= 1.0 for v in res["asymmetry_index"].values())
    for c in CONDITIONS:
        spec = experiment_of(c)
        fa = np.loadtxt(tmp_path / c / "found_at.csv", delimiter=",", ndmin=2)
        assert fa.shape == (len(spec.set_sizes), 3) and (fa.sum(1) <= 1).all()
        fx = np.load(tmp_path / c / "fixations.npy")
        assert fx.shape == (len(spec.set_sizes), 3, 2)
        assert (fx >= 0).all() and (fx <= spec.display).all()
        meta = json.loads((tmp_path / c / "trials.json").read_text())
        assert [t["set_size"] for t in meta["trials"]] == list(spec.set_sizes)
    assert (tmp_path / "rt_vs_set_size.png").stat().st_size > 0
    assert json.loads((tmp_path / "asymmetry_index.json").read_text())["n_trials"] == 40

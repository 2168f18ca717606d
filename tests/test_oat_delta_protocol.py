"""OAT Δ protocol details (issue 15): upstream's empty-rollout replacement under delta_oat_compat and
per-trial averaging in BehaviouralDelta (the class behind val/delta)."""

from __future__ import annotations

import numpy as np
import pytest

from scanpath.metrics import BehaviouralDelta, fill_empty_rollouts, registry
from scanpath.types import Scanpath


def _sp(objs, target=3, stim="L", subject=1):
    objs = list(objs)
    z = np.zeros(len(objs))
    return Scanpath(x=z, y=z.copy(), stimulus=stim, subject=subject, task=str(target),
                    fixation_extra={"object": np.asarray(objs, dtype=int)}, extra={"target_index": target})


def test_fill_empty_rollouts_uses_the_previous_rollout():
    assert fill_empty_rollouts([[4, 4, 3], [], [5]]) == [[4, 4, 3], [4, 4, 3], [5]]
    assert fill_empty_rollouts([[], [2], []]) == [[2], [2], [2]]
    assert fill_empty_rollouts([[], []]) == [[], []]


def test_delta_oat_compat_reproduces_upstream_empty_rollout_replacement():
    preds = [_sp([4, 4, 3, 4, 3], subject=1), _sp([], subject=2), _sp([5, 6, 5, 7, 3], subject=3)]
    human = [_sp([1, 2, 2, 1, 3])]
    spec = registry["oat_delta"]
    ours = spec.fn(preds, human, "stimulus", {"delta_oat_compat": False})["value"]
    upstream = spec.fn(preds, human, "stimulus", {"delta_oat_compat": True})["value"]
    assert ours == pytest.approx(1 / 3, abs=1e-9)
    assert upstream == pytest.approx(0.2222222, abs=1e-6)  # issue 15 item 5: upstream Δ 0.222


def test_behavioural_delta_per_trial_weights_keys_by_their_trials():
    # key A has 3 human trials, key B one: per-trial averaging weighs A three times
    humans = [_sp([1, 3], stim="A", subject=i) for i in range(3)] + [_sp([1, 2, 2, 2, 3], stim="B")]
    preds = [_sp([3], stim="A"), _sp([1, 2, 2, 2, 3], stim="B")]
    per_key = BehaviouralDelta(humans, key="stimulus", average="key")
    per_trial = BehaviouralDelta(humans, key="stimulus", average="trial")
    for m in (per_key, per_trial):
        m.update(preds)
    k, t = per_key.compute(), per_trial.compute()
    assert k["values"]["length"] == pytest.approx((1 + 5) / 2)
    assert t["values"]["length"] == pytest.approx((3 * 1 + 5) / 4)
    assert per_trial.human_stats["length"] == pytest.approx((3 * 2 + 5) / 4)
    assert per_key.human_stats["length"] == pytest.approx((2 + 5) / 2)
    assert k["value"] != pytest.approx(t["value"])

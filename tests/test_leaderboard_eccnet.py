"""The default leaderboard includes eccNET and IVSN natural-image search rows (random weights, labelled
untrained, settings changed by ``leaderboard.overrides`` marked ‡) scored on the same test queries as
every other row; ``leaderboard.max_queries`` applies to all rows alike, and only while a budget model runs."""

from __future__ import annotations

import json
import sys

from conftest import REPO_ROOT, compose_config

sys.path.insert(0, str(REPO_ROOT))
import evaluate as evaluate_script  # noqa: E402

TINY = ["data.num_layouts=40", "data.batch_size=8", "n_figures=1", "report.n_stimuli=1",
        "~baselines.saliency_ior", "~baselines.target_similarity",
        "+leaderboard.overrides.oat.d_model=32", "+leaderboard.overrides.oat.n_heads=2",
        "+leaderboard.overrides.oat.n_encoder_layers=1", "+leaderboard.overrides.oat.n_decoder_layers=1",
        "+leaderboard.overrides.oat.dim_feedforward=32",
        *[f"leaderboard.overrides.{m}.natural.{k}" for m in ("eccnet", "ivsn")
          for k in ("num_fix=2", "display_scale=0.25")]]


def _run(tmp_path, extra):
    cfg = compose_config("evaluate", ["experiment=leaderboard", *TINY, *extra], tmp_path)
    evaluate_script.evaluate(cfg)
    return (json.loads((tmp_path / "metrics.json").read_text()), json.loads((tmp_path / "per_stimulus.json").read_text()),
            (tmp_path / "metrics.md").read_text())


def test_leaderboard_has_untrained_eccnet_and_ivsn_rows_on_the_same_queries(tmp_path):
    written, per_stim, md = _run(tmp_path, ["leaderboard.models=[oat,eccnet,ivsn]", "leaderboard.max_queries=2"])
    rows = written["rows"]
    for name in ("eccnet (untrained)", "ivsn (untrained)"):
        row = rows[name]
        assert row["role"] == "model" and row["untrained"] is True and row["n_predictions"] == 2
        assert "natural.display_scale=0.25" in row["settings_note"] and "natural.num_fix=2" in row["settings_note"]
        assert f"| {name} (model) ‡ |" in md and f"‡ {name}: " in md
    assert {"OAT (greedy) (untrained)", "Random", "Center bias", "Human"} <= set(rows)
    keys = {name: set(m["ss"]) for name, m in per_stim["rows"].items()}
    assert len(set(map(frozenset, keys.values()))) == 1 and len(next(iter(keys.values()))) == 2, keys
    q = written["settings"]["queries"]
    assert q["max_queries"] == 2 and q["used"] == 2 and q["of"] > 2 and set(q["because"]) == {"eccnet", "ivsn"}
    assert "## Test queries" in md and f"the first 2 of the {q['of']}" in md
    assert not any(k in written["skipped"] for k in ("eccnet", "ivsn"))


def test_default_preset_runs_eccnet_and_ivsn_with_the_documented_budget(tmp_path):
    cfg = compose_config("evaluate", ["experiment=leaderboard"], tmp_path)
    lb = cfg.leaderboard
    assert lb.models is None and "eccnet" not in lb.exclude and "ivsn" not in lb.exclude
    assert {"eccnet_noecc", "eccnet_noecc_avg", "eccnet_top_only", "nevaclip", "neva_opt"} <= set(lb.exclude)
    for m in ("eccnet", "ivsn"):
        assert dict(lb.overrides[m].natural) == {"display_scale": 0.5, "num_fix": 30}
        assert m in lb.budget_models
    assert cfg.protocol.max_queries == lb.max_queries == 10 and list(cfg.protocol.budget_models) == list(lb.budget_models)


def test_query_limit_only_while_a_budget_model_runs(tmp_path):
    written, per_stim, md = _run(tmp_path, ["leaderboard.models=[oat]", "leaderboard.max_queries=2"])
    assert "queries" not in written["settings"] and "Test queries" not in md
    assert len(per_stim["rows"]["Random"]["ss"]) > 2

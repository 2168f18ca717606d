"""360° agents: GRPO maths, policy, CLIP agent (stubbed and random-init), scripted VLM, runner (§7 items 13–14)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from scanpath.envs.actions import Rotate
from scanpath.envs.humanoid360 import Humanoid360Env
from scanpath.models.humanoid360.agents import RandomSubmitAgent, ScriptedVLM, TurnInPlaceAgent
from scanpath.models.humanoid360.grpo import group_advantages, k3_kl, ppo_clip_objective
from scanpath.evaluation.protocols.success360 import run_episodes, run_success, summarise
from scanpath.models.humanoid360.torch_model import (
    N_ACTIONS,
    ROTATIONS,
    SUBMIT_INDEX,
    HeadRotationPolicy,
    decode_actions,
    encode_instruction,
)
from scanpath.stimuli.panoramas import COLOURS, generate_scene, scene_episodes


@pytest.fixture(scope="module")
def toy_episodes():
    return scene_episodes(generate_scene(0, preset="toy", size=(512, 256)))


# ------------------------------------------------------------------ GRPO maths (§7.13)
def test_grpo_advantages_reference_values():
    a = group_advantages(torch.tensor([[1.0, 0, 0, 0, 1, 0, 0, 0]]))
    assert a[0, 0].item() == pytest.approx(1.6202, abs=1e-4) and a[0, 1].item() == pytest.approx(-0.5401, abs=1e-4)
    assert torch.allclose(group_advantages(torch.ones(2, 8)), torch.zeros(2, 8))  # no signal in a uniform group


def test_k3_kl_and_ppo_clip():
    lp = torch.log(torch.tensor([0.2, 0.5, 0.9]))
    assert torch.allclose(k3_kl(lp, lp), torch.zeros(3))
    assert (k3_kl(lp, torch.log(torch.tensor([0.5, 0.2, 0.05]))) > 0).all()
    old = torch.zeros(2)
    new = torch.log(torch.tensor([1.5, 0.5]))  # ratios 1.5 and 0.5
    assert torch.allclose(ppo_clip_objective(new, old, torch.tensor([1.0, -1.0])), torch.tensor([1.2, -0.8]))


def test_action_table_and_decoding():
    assert N_ACTIONS == 36 and len(ROTATIONS) == 35
    assert {tuple(r) for r in ROTATIONS.tolist()} >= {(90, 30), (-20, -10), (0, 0)}
    kind, ang = decode_actions(torch.tensor([SUBMIT_INDEX, 0]), torch.tensor([123, 10]), torch.tensor([-5, 0]))
    assert kind.tolist() == [1, 0] and ang.tolist() == [[123, -5], ROTATIONS[0].tolist()]
    ids = encode_instruction(["find the red cube", "find the red cube", "find the blue cone"])
    assert torch.equal(ids[0], ids[1]) and not torch.equal(ids[0], ids[2]) and ids.shape[1] == 12


def test_policy_agent_runs_in_single_env(toy_episodes):
    from scanpath.models.humanoid360.agents import PolicyAgent

    torch.manual_seed(0)
    env = Humanoid360Env(toy_episodes, out_hw=(36, 64), max_steps=5)
    res = run_episodes(PolicyAgent(HeadRotationPolicy()), env, toy_episodes)
    assert len(res) == 4 and all(1 <= r["steps"] <= 5 for r in res)


def test_grpo_module_training_step_changes_policy(toy_episodes):
    from scanpath.models.humanoid360.module import HeadRotationAgentModule

    torch.manual_seed(0)
    m = HeadRotationAgentModule(group_size=4, groups_per_minibatch=2)
    opt = m.configure_optimizers()
    m.optimizers = lambda: opt  # outside a Trainer
    m.log = lambda *a, **k: None
    before = copy.deepcopy(m.policy.state_dict())
    m.training_step({"episode": toy_episodes}, 0)
    assert any(not torch.equal(before[k], v) for k, v in m.policy.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in m.ref_policy.state_dict().items())  # reference frozen
    sp = m.predict_scanpaths({"episode": toy_episodes[:2]}).to_list()
    assert len(sp) == 2 and sp[0].x[0] == 0 and "success" in sp[0].extra


# ------------------------------------------------------------------ agents (§7.14)
def red_scorer(crops: torch.Tensor, target: str) -> torch.Tensor:
    red = torch.tensor(COLOURS["red"], dtype=torch.float32).view(1, 3, 1, 1) / 255
    return -((crops - red) ** 2).sum(1).mean((1, 2))


@pytest.mark.parametrize("start", [0, 1, 2, 3])
def test_clip_agent_with_stubbed_scorer_succeeds_in_five_steps(toy_episodes, start):
    from scanpath.models.humanoid360.clip_agent import ClipSearchAgent

    env = Humanoid360Env(toy_episodes, out_hw=(72, 128), max_steps=10)
    agent = ClipSearchAgent(scorer=red_scorer)
    res = run_episodes(agent, env, [toy_episodes[start]])[0]
    assert res["success"] and res["steps"] == 5, res


def test_clip_agent_with_tiny_random_open_clip_runs(tmp_path, toy_episodes):
    import open_clip

    from scanpath.models.humanoid360.clip_agent import ClipSearchAgent, target_from_instruction

    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (tmp_path / "scanpath-tiny-clip.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / "scanpath-tiny-clip.json")
    env = Humanoid360Env(toy_episodes, out_hw=(72, 128), max_steps=10)
    res = run_episodes(ClipSearchAgent("scanpath-tiny-clip", pretrained=None), env, toy_episodes[:1])[0]
    assert res["steps"] == 5 and res["submitted"]
    assert target_from_instruction("find the red cube") == "red cube"


@pytest.mark.slow
def test_clip_agent_with_random_vit_b32_runs(toy_episodes):
    from scanpath.models.humanoid360.clip_agent import ClipSearchAgent

    env = Humanoid360Env(toy_episodes, out_hw=(72, 128), max_steps=10)
    res = run_episodes(ClipSearchAgent("ViT-B-32", pretrained=None), env, toy_episodes[:1])[0]
    assert res["steps"] == 5 and res["submitted"]


def test_scripted_fake_vlm_succeeds_through_reply_strings(toy_episodes):
    env = Humanoid360Env(toy_episodes, renderer="none", out_hw=(9, 16), max_steps=10)
    res = run_episodes(ScriptedVLM(90, 0), env, toy_episodes)
    assert all(r["success"] and r["invalid"] == 0 for r in res)
    assert [r["steps"] for r in res] == [2, 1, 2, 3]  # 0→90; at 90; 180→90; 270→(−90 twice) 90


# ------------------------------------------------------------------ runner / baselines (§4)
def test_runner_summary_histogram_and_outputs(tmp_path, toy_episodes):
    class Model:
        display_name = "scripted"

        def agent(self):
            return ScriptedVLM(90, 0)

    out = run_success(Model(), tmp_path, episodes=toy_episodes, resolution=36, progress=False,
                      renderer="none")
    s = out["summary"]
    assert s["scripted"]["HOS"]["success"] == 100.0 and s["scripted"]["HOS"]["levels"] == {"easy": 100.0, "hard": 100.0}
    assert s["scripted"]["HOS"]["steps_to_success_hist"] == [0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0]
    assert {"random submit", "turn in place"} <= set(s)
    for f in ("success.json", "success.md", "episodes.jsonl", "figures/steps_to_success.png"):
        assert (tmp_path / f).stat().st_size > 0
    lines = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["headings"][-1] == [90, 0]


def test_baselines_and_truncated_failures_not_in_histogram(toy_episodes):
    env = Humanoid360Env(toy_episodes * 25, renderer="none", out_hw=(9, 16), max_steps=10)
    rnd = summarise(run_episodes(RandomSubmitAgent(0), env, toy_episodes * 25))["HOS"]
    assert 5 <= rnd["success"] <= 35 and rnd["mean_steps"] == 1.0  # window 60° of 360 → ≈ 17 %

    class Spinner:
        def act(self, obs):
            return Rotate(36, 0)

    spin = summarise(run_episodes(Spinner(), env, toy_episodes))["HOS"]
    assert spin["success"] == 0 and spin["submit_rate"] == 0 and sum(spin["steps_to_success_hist"]) == 0
    tip = summarise(run_episodes(TurnInPlaceAgent(seed=0), env, toy_episodes * 25))["HOS"]
    assert tip["submit_rate"] == 100.0 and 0 < tip["success"] < 60

"""Qwen2.5-VL adapter with a tiny random config (docs/humanoid360.md §2.3 item 3, §7 item 14). Needs transformers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the VLM adapter needs the optional `vlm` extra (transformers)")

from scanpath.envs.actions import Invalid, Rotate, Submit, parse_reply  # noqa: E402
from scanpath.envs.humanoid360 import Humanoid360Env  # noqa: E402
from scanpath.evaluation.protocols.success360 import run_episodes  # noqa: E402
from scanpath.models.humanoid360.vlm import QwenVLPolicy, tiny_qwen_vl  # noqa: E402
from scanpath.stimuli.panoramas import generate_scene, scene_episodes  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return tiny_qwen_vl(0)


def obs(yaw=0, pitch=0, hw=(56, 112)):
    rng = np.random.default_rng(yaw)
    return {"image": rng.integers(0, 255, (*hw, 3), dtype=np.uint8), "yaw": yaw, "pitch": pitch,
            "instruction": "find the red cube"}


def test_tiny_config_gives_eight_image_tokens_for_112x56(tiny):
    model, tok, ip = tiny
    agent = QwenVLPolicy(model, tok, ip, max_new_tokens=4)
    agent.messages.append({"role": "user", "image": obs()["image"], "text": "look"})
    inputs = agent.build_inputs()
    n_pad = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert n_pad == 8 and inputs["image_grid_thw"].tolist() == [[1, 4, 8]]
    assert model.config.text_config.hidden_size == 64 and model.config.vision_config.depth == 2
    for t in ("<think>", "</think>", "<answer>", "</answer>", "<|vision_start|>"):
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1, t


def test_generate_runs_and_reply_goes_through_the_parser(tiny):
    model, tok, ip = tiny
    agent = QwenVLPolicy(model, tok, ip, max_new_tokens=12, greedy=True)
    reply = agent.act(obs())
    assert isinstance(reply, str) and isinstance(parse_reply(reply), (Rotate, Submit, Invalid))
    assert agent.act(obs()) == reply  # greedy decoding is deterministic for the same context
    sampled = QwenVLPolicy(model, tok, ip, max_new_tokens=6, greedy=False)
    assert isinstance(sampled.act(obs()), str)


def test_context_window_keeps_last_2win_minus_1_messages(tiny):
    model, tok, ip = tiny
    agent = QwenVLPolicy(model, tok, ip, max_new_tokens=2, window=2)
    for k in range(4):
        agent.act(obs(yaw=10 * k))
    assert len(agent.messages) == 8
    agent.messages.append({"role": "user", "image": obs()["image"], "text": "next"})  # as act() does
    inputs = agent.build_inputs()
    text = tok.decode(inputs["input_ids"][0])
    assert "(30,0)" in text and "(20,0)" not in text  # only the newest user/assistant/user turns
    assert inputs["image_grid_thw"].shape[0] == 2  # 3 messages = user, assistant, user → 2 images
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 16


def test_vlm_runs_episodes_in_env(tiny):
    model, tok, ip = tiny
    eps = scene_episodes(generate_scene(0, preset="toy", size=(256, 128)))[:1]
    env = Humanoid360Env(eps, out_hw=(56, 112), max_steps=3)
    res = run_episodes(QwenVLPolicy(model, tok, ip, max_new_tokens=8), env, eps)[0]
    assert 1 <= res["steps"] <= 3  # a random model mostly emits invalid replies; each costs a step

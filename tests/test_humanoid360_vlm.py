"""Qwen2.5-VL adapter with a tiny random config (docs/humanoid360.md §2.3 item 3, §7 item 14). Needs transformers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the VLM adapter needs the optional `vlm` extra (transformers)")

from scanpath.envs.actions import Invalid, Rotate, Submit, parse_reply  # noqa: E402
from scanpath.envs.humanoid360 import Humanoid360Env  # noqa: E402
from scanpath.evaluation.protocols.success360 import run_episodes  # noqa: E402
from scanpath.io.episodes import Episode  # noqa: E402
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
    agent.reset()
    assert agent.act(obs()) == reply  # greedy decoding is deterministic for the same context
    sampled = QwenVLPolicy(model, tok, ip, max_new_tokens=6, greedy=False)
    assert isinstance(sampled.act(obs()), str)


def test_context_window_keeps_last_2win_minus_1_messages(tiny):
    model, tok, ip = tiny
    agent = QwenVLPolicy(model, tok, ip, max_new_tokens=2, window=2)
    for k in range(4):
        agent.act({**obs(yaw=10 * k), "instruction": f"find item {k}"})
    assert len(agent.messages) == 8
    agent.messages.append({"role": "user", "image": obs()["image"], "text": "next"})  # as act() does
    inputs = agent.build_inputs()
    text = tok.decode(inputs["input_ids"][0])
    assert "item 3" in text and "item 2" not in text  # only the newest user/assistant/user turns
    assert inputs["image_grid_thw"].shape[0] == 2  # 3 messages = user, assistant, user → 2 images
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 16


def test_vlm_runs_episodes_in_env(tiny):
    model, tok, ip = tiny
    eps = scene_episodes(generate_scene(0, preset="toy", size=(256, 128)))[:1]
    env = Humanoid360Env(eps, out_hw=(56, 112), max_steps=3)
    res = run_episodes(QwenVLPolicy(model, tok, ip, max_new_tokens=8), env, eps)[0]
    assert 1 <= res["steps"] <= 3  # a random model mostly emits invalid replies; each costs a step


# ------------------------------------------------------------------ H* protocol (issue: prompts, generation, parser)
FIXTURE_REPO = Path(__file__).resolve().parent / "fixtures" / "hstar_checkout"


class _Recorder:
    """Stands in for ``model.generate``: records the prompt and the kwargs, replies with a fixed string."""

    def __init__(self, tok, replies):
        self.tok, self.replies, self.prompts, self.kwargs = tok, list(replies), [], []

    def __call__(self, **kw):
        import torch

        ids = kw.pop("input_ids")
        kw.pop("attention_mask", None)
        kw.pop("pixel_values", None)
        kw.pop("image_grid_thw", None)
        self.prompts.append(self.tok.decode(ids[0]))
        self.kwargs.append(kw)
        new = self.tok(self.replies.pop(0), return_tensors="pt", add_special_tokens=False)["input_ids"]
        return torch.cat([ids, new], 1)


def _episode_texts(agent, tok, replies, start_yaw=90):
    """Play one episode in the env with scripted replies; the user texts the VLM saw, per turn."""
    rec = _Recorder(tok, replies)
    agent.model.generate = rec
    eps = [Episode("s", None, "find the red cube", "HOS", (200, 210), (0, 10), start_yaw=start_yaw, level=0)]
    env = Humanoid360Env(eps, renderer="none", out_hw=(56, 112), max_steps=len(replies))
    run_episodes(agent, env, eps)
    return rec, [m["text"] for m in agent.messages if m["role"] == "user"]


def test_first_observation_hides_the_heading_and_invalid_feedback_says_only_not_executed(tiny):
    model, tok, ip = tiny
    agent = QwenVLPolicy(model, tok, ip)
    rec, texts = _episode_texts(agent, tok, ["<think>t</think><answer>rotate(30.5,0)</answer>",
                                             "<think>t</think><answer>rotate(-45,0)</answer>",
                                             "<think>t</think><answer>submit(45,0)</answer>"])
    assert "90" not in texts[0] and "yaw" not in texts[0].split("Instruction")[1]  # start yaw 90 never stated
    assert "Last action is not executed successfully" in texts[1] and "(90" not in texts[1]
    assert "your current direction (yaw,pitch) is (45,0)" in texts[2]
    assert all("find the red cube" in t for t in texts)
    assert "<|vision_start|>" in rec.prompts[0]


def test_upstream_prompt_templates_read_from_a_local_checkout(tiny):
    from scanpath.models.humanoid360.prompts import UpstreamPrompts

    model, tok, ip = tiny
    agent = QwenVLPolicy(model, tok, ip, prompts={"upstream_repo": str(FIXTURE_REPO)})
    assert agent.system_prompt() == ("DUMMY-SYSTEM-OBJ-free_think\nDUMMY-N=1 DUMMY-DESC-free "
                                     "<think>..</think><answer>..</answer> e.g. DUMMY-EX-free")
    agent.task = "HPS"
    assert agent.system_prompt().startswith("DUMMY-SYSTEM-NAV-free_think")
    agent.task = "HOS"
    rec, texts = _episode_texts(agent, tok, ["<think>t</think><answer>rotate(-45,0)</answer>",
                                             "nonsense",
                                             "<think>t</think><answer>submit(45,0)</answer>"])
    assert texts[0] == ("DUMMY-FIRST[<image>] task=find the red cube\nDUMMY-N=1 DUMMY-DESC-free "
                        "<think>..</think><answer>..</answer>")
    assert texts[1].startswith("DUMMY-TURN valid=['rotate(-45,0)'] feedback=Last action executed successfully, your "
                               "current direction (yaw,pitch) is (45,0) done=False [<image>]")
    assert texts[2].startswith("DUMMY-TURN valid=[] feedback=Last action is not executed successfully. done=False")
    first = rec.prompts[0]
    assert "DUMMY-FIRST[<|vision_start|><|image_pad|>" in first and "<image>" not in first  # view where the template puts it
    assert "DUMMY-SYSTEM-OBJ" in first
    with pytest.raises(FileNotFoundError, match="vagen/env/hstar/prompt.py"):
        UpstreamPrompts(FIXTURE_REPO / "nope")
    with pytest.raises(KeyError, match="grounding"):  # the fixture has no grounding format
        QwenVLPolicy(model, tok, ip, prompts={"upstream_repo": str(FIXTURE_REPO), "format": "grounding"}).system_prompt()


def test_upstream_prompt_file_missing_a_template(tmp_path):
    from scanpath.models.humanoid360.prompts import UpstreamPrompts

    bad = tmp_path / "prompt.py"
    bad.write_text("def system_prompt(**kw):\n    return 'x'\n")
    with pytest.raises(AttributeError, match="init_observation_template, action_template, format_prompt"):
        UpstreamPrompts(bad)


def test_no_think_and_grounding_formats_in_our_wording(tiny):
    from scanpath.envs.actions import Reply, parse_reply_full

    model, tok, ip = tiny
    for fmt, reply in (("no_think", "<answer>rotate(10,0)</answer>"),
                       ("grounding", "<think><observation>o</observation><reasoning>r</reasoning></think>"
                                     "<answer>rotate(10,0)</answer>")):
        agent = QwenVLPolicy(model, tok, ip, prompts={"format": fmt})
        assert fmt != "no_think" or ("<answer>one action</answer>, with no other text" in agent.system_prompt())
        assert fmt != "grounding" or "<observation>" in agent.system_prompt()
        agent.model.generate = _Recorder(tok, [reply])
        out = agent.act(obs())
        assert isinstance(out, Reply) and out.format == fmt and not out.strict
        assert parse_reply_full(out, fmt).format_correct and agent.valid_action == ["rotate(10,0)"]
    with pytest.raises(ValueError, match="free_think, no_think, grounding"):
        QwenVLPolicy(model, tok, ip, prompts={"format": "worldmodeling"})


def test_generation_is_greedy_with_1024_new_tokens_and_the_parser_flag(tiny):
    model, tok, ip = tiny
    agent = QwenVLPolicy(model, tok, ip)
    assert agent.max_new_tokens == 1024 and agent.greedy and agent.temperature == 0.0
    assert agent.generation_kwargs() == {"max_new_tokens": 1024, "do_sample": False}
    rl = QwenVLPolicy(model, tok, ip, greedy=False, temperature=0.7)
    assert rl.generation_kwargs() == {"max_new_tokens": 1024, "do_sample": True, "temperature": 0.7, "top_p": 0.95}
    strict = QwenVLPolicy(model, tok, ip, parser="strict")
    strict.model.generate = _Recorder(tok, ["<answer>rotate(10,0)</answer>"])
    out = strict.act(obs())
    assert out.strict and strict.valid_action == []  # paper-era: no <think>, no action
    with pytest.raises(ValueError, match="parser"):
        QwenVLPolicy(model, tok, ip, parser="lenient")


def test_vlm_config_matches_the_upstream_evaluation_protocol():
    """model=humanoid360_vlm data=hstar: greedy, 1024 new tokens, HEAD parser, our prompts, 1080-px views."""
    from conftest import compose_config

    from scanpath.models.humanoid360.agents import preferred_resolution

    cfg = compose_config("evaluate", ["model=humanoid360_vlm", "data=hstar", "data.root=/nowhere"])
    m = cfg.model
    assert m.max_new_tokens == 1024 and m.temperature == 0.0 and m.greedy is True
    assert m.parser == "head" and m.prompts.upstream_repo is None and m.prompts.format == "free_think"
    assert cfg.protocol._target_.endswith("Success360Protocol") and preferred_resolution(m, cfg.protocol.resolution) == 1080
    assert preferred_resolution(object(), 720) == 720  # models without a preference keep the protocol's

"""Humanoid360Env rules: heading arithmetic, windows (edges, seam, poles), rewards, quirks, parser."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scanpath.envs import ENV_ID, Episode, Invalid, Rotate, Submit, parse_reply
from scanpath.envs.humanoid360 import FEEDBACK_FAIL, FEEDBACK_OK, Humanoid360Env
from scanpath.envs.windows import HOS, HPS, distance_reward, judge, widen_windows


def ep(yaw=(200, 210), pitch=(0, 10), task="HOS", start=0, level=0):
    return Episode("s", None, "find it", task, yaw, pitch if task == "HOS" else None, start_yaw=start, level=level)


def make(episodes, **kw):
    return Humanoid360Env(episodes, renderer="none", out_hw=(9, 16), **kw)


def windows(yaw, pitch, task=HOS):
    t = lambda v: torch.tensor([float(v)])  # noqa: E731
    return [float(x[0]) for x in widen_windows(t(yaw[0]), t(yaw[1]), t(pitch[0]), t(pitch[1]), torch.tensor([task]))]


# ------------------------------------------------------------------ parser (§7.9)
def test_parser_valid_and_invalid():
    assert parse_reply("<think>a</think><answer>rotate(-45,0)</answer>") == Rotate(-45, 0)
    assert parse_reply("<think>a</think><answer>submit(285,-5)</answer>") == Submit(285, -5)
    assert parse_reply("<think>a</think><answer>rotate(10,0)|submit(1,2)</answer>") == Rotate(10, 0)
    for bad in [
        "<answer>rotate(10,0)</answer>",  # no think
        "<think>a</think><answer>rotate(10,0)</answer> extra",  # trailing text
        "<think>a</think><answer>rotate(30.5,0)</answer>",  # float
        "<think>a</think><answer>zoom(in)</answer>",  # Q4
        "rotate(10,0)",
    ]:
        assert isinstance(parse_reply(bad, strict=True), Invalid), bad  # paper-era strict parser


def test_head_parser_executes_any_single_action_format_only_decides_the_reward():
    """Upstream HEAD parse_freethink: the answer is extracted without <think> or with text around it, and
    executed; format_correct (strict match) only decides the format reward. Invalid actions stay invalid."""
    from scanpath.envs.actions import Reply, parse_reply_full

    assert parse_reply_full("<answer>rotate(10,0)</answer>") == (pr := parse_reply_full("<answer>rotate(10,0)</answer>"))
    assert pr.action == Rotate(10, 0) and not pr.format_correct
    assert parse_reply_full("<think>a</think><answer>rotate(10,0)</answer> extra").action == Rotate(10, 0)
    assert parse_reply_full("<think>a</think>\n<answer>submit(3,4)</answer>").format_correct
    assert parse_reply_full("I think <answer> submit(3,4) | rotate(1,1)</answer>").action == Submit(3, 4)
    for bad in ("<think>a</think><answer>rotate(30.5,0)</answer>", "<answer>zoom(in)</answer>", "rotate(10,0)",
                "<think>a</think><answer> | </answer>"):
        assert isinstance(parse_reply(bad), Invalid), bad
    # no_think is strict in both modes (upstream parse_no_think); grounding extracts the full structure
    assert parse_reply("<answer>rotate(5,0)</answer>", "no_think") == Rotate(5, 0)
    assert isinstance(parse_reply("x <answer>rotate(5,0)</answer>", "no_think"), Invalid)
    g = "<think><observation>o</observation><reasoning>r</reasoning></think><answer>rotate(7,1)</answer>"
    assert parse_reply_full(g, "grounding") == (gr := parse_reply_full(g, "grounding")) and gr.format_correct
    assert gr.action == Rotate(7, 1)
    assert parse_reply_full("pre " + g, "grounding").action == Rotate(7, 1)
    assert isinstance(parse_reply("pre " + g, "grounding", strict=True), Invalid)
    assert isinstance(parse_reply("<think>t</think><answer>rotate(7,1)</answer>", "grounding"), Invalid)
    # in the env: a HEAD-parsed action is executed, but the episode loses the format reward
    env = make([ep(yaw=(80, 100), pitch=(-10, 10))])
    env.reset(options={"episode": 0})
    obs, r, *_ , info = env.step("<answer>rotate(90,0)</answer>")
    assert int(obs["yaw"]) == 90 and info["valid"] and not info["format_ok"]
    assert info["feedback"] == FEEDBACK_OK.format(yaw=90, pitch=0)
    assert env.step("<think>t</think><answer>submit(90,0)</answer>")[1] == 0.5  # success, no format reward
    strict = make([ep(yaw=(80, 100), pitch=(-10, 10))], strict_parse=True)
    strict.reset(options={"episode": 0})
    obs, *_, info = strict.step("<answer>rotate(90,0)</answer>")
    assert int(obs["yaw"]) == 0 and not info["valid"] and info["feedback"] == FEEDBACK_FAIL
    env.reset(options={"episode": 0})  # a Reply carries its own format and mode
    obs, *_, info = env.step(Reply("<answer>rotate(90,0)</answer>", format="free_think", strict=True))
    assert not info["valid"]
    obs, *_, info = env.step(Reply("<answer>rotate(90,0)</answer>", format="no_think"))
    assert info["valid"] and int(obs["yaw"]) == 90


def test_reset_does_not_reveal_the_heading():
    env = make([ep(start=90)])
    obs, info = env.reset(options={"episode": 0})
    assert info["feedback"] == "" and "90" not in info["feedback"]


# ------------------------------------------------------------------ heading arithmetic (§7.4)
def test_heading_arithmetic_and_feedback_verbatim():
    env = make([ep()])
    env.reset(options={"episode": 0})
    obs, r, term, trunc, info = env.step(Rotate(370, 0))
    assert int(obs["yaw"]) == 10 and r == 0.0 and not term
    assert info["feedback"] == "Last action executed successfully, your current direction (yaw,pitch) is (10,0)"
    obs, *_ = env.step(Rotate(-30, 0))
    assert int(obs["yaw"]) == 340
    obs, *_ = env.step(Rotate(0, 120))
    assert int(obs["pitch"]) == 90
    obs, _, _, _, info = env.step("<think>x</think><answer>rotate(1.5,0)</answer>")
    assert info["feedback"] == FEEDBACK_FAIL == "Last action is not executed successfully."
    assert (int(obs["yaw"]), int(obs["pitch"])) == (340, 90) and info["step"] == 4


# ------------------------------------------------------------------ windows (§7.5, 7.6, edges, seam, poles)
def test_window_widening_across_seam_and_q1_quirk():
    assert windows((350, 10), (0, 10)) == [330.0, 30.0, -15.0, 25.0]
    for quirk, expect60 in ((False, False), (True, True)):
        env = make([ep(yaw=(350, 10), pitch=(0, 10))], quirk_wrap_skips_pitch=quirk)
        env.reset(options={"episode": 0})
        assert env.step(Submit(0, 20))[4]["success"]
        env.reset(options={"episode": 0})
        assert env.step(Submit(0, 60))[4]["success"] is expect60


def test_window_edges_seam_and_poles():
    w = widen_windows(torch.tensor([350.0]), torch.tensor([10.0]), torch.tensor([0.0]), torch.tensor([10.0]),
                      torch.tensor([HOS]))
    yaws = torch.tensor([330, 329, 30, 31, 0, 359, 360, 720 + 15, -20], dtype=torch.float64)
    ok = judge(yaws, torch.zeros(len(yaws)), w)
    assert ok.tolist() == [True, False, True, False, True, True, True, True, True]
    # pitch edges are inclusive and not clamped: 25 in, 25.5 out
    assert judge(torch.tensor([0.0, 0.0]), torch.tensor([25.0, 25.5]), w).tolist() == [True, False]
    # windows near the poles are clamped to ±90
    assert windows((0, 20), (80, 88)) == [340.0, 40.0, 64.0, 90.0]
    w2 = widen_windows(torch.tensor([0.0]), torch.tensor([20.0]), torch.tensor([80.0]), torch.tensor([88.0]),
                       torch.tensor([HOS]))
    assert judge(torch.tensor([5.0, 5.0, 5.0]), torch.tensor([90.0, 91.0, 63.0]), w2).tolist() == [True, False, False]
    # HPS: yaw only, tolerance 10, pitch window [-90, 90]
    assert windows((100, 104), (0, 0), HPS) == [92.0, 112.0, -90.0, 90.0]


def test_no_tolerance_carry_over_after_hps():
    env = make([ep(yaw=(100, 104), task="HPS"), ep(yaw=(200, 210), pitch=(0, 10))])
    env.reset(options={"episode": 0})
    env.step(Submit(102, 0))
    env.reset(options={"episode": 1})
    assert [float(x[0]) for x in env.windows] == [175.0, 235.0, -15.0, 25.0]
    env.reset(options={"episode": 1})
    assert env.step(Submit(176, 0))[4]["success"]


# ------------------------------------------------------------------ rewards (§7.7) and truncation (§7.8)
@pytest.mark.parametrize(
    "actions, quirk, total, success",
    [
        ([Submit(205, 5)], False, 1.0, True),
        ([Submit(205, 5)], True, 0.5, True),
        (["<think>a</think><answer>zoom(in)</answer>", Submit(205, 5)], False, 0.5, True),
        ([Submit(20, 5)], False, 0.5, False),
    ],
)
def test_reward_totals(actions, quirk, total, success):
    env = make([ep()], quirk_zero_format_reward=quirk)
    env.reset(options={"episode": 0})
    rewards = [env.step(a)[1] for a in actions]
    assert sum(rewards) == pytest.approx(total)
    assert env.success is success


def test_no_submit_truncates_as_failure():
    env = make([ep()], max_steps=10)
    env.reset(options={"episode": 0})
    for _ in range(10):
        _, r, term, trunc, info = env.step(Rotate(10, 0))
        assert r == 0.0 and not term
    assert trunc and not info["success"]
    with pytest.raises(RuntimeError):
        env.step(Rotate(1, 0))


def test_distance_shaping_maximal_at_window_centre():
    w = widen_windows(torch.tensor([0.0]), torch.tensor([60.0]), torch.tensor([-90.0]), torch.tensor([90.0]),
                      torch.tensor([HPS]))
    r = distance_reward(torch.tensor([30.0, 0.0, 180.0]), torch.tensor([0.0, 0.0, 0.0]), w)
    assert r[0] > r[2] and r[0] == pytest.approx(r[1])  # inside the window the edge sum is constant
    env = make([ep(yaw=(0, 60), task="HPS")], distance_reward_weight=1.0)
    env.reset(options={"episode": 0})
    assert env.step(Submit(30, 0))[1] == pytest.approx(1.0 + float(r[0]))


def test_gym_registration_and_seeded_episode_choice():
    import gymnasium as gym

    env = gym.make(ENV_ID, episodes=[ep(start=0), ep(start=90), ep(start=180)], renderer="none", out_hw=(9, 16))
    obs, info = env.reset(seed=4)  # upstream: episode = seed mod N
    assert int(obs["yaw"]) == 90 and obs["instruction"] == "find it"
    assert info["feedback"] == ""  # the first observation does not reveal the heading
    assert env.observation_space["image"].shape == (9, 16, 3)


def test_batched_twin_matches_single_env():
    from scanpath.envs.batched import BatchedHumanoid360Env

    rng = np.random.default_rng(0)
    eps = [ep(yaw=tuple(rng.integers(0, 360, 2)), pitch=(-5, 12), task="HOS" if k % 2 else "HPS",
              start=int(rng.integers(0, 360))) for k in range(24)]
    plan = [(int(rng.integers(0, 3)), rng.integers(-200, 200, 2)) for _ in range(24 * 5)]
    benv = BatchedHumanoid360Env(torch.zeros(1, 3, 8, 16, dtype=torch.uint8), out_hw=(9, 16), max_steps=5, render=False)
    arr = np.array([e.window_arrays() for e in eps])
    benv.reset(torch.zeros(24, dtype=torch.long), torch.tensor(arr[:, :2]), torch.tensor(arr[:, 2:]),
               torch.tensor([e.task_code for e in eps]), torch.tensor([e.start_yaw for e in eps]))
    totals_b = torch.zeros(24, dtype=torch.float64)
    for t in range(5):
        kind = torch.tensor([plan[t * 24 + i][0] for i in range(24)])
        ang = torch.tensor(np.stack([plan[t * 24 + i][1] for i in range(24)]))
        _, r, *_ = benv.step(kind, ang)
        totals_b += r
    env = make(eps, max_steps=5)
    for i in range(24):
        env.reset(options={"episode": i})
        total = 0.0
        for t in range(5):
            k, a = plan[t * 24 + i]
            act = [Rotate(int(a[0]), int(a[1])), Submit(int(a[0]), int(a[1])), "garbage"][k]
            _, r, term, trunc, _ = env.step(act)
            total += r
            if term or trunc:
                break
        assert total == pytest.approx(float(totals_b[i])), i
        assert env.success == bool(benv.success[i]) and (env.yaw, env.pitch) == (int(benv.yaw[i]), int(benv.pitch[i]))


def test_gymnasium_env_checker_passes():
    import warnings

    from gymnasium.utils.env_checker import check_env

    from scanpath.stimuli.panoramas import generate_scene, scene_episodes

    env = Humanoid360Env(scene_episodes(generate_scene(0, preset="toy", size=(128, 64))), out_hw=(18, 32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)
    assert not [w for w in caught if "Casting" in str(w.message) or "not within" in str(w.message)]


def test_submit_keeps_head_and_feedback_but_scanpath_ends_at_submitted_heading():
    env = make([ep()])
    env.reset(options={"episode": 0})
    env.step(Rotate(90, 0))
    obs, _, term, _, info = env.step(Submit(200, 5))
    assert term and (int(obs["yaw"]), int(obs["pitch"])) == (90, 0)  # upstream: the head does not move
    assert info["feedback"] == FEEDBACK_OK.format(yaw=90, pitch=0)
    assert info["headings"] == [(0, 0), (90, 0), (200, 5)]

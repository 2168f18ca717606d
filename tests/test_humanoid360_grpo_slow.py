"""GRPO learning test (slow, CPU; docs/humanoid360.md §7 item 13): on the `toy` task greedy success reaches ≥ 0.8
within 300 optimiser updates and exceeds the initial policy's. Prints before/after, episodes, time."""

from __future__ import annotations

import copy
import time

import pytest
import torch

from scanpath.envs.batched import BatchedHumanoid360Env, panorama_stack
from scanpath.models.humanoid360.grpo import evaluate_policy, grpo_update, reset_arguments, rollout
from scanpath.models.humanoid360.torch_model import HeadRotationPolicy
from scanpath.stimuli.panoramas import generate_episodes


@pytest.mark.slow
def test_grpo_learns_toy_task():
    torch.manual_seed(0)
    eps = generate_episodes(8, seed=0, preset="toy", size=(512, 256))  # 8 backgrounds × 4 start yaws
    stack, pidx = panorama_stack(eps)
    env = BatchedHumanoid360Env(stack, out_hw=(72, 128), max_steps=5, success_reward=1.0, format_reward=0.0)
    policy = HeadRotationPolicy()
    ref = copy.deepcopy(policy).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-4)
    gen = torch.Generator().manual_seed(0)
    before = evaluate_policy(policy, env, eps, pidx)
    t0, updates, episodes, after, curve = time.time(), 0, 0, before, []
    while updates < 300:
        sel = torch.randint(len(eps), (32,), generator=gen)
        args, instr = reset_arguments([eps[i] for i in sel], pidx[sel], 8)
        ro = rollout(policy, env, args, instr, generator=gen)
        updates += grpo_update(policy, ref, opt, ro, 8, 8, generator=gen)["updates"]
        episodes += len(ro.reward)
        if updates % 20 == 0:
            after = evaluate_policy(policy, env, eps, pidx)
            curve.append((updates, round(after, 3), round(float(ro.success.float().mean()), 3)))
            if after >= 0.8:
                break
    wall = time.time() - t0
    print(f"\nGRPO toy: greedy success before {before:.3f} after {after:.3f}; {updates} updates, "
          f"{episodes} training episodes, {wall:.0f} s wall\n(updates, greedy success, sampled train success): {curve}")
    assert after >= 0.8 and after > before

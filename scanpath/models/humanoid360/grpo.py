"""Group-relative policy optimisation (GRPO) for the head-rotation policy on the batched env.

Advantage A = (R − mean_G)/(std_G + 1e-6) with the unbiased std (as verl); loss = PPO-clip
(ε = 0.2) minus β·KL, KL by the k3 estimator exp(r) − r − 1 with r = log π_ref − log π (β = 0.01,
upstream ``kl_coef``), averaged over valid steps. Reward R = 1[success] + λ·r_dist (λ = 0 default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from scanpath.envs.batched import BatchedHumanoid360Env
from scanpath.models.humanoid360.torch_model import (
    N_ACTIONS,
    HeadRotationPolicy,
    decode_actions,
    encode_instruction,
)


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-group normalised advantages of ``rewards [n_groups, G]`` (unbiased std)."""
    r = rewards.double()
    return ((r - r.mean(dim=1, keepdim=True)) / (r.std(dim=1, keepdim=True, unbiased=True) + eps)).to(rewards.dtype)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k3 estimator of KL(π‖π_ref) per sample: exp(r) − r − 1, r = log π_ref − log π (≥ 0)."""
    r = ref_logp - logp
    return torch.exp(r) - r - 1


def ppo_clip_objective(logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip: float = 0.2) -> torch.Tensor:
    """Per-sample clipped surrogate min(ρA, clip(ρ, 1−ε, 1+ε)A)."""
    ratio = torch.exp(logp - old_logp)
    return torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)


@dataclasses.dataclass
class Rollout:
    """Stored rollout of B episodes over T steps (step tensors are ``[T, B, ...]``)."""

    images: torch.Tensor  # uint8 [T, B, 3, h, w]
    yaw: torch.Tensor
    pitch: torch.Tensor
    prev: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    valid: torch.Tensor  # bool [T, B]: the episode was running at this step
    instr: torch.Tensor  # [B, L]
    reward: torch.Tensor  # [B] episode return
    success: torch.Tensor  # [B] bool
    steps: torch.Tensor  # [B]
    headings: torch.Tensor  # [T + 1, B, 2]


@torch.no_grad()
def rollout(policy: HeadRotationPolicy, env: BatchedHumanoid360Env, reset_args: Sequence[torch.Tensor],
            instructions: Sequence[str], greedy: bool = False, temperature: float = 1.0,
            generator: torch.Generator | None = None) -> Rollout:
    """Run B episodes to the end (submit or ``max_steps``) with the policy; sampled or greedy."""
    obs = env.reset(*reset_args)
    b, dev = env.num_envs, env.device
    instr = encode_instruction(instructions, policy.vocab).to(dev)
    h = policy.initial_state(b, dev)
    prev = torch.full((b,), N_ACTIONS, dtype=torch.long, device=dev)
    rec: dict[str, list[torch.Tensor]] = {k: [] for k in ("images", "yaw", "pitch", "prev", "actions", "logp", "valid")}
    headings = [torch.stack([obs["yaw"], obs["pitch"]], 1)]
    total = torch.zeros(b, dtype=torch.float64, device=dev)
    for _ in range(env.max_steps):
        active = ~env.done
        if not active.any():
            break
        logits, h = policy.step(obs["image"], obs["yaw"], obs["pitch"], instr, prev, h)
        dist = torch.distributions.Categorical(logits=logits / temperature)
        a = logits.argmax(1) if greedy else torch.multinomial(dist.probs, 1, generator=generator)[:, 0]
        for k, v in (("images", obs["image"].clone()), ("yaw", obs["yaw"]), ("pitch", obs["pitch"]), ("prev", prev),
                     ("actions", a), ("logp", dist.log_prob(a)), ("valid", active)):
            rec[k].append(v)
        kind, ang = decode_actions(a, obs["yaw"], obs["pitch"])
        obs, r, _, _, info = env.step(kind, ang)
        total += r
        prev = a
        heading = torch.stack([obs["yaw"], obs["pitch"]], 1)
        headings.append(torch.where(info["submitted"][:, None], info["submit_heading"], heading))
    st = {k: torch.stack(v) for k, v in rec.items()}
    return Rollout(st["images"], st["yaw"], st["pitch"], st["prev"], st["actions"], st["logp"], st["valid"], instr,
                   total.float(), env.success.clone(), env.steps.clone(), torch.stack(headings))


def sequence_logp(policy: HeadRotationPolicy, ro: Rollout, idx: torch.Tensor) -> torch.Tensor:
    """Log-probs ``[T, len(idx)]`` of the stored actions of episodes ``idx`` under ``policy``."""
    h = policy.initial_state(len(idx), ro.instr.device)
    out = []
    for t in range(ro.actions.shape[0]):
        logits, h = policy.step(ro.images[t, idx], ro.yaw[t, idx], ro.pitch[t, idx], ro.instr[idx], ro.prev[t, idx], h)
        out.append(torch.log_softmax(logits, -1).gather(1, ro.actions[t, idx, None])[:, 0])
    return torch.stack(out)


def grpo_update(policy: HeadRotationPolicy, ref: HeadRotationPolicy, optimizer: torch.optim.Optimizer, ro: Rollout,
                group_size: int, groups_per_minibatch: int = 8, clip: float = 0.2, kl_coef: float = 0.01,
                epochs: int = 1, generator: torch.Generator | None = None) -> dict[str, float]:
    """PPO-clip + k3 KL updates over mini-batches of whole groups. Returns mean loss / KL / clip frac."""
    b = ro.reward.shape[0]
    n_groups = b // group_size
    adv = group_advantages(ro.reward.view(n_groups, group_size)).view(b)
    stats = {"loss": 0.0, "kl": 0.0, "updates": 0}
    for _ in range(epochs):
        order = torch.randperm(n_groups, generator=generator)
        for s in range(0, n_groups, groups_per_minibatch):
            g = order[s : s + groups_per_minibatch]
            idx = (g[:, None] * group_size + torch.arange(group_size)[None]).reshape(-1).to(ro.reward.device)
            valid = ro.valid[:, idx].float()
            logp = sequence_logp(policy, ro, idx)
            with torch.no_grad():
                ref_logp = sequence_logp(ref, ro, idx)
            surr = ppo_clip_objective(logp, ro.logp[:, idx], adv[idx][None].expand_as(logp), clip)
            kl = k3_kl(logp, ref_logp)
            loss = -((surr - kl_coef * kl) * valid).sum() / valid.sum().clamp(min=1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
            stats["loss"] += float(loss.detach())
            stats["kl"] += float((kl.detach() * valid).sum() / valid.sum().clamp(min=1))
            stats["updates"] += 1
    n = max(stats["updates"], 1)
    return {"loss": stats["loss"] / n, "kl": stats["kl"] / n, "updates": stats["updates"]}


def reset_arguments(episodes: Sequence, pano_index: torch.Tensor, repeat: int = 1) -> tuple[list[torch.Tensor], list[str]]:
    """``BatchedHumanoid360Env.reset`` arguments for ``episodes`` each repeated ``repeat`` times (groups)."""
    import numpy as np

    arr = torch.tensor(np.array([e.window_arrays() for e in episodes]), dtype=torch.float64)
    rep = lambda t: t.repeat_interleave(repeat, 0)  # noqa: E731
    args = [rep(pano_index), rep(arr[:, :2]), rep(arr[:, 2:]),
            rep(torch.tensor([e.task_code for e in episodes])), rep(torch.tensor([e.start_yaw for e in episodes]))]
    return args, [e.instruction for e in episodes for _ in range(repeat)]


def evaluate_policy(policy: HeadRotationPolicy, env: BatchedHumanoid360Env, episodes: Sequence,
                    pano_index: torch.Tensor) -> float:
    """Greedy success rate of ``policy`` on ``episodes`` (one run each)."""
    args, instr = reset_arguments(episodes, pano_index)
    was = policy.training
    policy.eval()
    ro = rollout(policy, env, args, instr, greedy=True)
    policy.train(was)
    return float(ro.success.float().mean())

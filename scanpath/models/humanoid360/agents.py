"""The one agent interface of the 360° task, ``reset()`` + ``act(observation) -> action``, and baselines.

An observation is the environment's dict (``image`` HWC uint8, ``yaw``, ``pitch``, ``instruction``);
an action is anything :func:`scanpath.envs.actions.to_action` accepts (``Rotate``/``Submit`` or a
VLM reply string).

Baselines (H* protocol, docs/humanoid360.md §4): ``RandomSubmitAgent`` submits a uniformly random yaw at pitch 0
on its first step; ``TurnInPlaceAgent`` turns right by ``step_deg`` each step without ever looking
up or down and submits its heading after a seeded random number of turns (so it samples the
horizon the way a head turning in place would). ``ScriptedVLM`` is a fake VLM that knows the
target window and replies in the ``<think>/<answer>`` format (tests the string path end to end).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scanpath.envs.actions import Rotate, Submit, format_reply


def preferred_resolution(model: Any, default: int) -> int:
    """The view height (``resolution``, views are (res//9·16) x res) to evaluate ``model`` at: the
    model's own ``resolution`` when it sets one (the VLM: 1080, as upstream's evaluation configs), else
    ``default`` (the runner's). Works on the instantiated model and on its config block."""
    try:
        value = getattr(model, "resolution", None)
    except Exception:  # e.g. a struct DictConfig without the key
        value = None
    return int(default) if value is None else int(value)


class HeadAgent:
    """Base class: ``reset(info)`` at episode start, ``act(observation)`` each step."""

    display_name = "agent"

    def reset(self, info: dict[str, Any] | None = None) -> None:  # noqa: B027 - optional hook
        pass

    def act(self, observation: dict[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class RandomSubmitAgent(HeadAgent):
    display_name = "random submit"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: dict[str, Any]) -> Submit:
        return Submit(int(self.rng.integers(0, 360)), 0)


class TurnInPlaceAgent(HeadAgent):
    display_name = "turn in place"

    def __init__(self, step_deg: int = 36, max_turns: int = 9, seed: int = 0) -> None:
        self.step_deg, self.max_turns = int(step_deg), int(max_turns)
        self.rng = np.random.default_rng(seed)
        self.turns_left = 0

    def reset(self, info: dict[str, Any] | None = None) -> None:
        self.turns_left = int(self.rng.integers(0, self.max_turns + 1))

    def act(self, observation: dict[str, Any]) -> Rotate | Submit:
        if self.turns_left > 0:
            self.turns_left -= 1
            return Rotate(self.step_deg, 0)
        return Submit(int(observation["yaw"]), int(observation["pitch"]))


class ScriptedVLM(HeadAgent):
    """Fake VLM for tests: turns towards the known window centre in ≤ 90° steps, then submits."""

    display_name = "scripted VLM"

    def __init__(self, target_yaw: float, target_pitch: float = 0.0) -> None:
        self.target = (float(target_yaw), float(target_pitch))

    def act(self, observation: dict[str, Any]) -> str:
        y, p = int(observation["yaw"]), int(observation["pitch"])
        dy = int(round((self.target[0] - y + 180) % 360 - 180))
        dp = int(round(self.target[1] - p))
        if abs(dy) <= 5 and abs(dp) <= 5:
            return format_reply(Submit(y, p), think="the target is at the green cross")
        return format_reply(Rotate(int(np.clip(dy, -90, 90)), int(np.clip(dp, -30, 30))), think="turning")


class PolicyAgent(HeadAgent):
    """Wraps :class:`~scanpath.models.humanoid360.torch_model.HeadRotationPolicy` (greedy by default)."""

    display_name = "GRPO policy"

    def __init__(self, policy: Any, greedy: bool = True, seed: int = 0) -> None:
        import torch

        self.policy, self.greedy = policy, greedy
        self.gen = torch.Generator().manual_seed(seed)

    def reset(self, info: dict[str, Any] | None = None) -> None:
        import torch

        from scanpath.models.humanoid360.torch_model import N_ACTIONS

        dev = next(self.policy.parameters()).device
        self.h = self.policy.initial_state(1, dev)
        self.prev = torch.tensor([N_ACTIONS], device=dev)

    def act(self, observation: dict[str, Any]) -> Rotate | Submit:
        import torch

        from scanpath.models.humanoid360.torch_model import decode_actions, encode_instruction

        dev = next(self.policy.parameters()).device
        img = torch.as_tensor(np.ascontiguousarray(observation["image"])).permute(2, 0, 1)[None].to(dev)
        yaw = torch.tensor([int(observation["yaw"])], device=dev)
        pitch = torch.tensor([int(observation["pitch"])], device=dev)
        instr = encode_instruction([observation["instruction"]], self.policy.vocab).to(dev)
        with torch.no_grad():
            logits, self.h = self.policy.step(img, yaw, pitch, instr, self.prev, self.h)
        a = logits.argmax(1) if self.greedy else torch.multinomial(torch.softmax(logits, 1), 1, generator=self.gen)[:, 0]
        self.prev = a
        kind, ang = decode_actions(a, yaw, pitch)
        return Submit(int(ang[0, 0]), int(ang[0, 1])) if int(kind[0]) == 1 else Rotate(int(ang[0, 0]), int(ang[0, 1]))

"""Batched torch twin of :class:`~scanpath.envs.humanoid360.Humanoid360Env`.

``BatchedHumanoid360Env`` steps N episodes at once on one device: headings, windows and rewards are
tensors, and every step is one batched render through the core projection (one call per distinct
panorama, each panorama expanded over its episodes). Same rules as the single environment (same
window code in :mod:`scanpath.envs.windows`). Actions are ``kind [N]`` (0 rotate, 1 submit,
2 invalid) and ``angles [N, 2]`` (integers). Finished episodes ignore further actions (reward 0),
which is what GRPO rollouts with ``autoreset_mode=disabled`` need.

``Humanoid360VectorEnv`` exposes it through gymnasium's ``VectorEnv`` API (numpy in/out).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from scanpath.envs.actions import INVALID, ROTATE, SUBMIT
from scanpath.io.episodes import Episode, load_panorama
from scanpath.envs.render import HFOV_DEG, pad_panoramas, render_views
from scanpath.envs.windows import distance_reward, judge, rotate_heading, widen_windows


def panorama_stack(episodes: Sequence[Episode], size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique panoramas of ``episodes`` as a uint8 ``[P, 3, H, W]`` stack and each episode's index.

    Panoramas of other sizes are resized (cv2 INTER_AREA) to ``size`` = (W, H) (default: the first's).
    """
    keys: dict[Any, int] = {}
    imgs: list[np.ndarray] = []
    index = []
    for ep in episodes:
        key = id(ep.panorama) if isinstance(ep.panorama, np.ndarray) else str(ep.panorama)
        if key not in keys:
            img = load_panorama(ep.panorama)
            if size is None:
                size = (img.shape[1], img.shape[0])
            if (img.shape[1], img.shape[0]) != tuple(size):
                img = cv2.resize(img, tuple(size), interpolation=cv2.INTER_AREA)
            keys[key] = len(imgs)
            imgs.append(img)
        index.append(keys[key])
    stack = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
    return stack, torch.tensor(index, dtype=torch.long)


class BatchedHumanoid360Env:
    """N H* episodes stepped together with tensors (see module docstring)."""

    def __init__(
        self,
        panoramas: torch.Tensor,
        *,
        out_hw: tuple[int, int] = (72, 128),
        max_steps: int = 5,
        hfov_deg: float = HFOV_DEG,
        grid: str = "hstar",
        pole: str = "flip",
        crosshair: bool = False,
        success_reward: float = 0.5,
        format_reward: float = 0.5,
        distance_reward_weight: float = 0.0,
        quirk_wrap_skips_pitch: bool = False,
        quirk_zero_format_reward: bool = False,
        device: str | torch.device | None = None,
        render: bool = True,
        render_impl: str = "auto",
    ) -> None:
        self.device = torch.device(device) if device is not None else panoramas.device
        pano = panoramas.to(self.device)
        if render_impl == "auto":  # CPU + uint8: OpenCV renderers (uint8 HWC); else the torch path
            render_impl = "cv2" if self.device.type == "cpu" and pano.dtype == torch.uint8 else "torch"
        if render_impl == "torch" and not pano.is_floating_point():
            pano = pano.float()  # float32 once: grid_sample needs float input (fp16 would halve it on GPU)
        self.pano_hw = tuple(pano.shape[-2:])
        self.render_impl = render_impl
        self.panoramas = pad_panoramas(pano, pole, render_impl)  # prepared once, rendered many times
        self.out_hw = tuple(out_hw)
        self.max_steps = int(max_steps)
        self.hfov_deg, self.grid, self.pole, self.crosshair = float(hfov_deg), grid, pole, crosshair
        self.success_reward, self.format_reward = float(success_reward), float(format_reward)
        self.distance_reward_weight = float(distance_reward_weight)
        self.quirk_wrap_skips_pitch = bool(quirk_wrap_skips_pitch)
        self.quirk_zero_format_reward = bool(quirk_zero_format_reward)
        self.render_enabled = render
        self.num_envs = 0

    def _render(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        if rows is None:
            rows = torch.arange(self.num_envs, device=self.device)
        if not self.render_enabled:
            return self.views
        if len(rows):
            self.views[rows] = render_views(  # index_put also turns channels_last cv2 views into NCHW
                self.panoramas, self.pano_index[rows], self.yaw[rows].double(), self.pitch[rows].double(),
                self.out_hw, hfov_deg=self.hfov_deg, grid=self.grid, pole=self.pole, crosshair=self.crosshair,
                padded=True,
            )
        return self.views

    def observation(self) -> dict[str, torch.Tensor]:
        """``image`` uint8 ``[N, 3, h, w]``, ``yaw``/``pitch`` long ``[N]``, ``step`` long ``[N]``."""
        return {"image": self.views, "yaw": self.yaw.clone(), "pitch": self.pitch.clone(), "step": self.steps.clone()}

    def reset(
        self,
        pano_index: torch.Tensor,
        yaw_window: torch.Tensor,
        pitch_window: torch.Tensor,
        task: torch.Tensor,
        start_yaw: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Start N episodes. Windows are ``[N, 2]`` degrees (HPS pitch ignored), task 0 HOS / 1 HPS."""
        dev = self.device
        n = int(pano_index.shape[0])
        self.num_envs = n
        self.pano_index = pano_index.to(dev, torch.long)
        yw, pw = torch.as_tensor(yaw_window, dtype=torch.float64), torch.as_tensor(pitch_window, dtype=torch.float64)
        self.task = torch.as_tensor(task, dtype=torch.long).to(dev)
        self.windows = tuple(
            t.to(dev) for t in widen_windows(yw[:, 0], yw[:, 1], pw[:, 0], pw[:, 1], self.task.cpu())
        )
        self.yaw = torch.remainder(torch.as_tensor(start_yaw, dtype=torch.long), 360).to(dev)
        self.pitch = torch.zeros(n, dtype=torch.long, device=dev)
        self.steps = torch.zeros(n, dtype=torch.long, device=dev)
        self.done = torch.zeros(n, dtype=torch.bool, device=dev)
        self.success = torch.zeros(n, dtype=torch.bool, device=dev)
        self.submitted = torch.zeros(n, dtype=torch.bool, device=dev)
        self.format_ok = torch.ones(n, dtype=torch.bool, device=dev)
        self.submit_heading = torch.zeros(n, 2, dtype=torch.long, device=dev)
        self.views = torch.zeros((n, 3, *self.out_hw), dtype=torch.uint8, device=dev)
        self._render()
        return self.observation()

    def step(
        self, kind: torch.Tensor, angles: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One step for every still-running episode. Returns obs, reward, terminated, truncated, info."""
        dev = self.device
        kind = torch.as_tensor(kind, dtype=torch.long, device=dev)
        angles = torch.as_tensor(angles, device=dev)
        if angles.is_floating_point():  # upstream accepts integers only
            integral = (angles == angles.round()).all(dim=1)
            kind = torch.where(integral, kind, torch.full_like(kind, INVALID))
        angles = angles.round().long()
        active = ~self.done
        self.steps = self.steps + active.long()
        rot = active & (kind == ROTATE)
        sub = active & (kind == SUBMIT)
        inv = active & ~rot & ~sub
        ny, np_ = rotate_heading(self.yaw, self.pitch, angles[:, 0], angles[:, 1])
        self.format_ok = self.format_ok & ~inv
        ok = judge(angles[:, 0], angles[:, 1], self.windows, self.quirk_wrap_skips_pitch) & sub
        reward = self.success_reward * ok.double()
        if not self.quirk_zero_format_reward:
            reward = reward + self.format_reward * (sub & self.format_ok).double()
        if self.distance_reward_weight:
            reward = reward + self.distance_reward_weight * distance_reward(angles[:, 0], angles[:, 1], self.windows) * sub
        self.yaw = torch.where(rot, ny, self.yaw)  # a submit leaves the head where it is (upstream)
        self.pitch = torch.where(rot, np_, self.pitch)
        self.submit_heading = torch.where(
            sub[:, None], torch.stack([torch.remainder(angles[:, 0], 360), angles[:, 1].clamp(-90, 90)], 1),
            self.submit_heading)
        self.success = self.success | ok
        self.submitted = self.submitted | sub
        terminated = sub
        truncated = active & ~sub & (self.steps >= self.max_steps)
        self.done = self.done | terminated | truncated
        moved = rot.nonzero(as_tuple=True)[0]
        self._render(moved)
        info = {"success": ok, "valid": active & ~inv, "active": active, "submitted": sub,
                "submit_heading": self.submit_heading.clone()}
        return self.observation(), reward, terminated, truncated, info


class Humanoid360VectorEnv(gym.vector.VectorEnv):
    """gymnasium ``VectorEnv`` over :class:`BatchedHumanoid360Env` (autoreset disabled).

    ``reset(seed=s)`` draws ``num_envs`` episodes from the pool with a seeded generator
    (``options={"episodes": [i, …]}`` picks them; ``options={"reset_mask": m}`` resets only rows m).
    Actions: ``{"kind": int [N], "angles": int [N, 2]}``. Observations are numpy: ``image``
    ``[N, h, w, 3]`` uint8, ``yaw``/``pitch`` ``[N]``; instructions are in ``infos["instruction"]``.
    """

    metadata = {"autoreset_mode": AutoresetMode.DISABLED, "render_modes": ["rgb_array"]}

    def __init__(self, episodes: Sequence[Episode], num_envs: int = 8, *, out_hw: tuple[int, int] = (72, 128),
                 max_steps: int = 10, device: str = "cpu", **kwargs: Any) -> None:
        self.episodes = list(episodes)
        self.num_envs = int(num_envs)
        stack, self._pano_of_episode = panorama_stack(self.episodes)
        self.env = BatchedHumanoid360Env(stack, out_hw=out_hw, max_steps=max_steps, device=device, **kwargs)
        h, w = out_hw
        self.single_observation_space = spaces.Dict(
            {"image": spaces.Box(0, 255, (h, w, 3), np.uint8), "yaw": spaces.Box(0, 359, (), np.int64),
             "pitch": spaces.Box(-90, 90, (), np.int64)}
        )
        self.single_action_space = spaces.Dict(
            {"kind": spaces.Discrete(3), "angles": spaces.Box(-720, 720, (2,), np.int64)}
        )
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._rng = np.random.default_rng()
        self.current: list[int] = []

    def _np_obs(self, obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {"image": obs["image"].permute(0, 2, 3, 1).cpu().numpy(), "yaw": obs["yaw"].cpu().numpy(),
                "pitch": obs["pitch"].cpu().numpy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        options = options or {}
        if "episodes" in options:
            chosen = [int(i) for i in options["episodes"]]
        else:
            chosen = self._rng.integers(len(self.episodes), size=self.num_envs).tolist()
        if "reset_mask" in options and self.current:
            mask = np.asarray(options["reset_mask"], bool)
            chosen = [c if m else old for c, m, old in zip(chosen, mask, self.current, strict=True)]
            keep = ~mask
        else:
            keep = None
        if len(chosen) != self.num_envs:
            raise ValueError(f"need {self.num_envs} episodes, got {len(chosen)}")
        old = None
        if keep is not None and keep.any():
            old = {k: getattr(self.env, k).clone() for k in ("yaw", "pitch", "steps", "done", "success", "submitted",
                                                              "format_ok", "submit_heading", "views")}
        eps = [self.episodes[i] for i in chosen]
        self.current = chosen
        arrs = np.array([e.window_arrays() for e in eps])
        obs = self.env.reset(
            self._pano_of_episode[chosen], torch.from_numpy(arrs[:, :2]), torch.from_numpy(arrs[:, 2:]),
            torch.tensor([e.task_code for e in eps]), torch.tensor([e.start_yaw for e in eps]),
        )
        if old is not None:
            k = torch.from_numpy(keep)
            for name, val in old.items():
                getattr(self.env, name)[k] = val[k]
            obs = self.env.observation()
        return self._np_obs(obs), {"instruction": np.array([e.instruction for e in eps], dtype=object)}

    def step(self, actions: dict[str, Any]) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        kind = torch.as_tensor(np.asarray(actions["kind"]))
        angles = torch.as_tensor(np.asarray(actions["angles"]))
        obs, rew, term, trunc, info = self.env.step(kind, angles)
        return (self._np_obs(obs), rew.cpu().numpy(), term.cpu().numpy(), trunc.cpu().numpy(),
                {k: v.cpu().numpy() for k, v in info.items()})

    def render(self) -> np.ndarray:
        return self.env.views.permute(0, 2, 3, 1).cpu().numpy()

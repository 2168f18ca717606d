"""``Humanoid360Env``: the H* head-rotation search task as a gymnasium environment.

An agent sees a perspective view (100° horizontal FoV) cut from an equirectangular panorama. It
may ``rotate(dyaw, dpitch)`` (relative, integer degrees; yaw wraps, pitch is clamped to ±90) and
then ``submit(yaw, pitch)`` (absolute); the episode succeeds if the submitted heading lies in the
target window (object search HOS: yaw and pitch, tolerances 30°/20°; path search HPS: yaw only,
10°). An invalid action (bad reply format, floats, ``zoom``) costs a step and leaves the heading
unchanged. No submit within ``max_steps`` (10 for evaluation, 5 for RL) truncates the episode and
counts as a failure. Faithful to upstream ``vagen/env/hstar`` (docs/humanoid360.md §2.2) with its
defects fixed by default:

* Q1 a wrapping yaw window skipped the pitch check → fixed; ``quirk_wrap_skips_pitch=True`` restores.
* Q2 an HPS reset set ``yaw_tolerance = 10`` for all later episodes → tolerance is per episode.
* Q3 ``reset()`` zeroed ``format_reward`` so it was never paid → paid (0.5 at submit when every
  action of the episode was well formed); ``quirk_zero_format_reward=True`` restores.
* Q4 ``zoom`` is invalid; Q5 annotations are never mutated; Q6 the task prompt is set per episode.

Reply strings are parsed as upstream HEAD by default (``strict_parse=False``: the answer is extracted even
without ``<think>``, any single parsed action is executed, and a reply off its format only loses the
format reward); ``strict_parse=True`` is the paper-era parser. ``reply_format`` is ``free_think``,
``no_think`` or ``grounding`` (a :class:`~scanpath.envs.actions.Reply` carries its own). ``reset`` gives
no feedback (the heading is first reported after a valid action); after an invalid action the feedback
only says that it was not executed.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from scanpath.envs.actions import REPLY_FORMATS, Invalid, Rotate, Submit, parse_any
from scanpath.io.episodes import Episode, load_panorama
from scanpath.envs.render import HFOV_DEG, draw_crosshair, pad_panoramas, render_py360, render_views, view_size
from scanpath.envs.windows import distance_reward, judge, rotate_heading, widen_windows
from scanpath.utils.lru import LruCache

FEEDBACK_OK = "Last action executed successfully, your current direction (yaw,pitch) is ({yaw},{pitch})"
FEEDBACK_FAIL = "Last action is not executed successfully."
_CHARSET = frozenset(string.printable)


class Humanoid360Env(gym.Env):
    """Single-episode H* environment (gymnasium API). See the module docstring for the rules.

    ``episodes``: the pool of :class:`~scanpath.io.episodes.Episode` to draw from.
    ``reset(seed=s)`` picks episode ``s mod N`` (upstream), ``options={"episode": i}`` picks ``i``;
    without either a seeded random episode is used. ``renderer="core"`` renders with
    :func:`scanpath.core.equirect_to_perspective` (``render_impl``: ``"auto"`` = OpenCV for uint8
    panoramas on the CPU, the torch path otherwise; ``"torch"`` / ``"cv2"`` force one); ``"py360convert"``
    with ``py360convert.e2p``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        episodes: Sequence[Episode] | None = None,
        *,
        resolution: int = 720,
        out_hw: tuple[int, int] | None = None,
        max_steps: int = 10,
        hfov_deg: float = HFOV_DEG,
        grid: str = "hstar",
        pole: str = "flip",
        crosshair: bool = True,
        renderer: str = "core",
        success_reward: float = 0.5,
        format_reward: float = 0.5,
        distance_reward_weight: float = 0.0,
        quirk_wrap_skips_pitch: bool = False,
        quirk_zero_format_reward: bool = False,
        render_mode: str | None = "rgb_array",
        device: str = "cpu",
        panorama_cache: int = 4,
        reply_format: str = "free_think",
        strict_parse: bool = False,
        render_impl: str = "auto",
    ) -> None:
        if reply_format not in REPLY_FORMATS:
            raise ValueError(f"reply_format must be one of {', '.join(REPLY_FORMATS)}, got {reply_format!r}")
        self.reply_format, self.strict_parse = reply_format, bool(strict_parse)
        if renderer not in ("core", "py360convert", "none"):
            raise ValueError(f"renderer must be 'core', 'py360convert' or 'none', got {renderer!r}")
        self.episodes = list(episodes or [])
        self.out_hw = tuple(out_hw) if out_hw is not None else view_size(resolution)
        self.max_steps = int(max_steps)
        self.hfov_deg = float(hfov_deg)
        self.grid, self.pole, self.crosshair, self.renderer = grid, pole, crosshair, renderer
        self.success_reward, self.format_reward = float(success_reward), float(format_reward)
        self.distance_reward_weight = float(distance_reward_weight)
        self.quirk_wrap_skips_pitch = bool(quirk_wrap_skips_pitch)
        self.quirk_zero_format_reward = bool(quirk_zero_format_reward)
        self.render_mode = render_mode
        self.device = torch.device(device)
        self.render_impl = render_impl
        self._cache: LruCache[Any] = LruCache(int(panorama_cache))
        h, w = self.out_hw
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (h, w, 3), np.uint8),
                "yaw": spaces.Box(0, 359, (), np.int64),
                "pitch": spaces.Box(-90, 90, (), np.int64),
                "instruction": spaces.Text(max_length=1024, min_length=0, charset=_CHARSET),
            }
        )
        self.action_space = spaces.Dict(
            {"kind": spaces.Discrete(2), "angles": spaces.Box(-720, 720, (2,), np.int64)}
        )
        self.episode: Episode | None = None
        self._done = True

    # ------------------------------------------------------------------ helpers
    def _panorama(self, ep: Episode) -> Any:
        key = id(ep.panorama) if isinstance(ep.panorama, np.ndarray) else hash(str(ep.panorama))
        return self._cache.get_or_compute(key, lambda: self._prepare_panorama(ep))

    def _prepare_panorama(self, ep: Episode) -> Any:
        img = load_panorama(ep.panorama)
        if self.renderer == "py360convert":
            return img
        # prepared once, rendered many times: OpenCV renderer (CPU, uint8 HWC) or padded float tensor
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].to(self.device)
        impl = self.render_impl
        if impl == "auto":
            impl = "cv2" if t.device.type == "cpu" and t.dtype == torch.uint8 else "torch"
        return pad_panoramas(t if impl == "cv2" else t.float(), self.pole, impl)

    def _view(self) -> np.ndarray:
        assert self.episode is not None
        h, w = self.out_hw
        if self.renderer == "none" or self.episode.panorama is None:
            return np.zeros((h, w, 3), np.uint8)
        pano = self._panorama(self.episode)
        if self.renderer == "py360convert":
            view = render_py360(pano, self.yaw, self.pitch, self.out_hw, self.hfov_deg)
            if self.crosshair:
                t = torch.from_numpy(np.ascontiguousarray(view)).permute(2, 0, 1)[None].contiguous()
                view = draw_crosshair(t)[0].permute(1, 2, 0).numpy()
            return np.ascontiguousarray(view)
        v = render_views(
            pano,
            torch.zeros(1, dtype=torch.long),
            torch.tensor([float(self.yaw)], dtype=torch.float64),
            torch.tensor([float(self.pitch)], dtype=torch.float64),
            self.out_hw,
            hfov_deg=self.hfov_deg,
            grid=self.grid,
            pole=self.pole,
            crosshair=self.crosshair,
            padded=True,
        )
        return np.ascontiguousarray(v[0].permute(1, 2, 0).cpu().numpy())

    def _obs(self) -> dict[str, Any]:
        assert self.episode is not None
        return {
            "image": self._view(),
            "yaw": np.array(self.yaw, dtype=np.int64),
            "pitch": np.array(self.pitch, dtype=np.int64),
            "instruction": self.episode.instruction,
        }

    def _info(self, feedback: str, **kw: Any) -> dict[str, Any]:
        assert self.episode is not None
        return {
            "feedback": feedback,
            "episode": self.episode.key,
            "task": self.episode.task,
            "level": self.episode.level,
            "step": self.steps,
            "headings": list(self.headings),
            **kw,
        }

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = options or {}
        if "episode" in options and isinstance(options["episode"], Episode):
            ep = options["episode"]
        else:
            if not self.episodes:
                raise ValueError("Humanoid360Env has no episodes; pass episodes=... or options={'episode': Episode}")
            if "episode" in options:
                idx = int(options["episode"])
            elif seed is not None:
                idx = seed % len(self.episodes)
            else:
                idx = int(self.np_random.integers(len(self.episodes)))
            ep = self.episodes[idx]
        self.episode = ep
        lo, hi, plo, phi = ep.window_arrays()
        self.windows = widen_windows(
            torch.tensor([lo]), torch.tensor([hi]), torch.tensor([plo]), torch.tensor([phi]),
            torch.tensor([ep.task_code]),
        )
        self.yaw, self.pitch = int(ep.start_yaw) % 360, 0
        self.steps = 0
        self.format_ok = True
        self.headings: list[tuple[int, int]] = [(self.yaw, self.pitch)]
        self._done = False
        self.success = False
        # no feedback before the first action: the first observation does not reveal the heading (upstream's
        # initial observation has none)
        return self._obs(), self._info("", success=False)

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self._done or self.episode is None:
            raise RuntimeError("episode is over; call reset()")
        parsed = parse_any(action, self.reply_format, self.strict_parse)
        act = parsed.action
        if not parsed.format_correct:  # HEAD parsing: a badly formatted reply may still act, unpaid
            self.format_ok = False
        self.steps += 1
        reward, terminated, valid = 0.0, False, True
        if isinstance(act, Rotate):
            y, p = rotate_heading(torch.tensor(self.yaw), torch.tensor(self.pitch),
                                  torch.tensor(act.dyaw), torch.tensor(act.dpitch))
            self.yaw, self.pitch = int(y), int(p)
            self.headings.append((self.yaw, self.pitch))
            feedback = FEEDBACK_OK.format(yaw=self.yaw, pitch=self.pitch)
        elif isinstance(act, Submit):
            ok = bool(judge(torch.tensor([act.yaw]), torch.tensor([act.pitch]), self.windows,
                            self.quirk_wrap_skips_pitch)[0])
            self.success = ok
            terminated = True
            reward = self.success_reward * ok
            if self.format_ok and not self.quirk_zero_format_reward:
                reward += self.format_reward
            if self.distance_reward_weight:
                reward += self.distance_reward_weight * float(
                    distance_reward(torch.tensor([act.yaw]), torch.tensor([act.pitch]), self.windows)[0]
                )
            # upstream keeps the head where it is (the feedback reports the current heading); the
            # agent's scanpath ends with the submitted heading
            self.headings.append((int(act.yaw) % 360, int(np.clip(act.pitch, -90, 90))))
            feedback = FEEDBACK_OK.format(yaw=self.yaw, pitch=self.pitch)
        else:
            assert isinstance(act, Invalid)
            valid = False
            self.format_ok = False
            feedback = FEEDBACK_FAIL
        truncated = not terminated and self.steps >= self.max_steps
        self._done = terminated or truncated
        info = self._info(feedback, success=self.success, valid=valid, submitted=terminated,
                          action=act, format_ok=self.format_ok)
        return self._obs(), float(reward), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.episode is None:
            return None
        return self._view()

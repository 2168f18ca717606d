"""Actions of the 360° head-rotation environment and the upstream ``free_think`` reply parser.

Three action forms are accepted by :class:`~scanpath.envs.humanoid360.Humanoid360Env`:
:class:`Rotate` (relative, integer degrees), :class:`Submit` (absolute heading, ends the episode) and
a raw VLM reply string, parsed like upstream H* ``free_think``: the whole reply must be
``<think>…</think><answer>…</answer>``, the answer is split on ``|`` and only its first action is
kept, and only ``rotate(int,int)`` / ``submit(int,int)`` are valid. Anything else (floats, ``zoom``,
bad format) becomes :class:`Invalid`, which costs a step and leaves the heading unchanged.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Union

import numpy as np

#: Integer codes used by the batched environment (``kind`` tensor).
ROTATE, SUBMIT, INVALID = 0, 1, 2

_REPLY = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
_CALL = re.compile(r"\s*(rotate|submit)\s*\(\s*([+-]?\d+)\s*,\s*([+-]?\d+)\s*\)\s*")


@dataclasses.dataclass(frozen=True)
class Rotate:
    """Turn the head by (dyaw, dpitch) degrees; positive yaw turns right, positive pitch looks up."""

    dyaw: int
    dpitch: int


@dataclasses.dataclass(frozen=True)
class Submit:
    """Answer with an absolute heading (yaw, pitch) in degrees; ends the episode."""

    yaw: int
    pitch: int


@dataclasses.dataclass(frozen=True)
class Invalid:
    """An unparseable or unsupported action; ``reason`` says why (for logs, not for the agent)."""

    reason: str = "invalid"
    raw: str | None = None


Action = Union[Rotate, Submit, Invalid]


def parse_answer(answer: str) -> Action:
    """Parse the content of ``<answer>``: first ``|``-separated action, ``rotate|submit(int,int)``."""
    first = answer.split("|")[0]
    m = _CALL.fullmatch(first)
    if m is None:
        return Invalid(f"unsupported action {first.strip()!r}", raw=answer)
    a, b = int(m.group(2)), int(m.group(3))
    return Rotate(a, b) if m.group(1) == "rotate" else Submit(a, b)


def parse_reply(reply: str) -> Action:
    """Parse a whole VLM reply in upstream ``free_think`` format (see module docstring)."""
    m = _REPLY.fullmatch(reply)
    if m is None:
        return Invalid("reply is not <think>...</think><answer>...</answer>", raw=reply)
    act = parse_answer(m.group(2))
    return dataclasses.replace(act, raw=reply) if isinstance(act, Invalid) else act


def format_reply(action: Rotate | Submit, think: str = "") -> str:
    """The reply string a well-behaved VLM would produce for ``action`` (used by scripted agents)."""
    name = "rotate" if isinstance(action, Rotate) else "submit"
    a, b = (action.dyaw, action.dpitch) if isinstance(action, Rotate) else (action.yaw, action.pitch)
    return f"<think>{think}</think><answer>{name}({a},{b})</answer>"


def _as_int(v: Any) -> int | None:
    """Integer value of ``v`` if it is integral (ints, integral numpy scalars), else None."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    return None


def to_action(action: Any) -> Action:
    """Normalise any accepted action form to :class:`Rotate` / :class:`Submit` / :class:`Invalid`.

    Accepted: the dataclasses, a reply string, ``("rotate"|"submit", a, b)`` tuples and the
    gymnasium dict form ``{"kind": 0|1, "angles": [a, b]}``. Non-integer angles are invalid
    (upstream accepts only ``int``).
    """
    if isinstance(action, (Rotate, Submit, Invalid)):
        if isinstance(action, Rotate) and (_as_int(action.dyaw) is None or _as_int(action.dpitch) is None):
            return Invalid("non-integer rotate angles")
        if isinstance(action, Submit) and (_as_int(action.yaw) is None or _as_int(action.pitch) is None):
            return Invalid("non-integer submit angles")
        return action
    if isinstance(action, str):
        return parse_reply(action)
    if isinstance(action, Mapping):
        kind = action.get("kind")
        ang = np.asarray(action.get("angles", ()))
        if ang.shape != (2,) or not np.issubdtype(ang.dtype, np.integer):
            return Invalid("angles must be two integers")
        kind = int(kind) if kind is not None else -1
        if kind == ROTATE:
            return Rotate(int(ang[0]), int(ang[1]))
        if kind == SUBMIT:
            return Submit(int(ang[0]), int(ang[1]))
        return Invalid(f"unknown action kind {kind}")
    if isinstance(action, (tuple, list)) and len(action) == 3 and isinstance(action[0], str):
        a, b = _as_int(action[1]), _as_int(action[2])
        if a is None or b is None:
            return Invalid("non-integer angles")
        if action[0] == "rotate":
            return Rotate(a, b)
        if action[0] == "submit":
            return Submit(a, b)
        return Invalid(f"unsupported action {action[0]!r}")
    return Invalid(f"unsupported action type {type(action).__name__}")

"""Actions of the 360° head-rotation environment and the upstream H* reply parsers.

Three action forms are accepted by :class:`~scanpath.envs.humanoid360.Humanoid360Env`:
:class:`Rotate` (relative, integer degrees), :class:`Submit` (absolute heading, ends the episode) and
a raw VLM reply string. Only ``rotate(int,int)`` / ``submit(int,int)`` are valid actions; anything else
(floats, ``zoom``, no answer) becomes :class:`Invalid`, which costs a step and leaves the heading unchanged.
The answer is split on ``|`` and only its first action is kept (upstream ``max_actions_per_step`` 1).

Reply formats (upstream ``prompt_format``): ``free_think`` ``<think>…</think><answer>…</answer>``,
``no_think`` ``<answer>…</answer>`` and ``grounding``
``<think><observation>…</observation><reasoning>…</reasoning></think><answer>…</answer>``.
Parsing modes (docs/humanoid360.md §2.2):

* ``strict=False`` (default, upstream HEAD ``parse_freethink``): the answer is extracted even without
  ``<think>`` or with text around the tags, and any single parsed action is executed; whether the whole
  reply matches the format (``format_correct``) only decides the format reward. ``no_think`` is strict in
  both modes (as upstream); ``grounding`` extracts the full tag structure wherever it occurs.
* ``strict=True`` (the paper-era commit): a reply that does not match its format exactly has no action.
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
_GROUNDING_BODY = r"<think>\s*<observation>(.*?)</observation>\s*<reasoning>(.*?)</reasoning>\s*</think>\s*<answer>(.*?)</answer>"
#: per format: (whole-reply pattern -> format_correct, lenient extraction pattern, answer group)
_FORMATS: dict[str, tuple[re.Pattern[str], re.Pattern[str] | None, int]] = {
    "free_think": (_REPLY, re.compile(r"(?:<think>(.*?)</think>)?.*?<answer>(.*?)</answer>", re.DOTALL), 2),
    "no_think": (re.compile(r"\s*<answer>(.*?)</answer>\s*", re.DOTALL), None, 1),
    "grounding": (re.compile(r"\s*" + _GROUNDING_BODY + r"\s*", re.DOTALL), re.compile(_GROUNDING_BODY, re.DOTALL), 3),
}
REPLY_FORMATS = tuple(_FORMATS)
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


@dataclasses.dataclass(frozen=True)
class ParsedReply:
    """A parsed VLM reply: the action to execute and whether the reply matched its format exactly."""

    action: Action
    format_correct: bool


class Reply(str):
    """A VLM reply string that carries the format and parsing mode it was asked for, so the environment
    parses it the way the prompt described (plain strings use the environment's defaults)."""

    format: str
    strict: bool

    def __new__(cls, text: str, format: str = "free_think", strict: bool = False) -> Reply:
        if format not in _FORMATS:
            raise ValueError(f"unknown reply format {format!r}; known: {', '.join(_FORMATS)}")
        obj = super().__new__(cls, text)
        obj.format, obj.strict = format, bool(strict)
        return obj


def parse_reply_full(reply: str, format: str = "free_think", strict: bool = False) -> ParsedReply:
    """Parse a whole VLM reply (see module docstring): the action and ``format_correct``."""
    if format not in _FORMATS:
        raise ValueError(f"unknown reply format {format!r}; known: {', '.join(_FORMATS)}")
    text = reply.replace("<image>", "")
    whole, lenient, group = _FORMATS[format]
    full = whole.fullmatch(text.strip())
    m = full if (strict or lenient is None) else lenient.search(text)
    if m is None:
        return ParsedReply(Invalid(f"reply has no {format} answer", raw=reply), full is not None)
    actions = [a.strip() for a in m.group(group).split("|") if a.strip()]
    if not actions:
        return ParsedReply(Invalid("empty answer", raw=reply), full is not None)
    act = parse_answer(actions[0])
    if isinstance(act, Invalid):
        act = dataclasses.replace(act, raw=reply)
    return ParsedReply(act, full is not None)


def parse_reply(reply: str, format: str = "free_think", strict: bool = False) -> Action:
    """The action of a VLM reply (:func:`parse_reply_full` without the format flag)."""
    return parse_reply_full(reply, format, strict).action


def parse_any(action: Any, format: str = "free_think", strict: bool = False) -> ParsedReply:
    """Any accepted action form as a :class:`ParsedReply`; a :class:`Reply` uses its own format and mode."""
    if isinstance(action, Reply):
        return parse_reply_full(action, action.format, action.strict)
    if isinstance(action, str):
        return parse_reply_full(action, format, strict)
    act = to_action(action)
    return ParsedReply(act, not isinstance(act, Invalid))


def action_string(action: Rotate | Submit) -> str:
    """``rotate(a,b)`` / ``submit(a,b)``."""
    name = "rotate" if isinstance(action, Rotate) else "submit"
    a, b = (action.dyaw, action.dpitch) if isinstance(action, Rotate) else (action.yaw, action.pitch)
    return f"{name}({a},{b})"


def format_reply(action: Rotate | Submit, think: str = "", format: str = "free_think") -> str:
    """The reply string a well-behaved VLM would produce for ``action`` (used by scripted agents)."""
    if format == "no_think":
        return f"<answer>{action_string(action)}</answer>"
    if format == "grounding":
        return (f"<think><observation>{think}</observation><reasoning>{think}</reasoning></think>"
                f"<answer>{action_string(action)}</answer>")
    return f"<think>{think}</think><answer>{action_string(action)}</answer>"


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

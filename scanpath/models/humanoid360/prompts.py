"""Prompt protocol of the 360° VLM agent: system prompt, first-observation and per-turn templates.

Two sources, one interface (:class:`PromptSet`):

* :class:`OwnPrompts` (default): our own wording, with the content upstream's ``prompt.py`` conveys
  (the signs of yaw and pitch, the green cross at the view centre, the reply format and a worked example
  rotate(-45,0) -> (315,0) -> rotate(-30,-5) -> submit(285,-5)), for the ``free_think``, ``no_think`` and
  ``grounding`` reply formats.
* :class:`UpstreamPrompts`: upstream H*'s own templates, read at run time from the user's local checkout
  of github.com/humanoid-vstar/hstar (``model.prompts.upstream_repo=/path/to/hstar``, like a weights path;
  its text is never copied into this project). The file ``vagen/env/hstar/prompt.py`` provides
  ``system_prompt(format=, is_nav=)``, ``init_observation_template(observation=, instruction=)``,
  ``action_template(observation=, instruction=, valid_action=, env_feedback=, done=)`` and
  ``format_prompt[format](max_actions_per_step=, add_example=)``; they are combined as upstream's
  environment does (system prompt + format prompt with its example; each observation + the format
  prompt without it). A missing file, template or format is a clear error.

Either way the first observation does not reveal the heading and, after an invalid action, the feedback
only says that the action was not executed (the environment's feedback string; the heading is reported
only after a valid action). Templates put :data:`IMAGE` where the view goes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from scanpath.envs.actions import REPLY_FORMATS

#: placeholder for the view in a user message (replaced by the image tokens)
IMAGE = "<image>"
#: the templates upstream's prompt.py must define
UPSTREAM_TEMPLATES = ("system_prompt", "init_observation_template", "action_template", "format_prompt")
UPSTREAM_PROMPT_FILE = Path("vagen") / "env" / "hstar" / "prompt.py"


class PromptSet(Protocol):
    def system(self, task: str, format: str) -> str: ...

    def first_observation(self, instruction: str, format: str) -> str: ...

    def turn(self, instruction: str, feedback: str, valid_action: Sequence[str], format: str) -> str: ...


# ------------------------------------------------------------------ our wording
_TASKS = {
    "HOS": "Task: find the object described by the instruction and submit the heading that centres it.",
    "HPS": "Task: find the direction you should walk to follow the instruction and submit that heading (only yaw "
           "is judged).",
}
_RULES = (
    "You stand inside a 360-degree panorama and see a 100-degree perspective view. Your heading is (yaw, pitch) in "
    "integer degrees: positive yaw turns right, negative yaw turns left; positive pitch looks up, negative looks down. "
    "The green cross marks the centre of your view. Actions: rotate(dyaw,dpitch) turns your head relative to the "
    "current heading; submit(yaw,pitch) answers with an absolute heading and ends the episode. One action per reply."
)
_FORMAT_RULES = {
    "free_think": "Reply exactly as <think>your reasoning</think><answer>one action</answer>.",
    "no_think": "Reply exactly as <answer>one action</answer>, with no other text.",
    "grounding": ("Reply exactly as <think><observation>what you see</observation><reasoning>your reasoning"
                  "</reasoning></think><answer>one action</answer>."),
}
_EXAMPLE = {
    "free_think": ("Example: from (0,0) you reply <think>the target should be on my left</think><answer>rotate(-45,0)"
                   "</answer> and face (315,0); you reply <think>it is a little lower and to the left</think><answer>"
                   "rotate(-30,-5)</answer> and face (285,-5); the target is at the cross, so you reply <think>it is "
                   "centred</think><answer>submit(285,-5)</answer>."),
    "no_think": ("Example: from (0,0) you reply <answer>rotate(-45,0)</answer> and face (315,0); you reply <answer>"
                 "rotate(-30,-5)</answer> and face (285,-5); the target is at the cross, so you reply <answer>"
                 "submit(285,-5)</answer>."),
    "grounding": ("Example: from (0,0) you reply <think><observation>a sofa ahead, a shelf on the left</observation>"
                  "<reasoning>the target is probably on the shelf</reasoning></think><answer>rotate(-45,0)</answer> "
                  "and face (315,0); then <think><observation>the target is low and left of the cross</observation>"
                  "<reasoning>turn left, look down</reasoning></think><answer>rotate(-30,-5)</answer> and face "
                  "(285,-5); then <think><observation>the target is at the cross</observation><reasoning>done"
                  "</reasoning></think><answer>submit(285,-5)</answer>."),
}


def _check_format(format: str) -> None:
    if format not in REPLY_FORMATS:
        raise ValueError(f"unknown prompt format {format!r}; known: {', '.join(REPLY_FORMATS)}")


class OwnPrompts:
    """Our wording (default). ``system`` overrides the system prompt per task (``{"HOS": ..., "HPS": ...}``)."""

    def __init__(self, system: Mapping[str, str] | None = None) -> None:
        self.overrides = dict(system or {})

    def system(self, task: str, format: str) -> str:
        _check_format(format)
        if task in self.overrides:
            return self.overrides[task]
        return " ".join((_TASKS[task], _RULES, _FORMAT_RULES[format], _EXAMPLE[format]))

    def first_observation(self, instruction: str, format: str) -> str:
        _check_format(format)
        return f"{IMAGE}Instruction: {instruction}. Decide your next action. {_FORMAT_RULES[format]}"

    def turn(self, instruction: str, feedback: str, valid_action: Sequence[str], format: str) -> str:
        _check_format(format)
        said = f"{feedback.rstrip('.')}. " if feedback else ""
        return f"{IMAGE}{said}Instruction: {instruction}. Decide your next action. {_FORMAT_RULES[format]}"


# ------------------------------------------------------------------ upstream's templates, read at run time
def load_upstream_prompt_module(repo: str | Path) -> ModuleType:
    """Import ``vagen/env/hstar/prompt.py`` of a local H* checkout (or that file itself) by path."""
    root = Path(repo).expanduser()
    path = root if root.is_file() else root / UPSTREAM_PROMPT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"model.prompts.upstream_repo={repo}: {path} not found; point it at a local checkout of "
            "github.com/humanoid-vstar/hstar (the folder holding vagen/)")
    spec = importlib.util.spec_from_file_location("_hstar_upstream_prompt", path)
    if spec is None or spec.loader is None:  # pragma: no cover - importlib failure
        raise ImportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:  # the user's file: report which one failed
        raise ImportError(f"cannot import upstream prompt templates from {path}: {e}") from e
    missing = [n for n in UPSTREAM_TEMPLATES if not hasattr(mod, n)]
    if missing:
        raise AttributeError(f"{path} lacks the upstream template(s) {', '.join(missing)} "
                             f"(expected: {', '.join(UPSTREAM_TEMPLATES)})")
    mod.__dict__["__scanpath_path__"] = str(path)
    return mod


class UpstreamPrompts:
    """Upstream H*'s templates from a local checkout (see module docstring)."""

    def __init__(self, repo: str | Path) -> None:
        self.module = load_upstream_prompt_module(repo)
        self.path = self.module.__dict__["__scanpath_path__"]

    def _format_prompt(self, format: str, add_example: bool) -> str:
        fp: Any = self.module.format_prompt
        if format not in fp:
            raise KeyError(f"{self.path}: format_prompt has no {format!r} template (has {', '.join(fp)})")
        return fp[format](max_actions_per_step=1, add_example=add_example)

    def system(self, task: str, format: str) -> str:
        _check_format(format)
        base = self.module.system_prompt(format=format, is_nav=task == "HPS")
        return base + "\n" + self._format_prompt(format, True)

    def first_observation(self, instruction: str, format: str) -> str:
        _check_format(format)
        obs = self.module.init_observation_template(observation=IMAGE, instruction=instruction)
        return obs + "\n" + self._format_prompt(format, False)

    def turn(self, instruction: str, feedback: str, valid_action: Sequence[str], format: str) -> str:
        _check_format(format)
        obs = self.module.action_template(observation=IMAGE, instruction=instruction, valid_action=list(valid_action),
                                          env_feedback=feedback, done=False)
        return obs + "\n" + self._format_prompt(format, False)


def make_prompts(upstream_repo: str | Path | None = None, system: Mapping[str, str] | None = None) -> PromptSet:
    """Upstream's templates when ``upstream_repo`` is set, else our wording (with optional overrides)."""
    if upstream_repo:
        if system:
            raise ValueError("model.prompts: system-prompt overrides apply to our wording only, not with upstream_repo")
        return UpstreamPrompts(upstream_repo)
    return OwnPrompts(system)

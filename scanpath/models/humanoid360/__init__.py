"""360° head-rotation agents (docs/humanoid360.md §2.3): CLIP search agent, GRPO policy, VLM adapter.

Every agent has ``reset(info)`` and ``act(observation) -> action`` (see :mod:`.agents`).
Heavy modules (open_clip, transformers) are imported lazily by their own submodules.
"""

from scanpath.models.humanoid360.agents import (
    HeadAgent,
    PolicyAgent,
    RandomSubmitAgent,
    ScriptedVLM,
    TurnInPlaceAgent,
)

__all__ = ["HeadAgent", "PolicyAgent", "RandomSubmitAgent", "ScriptedVLM", "TurnInPlaceAgent"]

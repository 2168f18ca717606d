"""360° head-rotation environments (H*): gymnasium env, batched torch twin, actions, windows.

Registered gymnasium id: ``scanpath/Humanoid360-v0`` (``gymnasium.make(ENV_ID, episodes=[...])``;
``gymnasium.make_vec(ENV_ID, num_envs=N, vectorization_mode="vector_entry_point", episodes=[...])``
gives the batched :class:`Humanoid360VectorEnv`).
"""

from __future__ import annotations

import gymnasium as gym

from scanpath.envs.actions import Invalid, Rotate, Submit, parse_reply, to_action
from scanpath.io.episodes import Episode

ENV_ID = "scanpath/Humanoid360-v0"

if ENV_ID not in gym.registry:
    gym.register(
        id=ENV_ID,
        entry_point="scanpath.envs.humanoid360:Humanoid360Env",
        vector_entry_point="scanpath.envs.batched:Humanoid360VectorEnv",
        disable_env_checker=True,
    )


def __getattr__(name: str):  # lazy: keep `import scanpath.envs` light
    if name in ("Humanoid360Env", "FEEDBACK_OK", "FEEDBACK_FAIL"):
        from scanpath.envs import humanoid360

        return getattr(humanoid360, name)
    if name in ("BatchedHumanoid360Env", "Humanoid360VectorEnv", "panorama_stack"):
        from scanpath.envs import batched

        return getattr(batched, name)
    raise AttributeError(name)


__all__ = ["ENV_ID", "Episode", "Invalid", "Rotate", "Submit", "parse_reply", "to_action",
           "Humanoid360Env", "BatchedHumanoid360Env", "Humanoid360VectorEnv"]

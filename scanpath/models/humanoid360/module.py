"""Lightning module: the head-rotation policy trained with GRPO on the batched 360° environment.

``python train.py model=humanoid360_grpo`` trains on procedural panoramas (offline). Each training
batch is a set of episodes; each episode is repeated ``group_size`` times, rolled out (sampled)
on :class:`~scanpath.envs.batched.BatchedHumanoid360Env`, and the policy is updated with PPO-clip +
k3 KL to the frozen initial policy on mini-batches of ``groups_per_minibatch`` groups
(:mod:`scanpath.models.humanoid360.grpo`; manual optimisation). Validation logs the greedy
success rate (``val/success``) and ``val/loss`` = 1 − success (what checkpointing monitors).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from scanpath.envs.batched import BatchedHumanoid360Env, panorama_stack
from scanpath.io.episodes import Episode
from scanpath.models.base import ScanpathModel
from scanpath.models.humanoid360.agents import PolicyAgent
from scanpath.models.humanoid360.grpo import grpo_update, reset_arguments, rollout
from scanpath.models.humanoid360.torch_model import HeadRotationPolicy
from scanpath.types import ScanpathBatch

log = logging.getLogger(__name__)


class HeadRotationAgentModule(ScanpathModel):
    """GRPO-trained head-rotation agent (docs/humanoid360.md §2.3 item 2)."""

    display_name = "GRPO head-rotation policy"
    trainable = True

    def __init__(
        self,
        optimizer: Any = None,
        hidden: int = 128,
        encoder: str = "cnn",
        view_hw: Sequence[int] = (72, 128),
        group_size: int = 8,
        groups_per_minibatch: int = 8,
        clip: float = 0.2,
        kl_coef: float = 0.01,
        ppo_epochs: int = 1,
        distance_reward_weight: float = 0.0,
        max_steps_train: int = 5,
        max_steps_eval: int = 10,
        temperature: float = 1.0,
        train_budget: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer_factory = optimizer
        self.automatic_optimization = False
        self.policy = HeadRotationPolicy(hidden=hidden, view_hw=tuple(view_hw), encoder=encoder)
        self.ref_policy = copy.deepcopy(self.policy).eval()
        for p in self.ref_policy.parameters():
            p.requires_grad_(False)
        self._gen = torch.Generator().manual_seed(seed)
        self._envs: dict[tuple, tuple[BatchedHumanoid360Env, dict[int, int]]] = {}

    # ------------------------------------------------------------------ env cache
    def _env_for(self, episodes: Sequence[Episode], max_steps: int, reward: str) -> tuple[BatchedHumanoid360Env, dict[int, int]]:
        """Batched env over the episodes' panoramas (cached per panorama set: padded once) and a map
        from ``id(episode.panorama)`` to its index in the env's stack."""
        key = (tuple(sorted({id(e.panorama) for e in episodes})), max_steps, reward)
        if key not in self._envs:
            if len(self._envs) > 8:
                self._envs.clear()
            stack, _ = panorama_stack(episodes)
            ids: dict[int, int] = {}
            for e in episodes:
                ids.setdefault(id(e.panorama), len(ids))
            kw = (dict(success_reward=1.0, format_reward=0.0, distance_reward_weight=self.hparams.distance_reward_weight)
                  if reward == "grpo" else {})
            env = BatchedHumanoid360Env(stack, out_hw=tuple(self.hparams.view_hw), max_steps=max_steps,
                                        device=self.device, **kw)
            self._envs[key] = (env, ids)
        return self._envs[key]

    @staticmethod
    def _index(episodes: Sequence[Episode], ids: dict[int, int]) -> torch.Tensor:
        return torch.tensor([ids[id(e.panorama)] for e in episodes], dtype=torch.long)

    def on_fit_start(self) -> None:
        budget = dict(self.hparams.train_budget or {})
        if "max_epochs" in budget:
            self.trainer.fit_loop.max_epochs = int(budget["max_epochs"])
        for key in ("limit_train_batches", "limit_val_batches"):
            if budget.get(key) is not None:
                setattr(self.trainer, key, budget[key])
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "samples"):  # one env over all training panoramas
            self._train_episodes = [s["episode"] for s in dm.samples("train")]

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        episodes: list[Episode] = list(batch["episode"])
        pool = getattr(self, "_train_episodes", episodes)
        env, ids = self._env_for(pool, self.hparams.max_steps_train, "grpo")
        if any(id(e.panorama) not in ids for e in episodes):
            env, ids = self._env_for(episodes, self.hparams.max_steps_train, "grpo")
        pidx = self._index(episodes, ids)
        args, instr = reset_arguments(episodes, pidx, self.hparams.group_size)
        ro = rollout(self.policy, env, args, instr, temperature=self.hparams.temperature, generator=self._gen)
        opt = self.optimizers()
        stats = grpo_update(self.policy, self.ref_policy, opt.optimizer if hasattr(opt, "optimizer") else opt, ro,
                            self.hparams.group_size, self.hparams.groups_per_minibatch, self.hparams.clip,
                            self.hparams.kl_coef, self.hparams.ppo_epochs, generator=self._gen)
        n = len(episodes)
        self.log("train/success", ro.success.float().mean(), prog_bar=True, batch_size=n)
        self.log("train/reward", ro.reward.mean(), batch_size=n)
        self.log("train/kl", stats["kl"], batch_size=n)
        self.log("train/loss", stats["loss"], batch_size=n)
        return torch.tensor(stats["loss"])

    def greedy_rollout(self, episodes: Sequence[Episode], max_steps: int | None = None):
        env, ids = self._env_for(episodes, max_steps or self.hparams.max_steps_eval, "eval")
        pidx = self._index(episodes, ids)
        args, instr = reset_arguments(episodes, pidx)
        was = self.policy.training
        self.policy.eval()
        ro = rollout(self.policy, env, args, instr, greedy=True)
        self.policy.train(was)
        return ro

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        ro = self.greedy_rollout(list(batch["episode"]), self.hparams.max_steps_train)
        succ = ro.success.float().mean()
        n = len(batch["episode"])
        self.log("val/success", succ, prog_bar=True, batch_size=n)
        self.log("val/loss", 1.0 - succ, batch_size=n)

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            return torch.optim.Adam(self.policy.parameters(), lr=3e-4)
        return self.optimizer_factory(params=self.policy.parameters())

    # ------------------------------------------------------------------ prediction / agent interface
    def skip_reason(self, sample: dict[str, Any]) -> str | None:
        if "episode" not in sample:
            return ("the head-rotation policy needs 360° episodes (data=panoramas or data=hstar); "
                    "its success rates come from protocol=success360")
        return None

    def predict_scanpaths(self, batch: Mapping[str, Any]) -> ScanpathBatch:
        """Greedy headings (ending with the submitted one) as yaw/pitch scanpaths, one per episode."""
        from scanpath.analysis.gaze360 import agent_scanpath

        episodes = list(batch["episode"])
        ro = self.greedy_rollout(episodes)
        out = []
        for i, e in enumerate(episodes):
            n = int(ro.steps[i]) + 1
            hd = ro.headings[:n, i].cpu().tolist()
            sp = agent_scanpath(hd, stimulus=e.scene, subject=1)
            sp.task = e.instruction
            sp.extra.update(success=bool(ro.success[i]), steps=int(ro.steps[i]), level=e.level)
            out.append(sp)
        return ScanpathBatch.from_list(out)

    def agent(self, greedy: bool = True) -> PolicyAgent:
        """``act(observation) -> action`` view of the policy for the single gymnasium env."""
        return PolicyAgent(self.policy.eval(), greedy=greedy)

"""Behaviour cloning of the goal-conditioned policy on a Collect & Infer buffer (MISSION B5).

"Infer" step of Collect & Infer: self-imitation of the stored successful
prefixes. The loss is the cross-entropy between the policy's cell
distribution and a Gaussian-smoothed one-hot target around the demonstrated
action's cell (``PolicyConfig.label_sigma_cells``; neighbouring cells are
almost as good an action as the demonstrated one). AdamW; minibatches are drawn
with every goal equally likely (``balance_goals``, default) and uniformly
within a goal: early in a curriculum the buffer holds dozens of "grasp red"
demonstrations for each "red on top of blue" one, and uniform sampling let the
frequent skill's behaviour (point at red) take over the rare one's (measured:
0% success after 2006 steps with 15 stacking demonstrations). The optimiser
state persists across updates and is saved with the checkpoints, so a resumed
trainer continues where it stopped.
"""

from __future__ import annotations

import numpy as np
import torch

from ..policy.model import GoalPolicy
from .buffers import BCDataset


class GoalBCTrainer:
    """Minibatch BC updates of a :class:`GoalPolicy`."""

    def __init__(
        self,
        policy: GoalPolicy,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        seed: int = 0,
        balance_goals: bool = True,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.policy = policy
        self.batch_size = int(batch_size)
        self.balance_goals = bool(balance_goals)
        self.optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=weight_decay)
        self.rng = np.random.default_rng(seed)
        self.steps_done = 0

    def sample_weights(self, goals: list[str]) -> np.ndarray:
        """Minibatch sampling probability of each sample (equal per goal when balanced)."""
        if not self.balance_goals:
            return np.full(len(goals), 1.0 / len(goals))
        unique, inverse, counts = np.unique(goals, return_inverse=True, return_counts=True)
        weights = 1.0 / (len(unique) * counts[inverse])
        return weights / weights.sum()

    def fit(self, data: BCDataset, steps: int) -> dict:
        """``steps`` gradient steps on ``data``; returns ``{"loss": mean, "samples": n}``."""
        if len(data) == 0:
            raise ValueError("cannot train on an empty buffer")
        policy = self.policy
        grid = policy.grid
        targets = torch.from_numpy(
            grid.soft_targets(grid.index_of(data.actions), policy.config.label_sigma_cells)
        )
        unique = sorted(set(data.goals))
        goal_index = {g: i for i, g in enumerate(unique)}
        goal_ids = torch.tensor([goal_index[g] for g in data.goals])
        goal_table = policy.goal_embeddings(unique)
        objects = torch.from_numpy(np.asarray(data.objects, dtype=np.float32))
        ee = torch.from_numpy(np.asarray(data.ee, dtype=np.float32))
        gripper = torch.from_numpy(np.asarray(data.gripper, dtype=np.float32))
        weights = self.sample_weights(data.goals)
        policy.train()
        losses = []
        for _ in range(int(steps)):
            size = min(self.batch_size, len(data))
            idx = torch.from_numpy(self.rng.choice(len(data), size=size, p=weights))
            logp = policy(goal_table[goal_ids[idx]], objects[idx], ee[idx], gripper[idx])
            loss = -(targets[idx] * logp).sum(dim=-1).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            self.optimizer.step()
            losses.append(float(loss.detach()))
            self.steps_done += 1
        policy.eval()
        return {"loss": float(np.mean(losses)) if losses else float("nan"), "samples": len(data)}

"""Uniform random policy over the workspace (MISSION B1 sparseness baseline).

The action is a uniformly drawn (x, y) in the workspace; whether it becomes a
pick or a place is decided by the gripper state, as for every policy (the
primitive picks when the gripper is empty and places when it holds
something). This is the policy whose mean primitive steps per reward defines
task sparseness in the paper (grasp ~10^1, stack two ~10^3, triple >10^6).
"""

from __future__ import annotations

import numpy as np

from .state import WorldState
from .world_config import Bounds2D


class RandomPolicy:
    """Draws actions uniformly from a workspace rectangle with its own seeded RNG."""

    def __init__(self, workspace: Bounds2D, seed: int | None = None) -> None:
        self.workspace = workspace
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Re-seed the policy's RNG."""
        self.rng = np.random.default_rng(seed)

    def act(self, state: WorldState | None = None) -> np.ndarray:
        """A uniform (x, y); ``state`` is accepted for a uniform policy interface and unused."""
        ws = self.workspace
        return np.array([self.rng.uniform(*ws.x), self.rng.uniform(*ws.y)])

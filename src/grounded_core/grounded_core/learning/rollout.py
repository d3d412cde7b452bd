"""Rollout storage for GLAM's PPO: learner-side prompt histories, episodes, transitions.

* :class:`PromptHistories` -- one :class:`~grounded_core.babyai_text.PromptHistory` per
  environment, fed from the env client's missions and descriptions, so the prompts are
  built on the learner side whatever serves the environments (MISSION A2: last 3
  observations and 2 actions, cleared when an episode ends).
* :class:`EpisodeTracker` -- per-env running return and length, the episodes finished
  since the last drain, and a rolling window for the reported success rate.
* :class:`RolloutBuffer` -- ``[T, N]`` transitions of one update (prompts, actions,
  old log-probs, old values, scaled rewards, dones), GAE via
  :func:`~.ppo.compute_gae`, and flattened minibatches.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..babyai_text import PromptHistory
from .env_adapters import EnvObservation
from .ppo import compute_gae

__all__ = [
    "EpisodeRecord",
    "EpisodeTracker",
    "PromptHistories",
    "RolloutBatch",
    "RolloutBuffer",
    "minibatch_indices",
]


class PromptHistories:
    """GLAM prompts for a batch of environments, built from what the envs report.

    Args:
        num_envs: batch size.
        variant: the batch's variant name (selects the prompt's labels, e.g. French).
        action_space: the action texts listed in the prompt header (the env's).
        max_observations, max_actions: history lengths (GLAM: 3 and 2).
    """

    def __init__(
        self,
        num_envs: int,
        variant: str,
        action_space: Sequence[str],
        max_observations: int = 3,
        max_actions: int = 2,
    ):
        self.action_space = list(action_space)
        self.histories = [
            PromptHistory(max_observations, max_actions, variant, self.action_space)
            for _ in range(num_envs)
        ]
        self.missions = [""] * num_envs

    def __len__(self) -> int:
        return len(self.histories)

    def _check(self, observations: Sequence[EnvObservation]) -> None:
        if len(observations) != len(self.histories):
            raise ValueError(
                f"got {len(observations)} observations for {len(self.histories)} environments"
            )

    def reset(self, observations: Sequence[EnvObservation]) -> None:
        """Start every env's history from its first observation."""
        self._check(observations)
        for i, (history, obs) in enumerate(zip(self.histories, observations)):
            history.reset(obs.descriptions)
            self.missions[i] = obs.mission

    def prompts(self) -> list[str]:
        """The prompt of the next decision of every env (A2)."""
        return [h.prompt(m) for h, m in zip(self.histories, self.missions)]

    def step(
        self,
        action_ids: Sequence[int],
        observations: Sequence[EnvObservation],
        dones: Sequence[bool],
    ) -> None:
        """Record the actions taken and the observations that followed.

        A done env's history is cleared before the next episode's first observation is
        added (the env reset automatically), exactly like GLAM's loop.
        """
        self._check(observations)
        for i, (history, action, obs, done) in enumerate(
            zip(self.histories, action_ids, observations, dones)
        ):
            history.step(self.action_space[int(action)], obs.descriptions, bool(done))
            self.missions[i] = obs.mission

    def state_dict(self) -> dict:
        return {
            "missions": list(self.missions),
            "observations": [h.observations for h in self.histories],
            "actions": [h.actions for h in self.histories],
        }

    def load_state_dict(self, state: dict) -> None:
        if len(state["missions"]) != len(self.histories):
            raise ValueError(
                f"history state has {len(state['missions'])} envs, expected {len(self.histories)}"
            )
        self.missions = list(state["missions"])
        for history, observations, actions in zip(
            self.histories, state["observations"], state["actions"]
        ):
            history.clear()
            for descriptions in observations:
                history.add_observation(descriptions)
            for action in actions:
                history.add_action(action)


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished training episode (raw env reward, not the 20x training reward)."""

    env_index: int
    episode_return: float
    length: int
    success: bool


class EpisodeTracker:
    """Running per-env statistics and the finished episodes (for metrics)."""

    def __init__(self, num_envs: int, window: int = 100):
        self.returns = np.zeros(num_envs)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.pending: list[EpisodeRecord] = []
        self.window: deque[EpisodeRecord] = deque(maxlen=window)
        self.total_episodes = 0

    def reset(self) -> None:
        """Forget the running episodes (after an env reset), keep finished ones."""
        self.returns[:] = 0.0
        self.lengths[:] = 0

    def step(self, rewards: np.ndarray, dones: np.ndarray, successes: np.ndarray) -> None:
        self.returns += rewards
        self.lengths += 1
        for i in np.flatnonzero(dones):
            record = EpisodeRecord(
                int(i), float(self.returns[i]), int(self.lengths[i]), bool(successes[i])
            )
            self.pending.append(record)
            self.window.append(record)
            self.total_episodes += 1
            self.returns[i] = 0.0
            self.lengths[i] = 0

    def drain(self) -> list[EpisodeRecord]:
        """Episodes finished since the last drain."""
        drained, self.pending = self.pending, []
        return drained

    def window_success_rate(self) -> float:
        """Success rate over the rolling window (NaN before the first episode)."""
        if not self.window:
            return float("nan")
        return float(np.mean([r.success for r in self.window]))

    def window_mean_return(self) -> float:
        if not self.window:
            return float("nan")
        return float(np.mean([r.episode_return for r in self.window]))

    def state_dict(self) -> dict:
        return copy.deepcopy(
            {
                "returns": self.returns,
                "lengths": self.lengths,
                "pending": self.pending,
                "window": list(self.window),
                "window_size": self.window.maxlen,
                "total_episodes": self.total_episodes,
            }
        )

    def load_state_dict(self, state: dict) -> None:
        self.returns = np.array(state["returns"], dtype=np.float64)
        self.lengths = np.array(state["lengths"], dtype=np.int64)
        self.pending = list(state["pending"])
        self.window = deque(state["window"], maxlen=state["window_size"])
        self.total_episodes = int(state["total_episodes"])


@dataclass
class RolloutBatch:
    """Flattened transitions of one update, ready for minibatches."""

    prompts: list[str]
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def __len__(self) -> int:
        return len(self.prompts)

    def select(self, index: torch.Tensor) -> RolloutBatch:
        rows = index.tolist()
        return RolloutBatch(
            prompts=[self.prompts[i] for i in rows],
            actions=self.actions[index],
            log_probs=self.log_probs[index],
            values=self.values[index],
            advantages=self.advantages[index],
            returns=self.returns[index],
        )


class RolloutBuffer:
    """``steps x num_envs`` transitions; fill with :meth:`add`, then :meth:`finish`."""

    def __init__(self, steps: int, num_envs: int):
        if steps < 1 or num_envs < 1:
            raise ValueError(f"steps and num_envs must be positive, got {steps}, {num_envs}")
        self.steps = steps
        self.num_envs = num_envs
        self.prompts: list[list[str]] = []
        shape = (steps, num_envs)
        self.actions = torch.zeros(shape, dtype=torch.long)
        self.log_probs = torch.zeros(shape)
        self.values = torch.zeros(shape)
        self.rewards = torch.zeros(shape)
        self.dones = torch.zeros(shape)

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def full(self) -> bool:
        return len(self.prompts) == self.steps

    def add(
        self,
        prompts: Sequence[str],
        actions: torch.Tensor,
        log_probs: torch.Tensor,
        values: torch.Tensor,
        rewards: torch.Tensor,
        dones: torch.Tensor,
    ) -> None:
        """Store step ``t = len(self)``: ``rewards`` already scaled, ``dones`` after it."""
        if self.full:
            raise RuntimeError(f"the rollout already holds {self.steps} steps")
        if len(prompts) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} prompts, got {len(prompts)}")
        t = len(self.prompts)
        self.prompts.append(list(prompts))
        self.actions[t] = actions
        self.log_probs[t] = log_probs
        self.values[t] = values
        self.rewards[t] = rewards
        self.dones[t] = dones

    def finish(self, last_values: torch.Tensor, gamma: float, gae_lambda: float) -> RolloutBatch:
        """GAE over the full rollout, bootstrapped with ``last_values`` = V(s_T)."""
        if not self.full:
            raise RuntimeError(f"the rollout holds {len(self)} of {self.steps} steps")
        advantages, returns = compute_gae(
            self.rewards, self.values, self.dones, last_values.float(), gamma, gae_lambda
        )

        # Env-major flattening (each env's steps contiguous), as GLAM's loop does.
        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.transpose(0, 1).reshape(-1)

        prompts = [self.prompts[t][n] for n in range(self.num_envs) for t in range(self.steps)]
        return RolloutBatch(
            prompts=prompts,
            actions=flat(self.actions),
            log_probs=flat(self.log_probs),
            values=flat(self.values),
            advantages=flat(advantages),
            returns=flat(returns),
        )


def minibatch_indices(
    size: int, minibatch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """A random permutation of ``range(size)`` cut into minibatches (the last may be
    smaller)."""
    order = torch.randperm(size, generator=generator)
    return [order[i : i + minibatch_size] for i in range(0, size, minibatch_size)]

"""N BabyAI-Text environments stepped together in-process, with auto-reset (MISSION A1).

Environment ``i`` is seeded ``base_seed + i`` (GLAM seeded its envs the same way, with
its own base). When an episode ends the env is reset at once: ``step`` returns the new
episode's first observation, ``info["autoreset"] = True``, the last observation of the
finished episode in ``info["final_observation"]`` and its statistics (return, length,
success) in ``info["episode"]``. Each env also keeps a :class:`PromptHistory`, so
:meth:`VectorBabyAITextEnv.prompts` gives the GLAM prompts of the next decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .env import BabyAITextEnv, TextObservation
from .errors import BabyAITextError
from .prompt import PromptHistory

__all__ = ["EpisodeStats", "VectorBabyAITextEnv"]


@dataclass(frozen=True)
class EpisodeStats:
    """Statistics of one finished episode."""

    env_index: int
    episode_return: float
    length: int
    success: bool
    task_kind: str | None
    seed: int | None
    episode: int

    def to_dict(self) -> dict:
        return {
            "env_index": self.env_index,
            "return": self.episode_return,
            "length": self.length,
            "success": self.success,
            "task_kind": self.task_kind,
            "seed": self.seed,
            "episode": self.episode,
        }


class VectorBabyAITextEnv:
    """``num_envs`` :class:`BabyAITextEnv` of one level, seeded ``base_seed + i``.

    Extra keyword options (``variant``, ``grammar``, ``task_kind``) go to every env.
    """

    def __init__(self, level: str, num_envs: int, base_seed: int = 0, **options):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise BabyAITextError(f"num_envs must be a positive integer, got {num_envs!r}")
        if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
            raise BabyAITextError(f"base_seed must be a non-negative integer, got {base_seed!r}")
        self.base_seed = base_seed
        self.envs = [BabyAITextEnv(level, base_seed + i, **options) for i in range(num_envs)]
        self.histories = [PromptHistory(variant=env.variant) for env in self.envs]
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._observations: list[TextObservation] = []
        # Finished episodes of each env, oldest first.
        self.finished: list[list[EpisodeStats]] = [[] for _ in range(num_envs)]

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    @property
    def level(self) -> str:
        return self.envs[0].level

    @property
    def action_space(self) -> list[str]:
        return self.envs[0].action_space

    @property
    def variant(self) -> str:
        """Name of the text variant every env uses."""
        return self.envs[0].variant.name

    @property
    def observations(self) -> list[TextObservation]:
        """The current observation of every env."""
        return list(self._observations)

    def reset(
        self, base_seed: int | None = None, seeds: Sequence[int] | None = None
    ) -> list[TextObservation]:
        """Reset every env: env ``i`` with ``seeds[i]``, else ``base_seed + i`` if given."""
        if seeds is not None:
            if base_seed is not None:
                raise BabyAITextError("give base_seed or seeds, not both")
            if isinstance(seeds, str) or len(seeds) != self.num_envs:
                raise BabyAITextError(
                    f"expected one seed per env ({self.num_envs}), got {len(seeds)}"
                )
        if base_seed is not None:
            self.base_seed = base_seed
        self._observations = []
        for i, (env, history) in enumerate(zip(self.envs, self.histories)):
            if seeds is not None:
                seed = int(seeds[i])
            else:
                seed = None if base_seed is None else base_seed + i
            obs = env.reset(seed=seed)
            history.reset(obs.descriptions)
            self._observations.append(obs)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self.observations

    def step(
        self, actions: Sequence[int | str] | np.ndarray
    ) -> tuple[list[TextObservation], np.ndarray, np.ndarray, list[dict]]:
        """Step every env; finished ones are reset (see the module docstring)."""
        if not self._observations:
            raise BabyAITextError("call reset() before step()")
        if isinstance(actions, str) or len(actions) != self.num_envs:
            raise BabyAITextError(f"expected one action per env ({self.num_envs}), got {actions!r}")
        rewards = np.zeros(self.num_envs)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict] = []
        for i, (env, history, action) in enumerate(zip(self.envs, self.histories, actions)):
            obs, reward, done, info = env.step(action)
            self._returns[i] += reward
            self._lengths[i] += 1
            info["autoreset"] = done
            if done:
                stats = EpisodeStats(
                    env_index=i,
                    episode_return=float(self._returns[i]),
                    length=int(self._lengths[i]),
                    success=info["success"],
                    task_kind=info["task_kind"],
                    seed=info["seed"],
                    episode=info["episode_index"],
                )
                self.finished[i].append(stats)
                info["episode"] = stats.to_dict()
                info["final_observation"] = obs
                self._returns[i] = 0.0
                self._lengths[i] = 0
                obs = env.reset()
            history.step(info["action_name"], obs.descriptions, done)
            self._observations[i] = obs
            rewards[i] = reward
            dones[i] = done
            infos.append(info)
        return self.observations, rewards, dones, infos

    def prompts(self) -> list[str]:
        """GLAM's prompt of the next decision for every env (A2)."""
        return [h.prompt(o.mission) for h, o in zip(self.histories, self._observations)]

    def statistics(self) -> dict:
        """Mean return, success rate and length over all finished episodes."""
        episodes = [s for per_env in self.finished for s in per_env]
        if not episodes:
            return {"episodes": 0, "mean_return": 0.0, "success_rate": 0.0, "mean_length": 0.0}
        return {
            "episodes": len(episodes),
            "mean_return": float(np.mean([s.episode_return for s in episodes])),
            "success_rate": float(np.mean([s.success for s in episodes])),
            "mean_length": float(np.mean([s.length for s in episodes])),
        }

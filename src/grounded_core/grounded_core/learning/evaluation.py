"""Success rate of an agent over N BabyAI-Text episodes, with a Wilson interval (A6).

Episode ``j`` of an evaluation is always played on seed ``seed + j`` (a fresh seeded
reset of one :class:`~grounded_core.babyai_text.BabyAITextEnv`), whatever the batch
size, so every agent is measured on the same N layouts and a result can be reproduced
episode by episode. Up to ``num_envs`` episodes run at once and their prompts are scored
in one batch. The default seed base, 10**9, keeps evaluation layouts apart from the
training ones (env ``i`` trains from seed ``i``), as GLAM's test script does.

Agents (:class:`Agent`): :class:`PolicyAgent` (an LLM policy, sampling from the softmax of
its action scores as in training -- GLAM's tests sample -- or greedy) and
:class:`RandomAgent` (uniform over the actions, the paper's random baseline). A
zero-shot baseline is a :class:`PolicyAgent` over an untrained model.

:func:`wilson_interval` is the score interval for a binomial proportion: unlike the
normal approximation it stays inside [0, 1] and is informative at 0 or N successes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import torch

from ..babyai_text import BabyAITextEnv, PromptHistory

if TYPE_CHECKING:  # the LLM stack (transformers) is only imported when a policy acts
    from ..llm import LLMPolicy

__all__ = [
    "DEFAULT_EVAL_SEED",
    "Agent",
    "EvalResult",
    "PolicyAgent",
    "RandomAgent",
    "evaluate",
    "wilson_interval",
]

DEFAULT_EVAL_SEED = 1_000_000_000


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` for ``successes`` out of ``trials``."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    if (
        isinstance(successes, bool)
        or not isinstance(successes, int)
        or not 0 <= successes <= trials
    ):
        raise ValueError(f"successes must be an integer in [0, {trials}], got {successes!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or N successes the bound is exactly 0 or 1; the formula gives it only up to
    # float noise (e.g. 1e-17).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@runtime_checkable
class Agent(Protocol):
    """Chooses one action index per prompt; ``name`` labels results."""

    name: str

    def act(self, prompts: Sequence[str], action_space: Sequence[str]) -> list[int]: ...


class RandomAgent:
    """Uniformly random actions (seeded)."""

    def __init__(self, seed: int = 0, name: str = "random"):
        self.name = name
        self._rng = np.random.default_rng(seed)

    def act(self, prompts: Sequence[str], action_space: Sequence[str]) -> list[int]:
        return self._rng.integers(0, len(action_space), size=len(prompts)).tolist()


class PolicyAgent:
    """An LLM policy acting in eval mode: samples from softmax(scores) or takes argmax."""

    def __init__(
        self, policy: LLMPolicy, *, greedy: bool = False, seed: int = 0, name: str = "policy"
    ):
        self.policy = policy
        self.greedy = greedy
        self.name = name
        self._generator = torch.Generator().manual_seed(seed)

    def act(self, prompts: Sequence[str], action_space: Sequence[str]) -> list[int]:
        from .policy_loading import action_candidates

        candidates = action_candidates(self.policy, list(action_space))
        scores = self.policy.score(list(prompts), candidates).float().cpu()
        if self.greedy:
            return scores.argmax(dim=-1).tolist()
        probs = torch.softmax(scores, dim=-1)
        return torch.multinomial(probs, 1, generator=self._generator).squeeze(1).tolist()


@dataclass(frozen=True)
class EvalResult:
    """Outcome of :func:`evaluate`."""

    agent: str
    level: str
    variant: str
    episodes: int
    successes: int
    success_rate: float
    ci_low: float
    ci_high: float
    confidence: float
    mean_return: float
    mean_length: float
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        pct = round(self.confidence * 100)
        return (
            f"{self.agent} on {self.level} [{self.variant}]: success {self.success_rate:.3f} "
            f"({self.successes}/{self.episodes}, {pct}% CI {self.ci_low:.3f}-{self.ci_high:.3f}), "
            f"mean return {self.mean_return:.3f}, mean length {self.mean_length:.1f}"
        )


def evaluate(
    agent: Agent,
    level: str,
    variant: str = "none",
    episodes: int = 100,
    *,
    num_envs: int = 32,
    seed: int = DEFAULT_EVAL_SEED,
    confidence: float = 0.95,
    max_steps: int | None = None,
    grammar: str = "compat",
    task_kind: str | None = None,
    history_observations: int = 3,
    history_actions: int = 2,
    progress: bool = False,
) -> EvalResult:
    """Play ``episodes`` episodes (episode ``j`` on seed ``seed + j``) and summarise."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    options = {
        "variant": variant,
        "grammar": grammar,
        "task_kind": task_kind,
        "max_steps": max_steps,
    }
    slots = min(num_envs, episodes)
    envs = [BabyAITextEnv(level, **options) for _ in range(slots)]
    histories = [PromptHistory(history_observations, history_actions, env.variant) for env in envs]
    action_space = envs[0].action_space
    missions = [""] * slots
    returns = np.zeros(slots)
    lengths = np.zeros(slots, dtype=np.int64)
    outcomes: list[tuple[bool, float, int]] = []
    next_episode = 0

    def begin(slot: int) -> None:
        # The slot's env plays the next episode, on its own seed.
        nonlocal next_episode
        obs = envs[slot].reset(seed=seed + next_episode)
        next_episode += 1
        histories[slot].reset(obs.descriptions)
        missions[slot] = obs.mission
        returns[slot] = 0.0
        lengths[slot] = 0

    for slot in range(slots):
        begin(slot)
    active = list(range(slots))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=episodes, desc=f"eval {agent.name} {level}/{variant}", unit="ep")
    try:
        while active:
            prompts = [histories[s].prompt(missions[s]) for s in active]
            actions = agent.act(prompts, action_space)
            still = []
            for slot, action in zip(active, actions):
                obs, reward, done, info = envs[slot].step(int(action))
                returns[slot] += reward
                lengths[slot] += 1
                histories[slot].step(info["action_name"], obs.descriptions, done)
                if done:
                    outcomes.append(
                        (bool(info["success"]), float(returns[slot]), int(lengths[slot]))
                    )
                    if bar is not None:
                        bar.update(1)
                    if next_episode >= episodes:
                        continue
                    begin(slot)
                still.append(slot)
            active = still
    finally:
        if bar is not None:
            bar.close()
    successes = sum(1 for ok, _, _ in outcomes if ok)
    low, high = wilson_interval(successes, episodes, confidence)
    return EvalResult(
        agent=agent.name,
        level=envs[0].level,
        variant=envs[0].variant.name,
        episodes=episodes,
        successes=successes,
        success_rate=successes / episodes,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        mean_return=float(np.mean([r for _, r, _ in outcomes])),
        mean_length=float(np.mean([n for _, _, n in outcomes])),
        seed=seed,
    )

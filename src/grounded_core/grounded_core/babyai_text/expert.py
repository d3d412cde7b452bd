"""Expert trajectories from minigrid's BabyAI bot, and (prompt, action) datasets from them.

The bot plans on the full minigrid state of a :class:`BabyAITextEnv`; each of its actions
is recorded with the GLAM prompt (A2) the agent would have seen at that step, which is
what a behaviour-cloning baseline (MISSION A6, Q4) trains on. Prompts use the env's
variant, so French or synonym-action datasets come out in those words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from minigrid.utils.baby_ai_bot import BabyAIBot

from .env import BabyAITextEnv
from .errors import ExpertFailedError
from .prompt import PromptHistory
from .vocab import ACTIONS

__all__ = ["ExpertTrajectory", "expert_dataset", "run_expert", "write_jsonl"]


@dataclass
class ExpertTrajectory:
    """One bot episode: the prompt before each action, the action, and the outcome."""

    level: str
    seed: int | None
    variant: str
    task_kind: str | None
    mission: str
    prompts: list[str] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    action_names: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    success: bool = False
    max_steps: int = 0

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def episode_return(self) -> float:
        return float(sum(self.rewards))

    def records(self) -> list[dict]:
        """The (prompt, action) pairs of the episode, with where they come from."""
        return [
            {
                "prompt": prompt,
                "action": name,
                "action_id": action,
                "level": self.level,
                "seed": self.seed,
                "variant": self.variant,
                "task_kind": self.task_kind,
                "step": t,
                "success": self.success,
            }
            for t, (prompt, action, name) in enumerate(
                zip(self.prompts, self.actions, self.action_names)
            )
        ]

    def to_dict(self) -> dict:
        return asdict(self)


def run_expert(env: BabyAITextEnv | str, seed: int | None = None, **options) -> ExpertTrajectory:
    """Let the BabyAI bot play one episode of ``env`` (an env or a level name).

    ``options`` (variant, grammar, task_kind) are used when ``env`` is a level name.
    The bot never stops on its own before success (it would answer minigrid's "done",
    which BabyAI-Text does not have); that case ends the episode as a failure.
    """
    if isinstance(env, str):
        env = BabyAITextEnv(env, seed, **options)
    elif options:
        raise TypeError(f"options {sorted(options)} only apply when env is a level name")
    obs = env.reset(seed=seed)
    bot = BabyAIBot(env.unwrapped)
    history = PromptHistory(variant=env.variant)
    history.reset(obs.descriptions)
    traj = ExpertTrajectory(
        level=env.level,
        seed=env.seed,
        variant=env.variant.name,
        task_kind=env.task_kind,
        mission=obs.mission,
        max_steps=env.max_steps,
    )
    done = False
    while not done:
        action = int(bot.replan())
        if not 0 <= action < len(ACTIONS):
            break
        traj.prompts.append(history.prompt(obs.mission))
        obs, reward, done, info = env.step(action)
        traj.actions.append(action)
        traj.action_names.append(info["action_name"])
        traj.rewards.append(reward)
        traj.success = info["success"]
        history.step(info["action_name"], obs.descriptions, done)
    return traj


def expert_dataset(
    level: str, seeds: Iterable[int], *, skip_failures: bool = False, **options
) -> list[dict]:
    """(prompt, action) records of bot episodes of ``level``, one episode per seed.

    Raises :class:`ExpertFailedError` if the bot fails an episode, unless
    ``skip_failures`` is set (failed episodes are then left out).
    """
    records: list[dict] = []
    env = BabyAITextEnv(level, **options)
    for seed in seeds:
        traj = run_expert(env, seed)
        if not traj.success:
            if skip_failures:
                continue
            raise ExpertFailedError(
                f"the BabyAI bot failed {env.level} seed {seed} after {traj.length} steps"
            )
        records.extend(traj.records())
    return records


def write_jsonl(records: Iterable[dict], path: str | Path) -> int:
    """Write records one JSON object per line (UTF-8); returns how many were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count

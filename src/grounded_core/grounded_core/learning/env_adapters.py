"""The environment side of the GLAM learner, as a small pluggable interface.

The trainer never touches a BabyAI env directly: it talks to a :class:`TextEnvClient`,
whose messages mirror the ``babyai_text_env`` node's services (``TextEnvReset`` /
``TextEnvStep``): per environment a mission, the description sentences and an
``episode_start`` flag; per step the raw rewards, dones and successes; finished
environments reset automatically (MISSION A1). Prompts are built on the learner side
from missions and descriptions (:mod:`.rollout`), so the same learner runs against

* :class:`InProcessTextEnv` -- a :class:`~grounded_core.babyai_text.VectorBabyAITextEnv`
  in the learner's process (CLI, tests, benchmarks), and
* a ROS client of the two services (the ``glam_learner`` node implements the protocol
  with service calls; nothing here imports rclpy).

Exact resume (MISSION A4): a client may return its full state from ``state_dict()``
(the in-process adapter does: every minigrid level object, its RNG, step counters and
the vector env's bookkeeping); a remote client returns ``None`` and the trainer resets
it on resume instead (the learner's own state is still restored exactly).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..babyai_text import LEVELS, VectorBabyAITextEnv

__all__ = [
    "EnvObservation",
    "EnvReset",
    "EnvStep",
    "InProcessTextEnv",
    "TextEnvClient",
]


@dataclass(frozen=True)
class EnvObservation:
    """One environment's observation (the ``TextObservation`` message)."""

    mission: str
    descriptions: tuple[str, ...]
    episode_start: bool = False


@dataclass
class EnvReset:
    """Answer to a reset (the ``TextEnvReset`` response)."""

    observations: list[EnvObservation]
    action_space: list[str]
    level: str = ""
    variant: str = "none"
    max_steps: list[int] = field(default_factory=list)


@dataclass
class EnvStep:
    """Answer to a step (the ``TextEnvStep`` response); arrays have one entry per env."""

    observations: list[EnvObservation]
    rewards: np.ndarray
    dones: np.ndarray
    successes: np.ndarray


@runtime_checkable
class TextEnvClient(Protocol):
    """What the GLAM learner needs from a batch of text environments."""

    @property
    def num_envs(self) -> int: ...

    def reset(self) -> EnvReset:
        """Reset every env (seeded as configured) and return the first observations."""
        ...

    def step(self, action_ids: Sequence[int]) -> EnvStep:
        """Apply one action id (0-5) per env; finished envs reset automatically."""
        ...

    def state_dict(self) -> dict | None:
        """Everything needed to continue exactly, or ``None`` if not restorable."""
        ...

    def load_state_dict(self, state: dict) -> None:
        """Restore a state returned by :meth:`state_dict`."""
        ...

    def close(self) -> None: ...


def _convert(obs, episode_start: bool) -> EnvObservation:
    return EnvObservation(obs.mission, tuple(obs.descriptions), episode_start)


class _StatePickler(pickle.Pickler):
    """Pickles env state while referring to level objects and specs by name.

    The minigrid level classes of BabyAI-Text are created at import time (quiet
    subclasses), so pickle cannot find them by name; and a level object is referenced
    from inside its own state (BabyAI instructions keep ``env``). Both are replaced by
    persistent ids and re-bound to freshly built objects on load.
    """

    def __init__(self, buffer, levels: Sequence[object]):
        super().__init__(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self._levels = {id(level): i for i, level in enumerate(levels)}

    def persistent_id(self, obj):
        index = self._levels.get(id(obj))
        if index is not None:
            return ("level", index)
        spec_name = getattr(obj, "name", None)
        if isinstance(spec_name, str) and LEVELS.get(spec_name) is obj:
            return ("spec", spec_name)
        return None


class _StateUnpickler(pickle.Unpickler):
    def __init__(self, buffer, levels: Sequence[object]):
        super().__init__(buffer)
        self._levels = list(levels)

    def persistent_load(self, pid):
        kind, key = pid
        if kind == "level":
            return self._levels[key]
        if kind == "spec":
            return LEVELS[key]
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


class InProcessTextEnv:
    """:class:`TextEnvClient` over an in-process :class:`VectorBabyAITextEnv`.

    Args:
        level, num_envs, base_seed: as for :class:`VectorBabyAITextEnv` (env ``i`` is
            seeded ``base_seed + i`` at :meth:`reset`).
        **options: ``variant``, ``grammar``, ``task_kind``, ``max_steps``.
    """

    def __init__(self, level: str, num_envs: int, base_seed: int = 0, **options):
        self._options = dict(options)
        self.vector = VectorBabyAITextEnv(level, num_envs, base_seed, **options)
        self.base_seed = base_seed

    @property
    def num_envs(self) -> int:
        return self.vector.num_envs

    @property
    def level(self) -> str:
        return self.vector.level

    @property
    def variant(self) -> str:
        return self.vector.variant

    @property
    def action_space(self) -> list[str]:
        return self.vector.action_space

    def reset(self) -> EnvReset:
        observations = self.vector.reset(base_seed=self.base_seed)
        return EnvReset(
            observations=[_convert(obs, True) for obs in observations],
            action_space=self.vector.action_space,
            level=self.vector.level,
            variant=self.vector.variant,
            max_steps=[env.max_steps for env in self.vector.envs],
        )

    def step(self, action_ids: Sequence[int]) -> EnvStep:
        ids = [int(a) for a in action_ids]
        observations, rewards, dones, infos = self.vector.step(ids)
        return EnvStep(
            observations=[_convert(obs, bool(done)) for obs, done in zip(observations, dones)],
            rewards=np.asarray(rewards, dtype=np.float64),
            dones=np.asarray(dones, dtype=bool),
            successes=np.asarray([bool(info["success"]) for info in infos], dtype=bool),
        )

    # --- exact state --------------------------------------------------------------

    def _levels(self) -> list[object]:
        return [env.unwrapped for env in self.vector.envs]

    def state_dict(self) -> dict:
        """The whole batch's state as bytes (see :class:`_StatePickler`)."""
        payload = {
            "vector": {k: v for k, v in self.vector.__dict__.items() if k != "envs"},
            "envs": [
                {k: v for k, v in env.__dict__.items() if k not in ("_env", "_spec")}
                for env in self.vector.envs
            ],
            "levels": [level.__dict__ for level in self._levels()],
        }
        buffer = io.BytesIO()
        _StatePickler(buffer, self._levels()).dump(payload)
        return {
            "kind": "InProcessTextEnv",
            "level": self.level,
            "num_envs": self.num_envs,
            "base_seed": self.base_seed,
            "options": dict(self._options),
            "pickle": buffer.getvalue(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output into this batch (same level and size)."""
        if state.get("kind") != "InProcessTextEnv":
            raise ValueError(f"not an InProcessTextEnv state: kind={state.get('kind')!r}")
        mine = (self.level, self.num_envs, self._options)
        theirs = (state.get("level"), state.get("num_envs"), state.get("options"))
        if mine != theirs:
            raise ValueError(
                f"env state was saved for (level, num_envs, options) = {theirs}, "
                f"this batch is {mine}"
            )
        levels = self._levels()
        payload = _StateUnpickler(io.BytesIO(state["pickle"]), levels).load()
        for env, level, env_state, level_state in zip(
            self.vector.envs, levels, payload["envs"], payload["levels"]
        ):
            level.__dict__.clear()
            level.__dict__.update(level_state)
            env.__dict__.update(env_state)
        self.vector.__dict__.update(payload["vector"])
        self.base_seed = state["base_seed"]

    def close(self) -> None:
        """Nothing to release in-process (kept for the protocol)."""

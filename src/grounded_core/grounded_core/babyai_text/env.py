"""The BabyAI-Text environment: a minigrid BabyAI level seen and driven through text.

:class:`BabyAITextEnv` wraps one level of :data:`~.levels.LEVELS`. ``reset`` returns a
:class:`TextObservation` (mission + A1 description sentences); ``step`` takes an action
index 0-5 or its text and returns ``(observation, reward, done, info)`` with minigrid's
raw reward, ``1 - 0.9 * step_count / max_steps`` on success and 0 otherwise (A1; GLAM
trains on 20x that, which is the learner's business). A variant (see :mod:`.variants`)
rewords missions, descriptions and action names consistently.

Seeding: ``reset(seed=s)`` reseeds minigrid exactly like ``env.reset(seed=s)`` of the
original level, so a seed gives the original's layout. The task kind of a Mixed level is
drawn from a separate generator seeded from the same ``s`` (so forcing ``task_kind=``
leaves the layout draws untouched) or fixed with ``task_kind=``. When no seed is ever
given, one is drawn from OS entropy and reported in ``info["seed"]``, so every episode can
be replayed from ``(seed, episode)``.
"""

from __future__ import annotations

import numbers
import secrets
from dataclasses import dataclass, field

import numpy as np

from .actions import parse_action
from .describe import describe_view
from .errors import BabyAITextError, EpisodeFinishedError
from .french import translate_mission
from .levels import LEVELS, resolve_level_name
from .variants import Variant, get_variant
from .vocab import GRAMMARS

__all__ = ["BabyAITextEnv", "TextObservation", "make_env"]

# Tag mixed into the seed of the task-kind generator so that it is independent of
# minigrid's own generator, which gymnasium seeds from the bare seed.
_KIND_STREAM = 0x4B494E44


@dataclass(frozen=True)
class TextObservation:
    """What the agent gets: the mission and the A1 sentences, plus the raw view."""

    mission: str
    descriptions: list[str]
    image: np.ndarray = field(repr=False, compare=False)
    direction: int = 0

    def to_dict(self) -> dict:
        """JSON-friendly form (the image as nested lists)."""
        return {
            "mission": self.mission,
            "descriptions": list(self.descriptions),
            "direction": int(self.direction),
            "image": np.asarray(self.image).tolist(),
        }


def _check_seed(seed: object) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise BabyAITextError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


class BabyAITextEnv:
    """One BabyAI-Text environment. See the module docstring.

    Args:
        level: a name of :data:`LEVELS`, e.g. ``"GoToLocal"`` or ``"BabyAI-GoToLocal-v0"``.
        seed: seed used by the first ``reset()`` that is not given one.
        variant: a name of :data:`VARIANTS` (default ``"none"``) or a :class:`Variant`.
        grammar: ``"compat"`` (byte-for-byte the original text) or ``"fixed"``.
        task_kind: Mixed levels only: force one of ``goto, pickup, open, putnext, seq``.
        max_steps: override the level's step budget (A1: 64 or 128); the success
            reward ``1 - 0.9 * steps / max_steps`` uses the overridden value.
    """

    def __init__(
        self,
        level: str,
        seed: int | None = None,
        *,
        variant: str | Variant | None = None,
        grammar: str = "compat",
        task_kind: str | None = None,
        max_steps: int | None = None,
    ):
        self.level = resolve_level_name(level)
        if max_steps is not None and (
            isinstance(max_steps, bool)
            or not isinstance(max_steps, numbers.Integral)
            or max_steps < 1
        ):
            raise BabyAITextError(
                f"max_steps must be a positive integer or None, got {max_steps!r}"
            )
        self._max_steps_override = None if max_steps is None else int(max_steps)
        self._spec = LEVELS[self.level]
        self.variant = get_variant(variant)
        if grammar not in GRAMMARS:
            raise BabyAITextError(f"unknown grammar {grammar!r}; allowed: {', '.join(GRAMMARS)}")
        self.grammar = grammar
        self._forced_kind: str | None = None
        if task_kind is not None:
            self._forced_kind = self._spec.canonical_task_kind(task_kind)
        self._env = self._spec.make(task_kind=self._forced_kind)
        self._initial_seed = _check_seed(seed)
        self._seed: int | None = None
        self._episode = -1
        self._kind_rng: np.random.Generator | None = None
        self._done = True
        self._mission = ""

    # --- read-only views -------------------------------------------------------------

    @property
    def action_space(self) -> list[str]:
        """The action texts of this env (variant-dependent), index == minigrid id."""
        return list(self.variant.action_names)

    @property
    def unwrapped(self):
        """The minigrid level object (used by the BabyAI bot)."""
        return self._env

    @property
    def mission(self) -> str:
        return self._mission

    @property
    def task_kind(self) -> str | None:
        return getattr(self._env, "task_kind", None)

    @property
    def max_steps(self) -> int:
        return int(self._env.max_steps)

    @property
    def step_count(self) -> int:
        return int(self._env.step_count)

    @property
    def seed(self) -> int | None:
        """Seed of the last seeded reset (``(seed, episode)`` identifies an episode)."""
        return self._seed

    @property
    def episode(self) -> int:
        """Episodes started since the last seeded reset, minus one."""
        return self._episode

    @property
    def done(self) -> bool:
        return self._done

    # --- episode ---------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> TextObservation:
        """Start an episode; with ``seed`` the layout (and Mixed task kind) is reproducible."""
        seed = _check_seed(seed)
        if seed is None and self._kind_rng is None:
            seed = self._initial_seed if self._initial_seed is not None else secrets.randbits(32)
        if seed is not None:
            self._seed = seed
            self._episode = -1
            self._kind_rng = np.random.default_rng([seed, _KIND_STREAM])
        self._episode += 1
        if self._spec.task_kinds:
            kinds = self._spec.task_kinds
            kind = self._forced_kind or kinds[int(self._kind_rng.integers(len(kinds)))]
            self._env.set_task_kind(kind)
        raw, _ = self._env.reset(seed=seed)
        if self._max_steps_override is not None:
            # minigrid reads max_steps at every step (truncation and reward), so
            # setting it after the level is generated is enough.
            self._env.max_steps = self._max_steps_override
        self._english_mission = raw["mission"]
        self._mission = self._reword_mission(raw["mission"])
        self._done = False
        return self._observe(raw)

    def step(self, action: int | str) -> tuple[TextObservation, float, bool, dict]:
        """Apply an action (index 0-5 or text); returns ``(obs, reward, done, info)``."""
        if self._done:
            raise EpisodeFinishedError("the episode is over (or never started); call reset()")
        idx = parse_action(action, self.variant.action_names)
        raw, reward, terminated, truncated, _ = self._env.step(idx)
        done = bool(terminated or truncated)
        self._done = done
        reward = float(reward)
        info = {
            "success": bool(terminated and reward > 0),
            "step_count": self.step_count,
            "max_steps": self.max_steps,
            "terminated": bool(terminated),
            "truncated": bool(truncated and not terminated),
            "action": idx,
            "action_name": self.variant.action_names[idx],
            "symbolic": {
                "image": raw["image"],
                "direction": int(raw["direction"]),
                "mission": self._english_mission,
            },
            "level": self.level,
            "task_kind": self.task_kind,
            "seed": self._seed,
            "episode_index": self._episode,
        }
        return self._observe(raw), reward, done, info

    # --- text ------------------------------------------------------------------------

    def _reword_mission(self, mission: str) -> str:
        if self.variant.language == "french":
            mission = translate_mission(mission, self.grammar)
        return self.variant.apply(mission, self.grammar)

    def _observe(self, raw: dict) -> TextObservation:
        sentences = describe_view(raw["image"], self.variant.language, self.grammar)
        if self.variant.word_map:
            sentences = [self.variant.apply(s, self.grammar) for s in sentences]
        return TextObservation(
            mission=self._mission,
            descriptions=sentences,
            image=raw["image"],
            direction=int(raw["direction"]),
        )

    def __repr__(self) -> str:
        kind = f", task_kind={self.task_kind!r}" if self._spec.task_kinds else ""
        return f"BabyAITextEnv({self.level!r}, variant={self.variant.name!r}{kind})"


def make_env(level: str, seed: int | None = None, **options) -> BabyAITextEnv:
    """Shorthand for ``BabyAITextEnv(level, seed, **options)``."""
    return BabyAITextEnv(level, seed, **options)

"""GLAM's prompt (MISSION A2) and the observation/action history it is built from.

Layout, byte for byte::

    Possible action of the agent: turn left, turn right, go forward, pick up, drop, toggle
     \\n Goal of the agent: {mission}
     \\n Observation 0: {sentence}, {sentence}, \\n Action 0: {action}
     ...
     \\n Observation k: {sentence}, ..., \\n Action k:            <- nothing after the last

(shown on several lines here; the real prompt is one string, where ``" \\n "`` is a space,
a newline and a space). :class:`PromptHistory` keeps the last 3 observations and 2
actions, renumbered from 0 in every prompt and cleared when an episode ends, as GLAM's
training loop does. Variants change the two labels and the action list (e.g. French:
"Actions possibles pour l'agent", "But de l'agent"; "Goal of the agent" rewrites).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .variants import Variant, get_variant

__all__ = ["PromptHistory", "build_prompt"]


def _check_sentences(observations: Sequence[Sequence[str]]) -> None:
    for k, sentences in enumerate(observations):
        if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
            raise TypeError(
                f"observations[{k}] must be a list of sentences (strings), got {sentences!r}"
            )


def build_prompt(
    mission: str,
    observations: Sequence[Sequence[str]],
    actions: Sequence[str],
    action_space: Sequence[str] | None = None,
    *,
    variant: str | Variant | None = None,
) -> str:
    """GLAM's prompt for one decision (A2).

    Args:
        mission: the goal text, already in the variant's words (as the env returns it).
        observations: the last <= 3 description lists, oldest first.
        actions: the actions taken between them (one fewer than the observations, or as
            many when a final action is to be shown); more actions than observations is an
            error.
        action_space: the action texts listed in the header; defaults to the variant's.
        variant: selects the header and goal labels (English, French, "Goal" rewrites).
    """
    var = get_variant(variant)
    if not isinstance(mission, str):
        raise TypeError(f"mission must be a string, got {mission!r}")
    _check_sentences(observations)
    if isinstance(actions, str):
        raise TypeError(f"actions must be a list of action texts, got {actions!r}")
    if len(actions) > len(observations):
        raise ValueError(
            f"got {len(actions)} actions for {len(observations)} observations; "
            "there is at most one action per observation"
        )
    names = var.action_names if action_space is None else action_space
    parts = [f"{var.head_label}: {', '.join(names)}", f" \n {var.goal_label}: {mission}"]
    for k, sentences in enumerate(observations):
        parts.append(f" \n Observation {k}: ")
        parts.extend(f"{sentence}, " for sentence in sentences)
        parts.append(f"\n Action {k}: ")
        if k < len(actions):
            parts.append(str(actions[k]))
    return "".join(parts)


class PromptHistory:
    """The observation/action deques behind GLAM's prompts for one environment.

    Use: ``reset(obs.descriptions)`` after ``env.reset()``; ``prompt(mission)`` before each
    decision; ``step(action_text, obs.descriptions, done)`` after each ``env.step``. When
    ``done`` both deques are cleared before the next observation (the new episode's first
    one under auto-reset) is added, exactly like GLAM's loop.
    """

    def __init__(
        self,
        max_observations: int = 3,
        max_actions: int = 2,
        variant: str | Variant | None = None,
        action_space: Sequence[str] | None = None,
    ):
        if max_observations < 1 or max_actions < 0:
            raise ValueError(
                f"max_observations must be >= 1 and max_actions >= 0, "
                f"got {max_observations} and {max_actions}"
            )
        self.variant = get_variant(variant)
        self.action_space = list(action_space or self.variant.action_names)
        self._observations: deque[list[str]] = deque(maxlen=max_observations)
        self._actions: deque[str] = deque(maxlen=max_actions)

    @property
    def observations(self) -> list[list[str]]:
        return [list(o) for o in self._observations]

    @property
    def actions(self) -> list[str]:
        return list(self._actions)

    def clear(self) -> None:
        self._observations.clear()
        self._actions.clear()

    def reset(self, descriptions: Sequence[str]) -> None:
        """Start a new episode with its first observation."""
        self.clear()
        self.add_observation(descriptions)

    def add_observation(self, descriptions: Sequence[str]) -> None:
        _check_sentences([descriptions])
        self._observations.append(list(descriptions))

    def add_action(self, action: str) -> None:
        if not isinstance(action, str):
            raise TypeError(f"action must be its text (e.g. 'go forward'), got {action!r}")
        self._actions.append(action)

    def step(self, action: str, descriptions: Sequence[str], done: bool) -> None:
        """Record the action taken and the observation that followed it."""
        self.add_action(action)
        if done:
            self.clear()
        self.add_observation(descriptions)

    def prompt(self, mission: str) -> str:
        """The prompt for the next decision."""
        return build_prompt(
            mission,
            list(self._observations),
            list(self._actions),
            self.action_space,
            variant=self.variant,
        )

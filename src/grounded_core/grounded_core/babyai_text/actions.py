"""Turning a user's action (index or text) into a minigrid action id (MISSION A1).

Accepted: an integer 0..5 (``numpy`` integers too), the action's text in the env's
current action list (e.g. "rotate left" under the synonym variant, "tourner à gauche" in
French), or the canonical English text, which always works. Text is matched after
trimming, lower-casing and collapsing runs of spaces; underscores count as spaces
("go_forward", as GLAM's config files spell actions).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from .errors import UnknownActionError
from .vocab import ACTIONS

__all__ = ["normalize_action_text", "parse_action"]


def normalize_action_text(text: str) -> str:
    return " ".join(text.replace("_", " ").lower().split())


def parse_action(action: object, action_names: Sequence[str] = ACTIONS) -> int:
    """Return the minigrid action id (0..5) of ``action``; raise UnknownActionError."""
    allowed = [*range(len(ACTIONS)), *action_names]
    if isinstance(action, bool):
        raise UnknownActionError(action, [str(a) for a in allowed])
    if isinstance(action, numbers.Integral):
        if 0 <= int(action) < len(ACTIONS):
            return int(action)
        raise UnknownActionError(action, [str(a) for a in allowed])
    if isinstance(action, str):
        key = normalize_action_text(action)
        if key.isdigit() and int(key) < len(ACTIONS):
            return int(key)
        for names in (action_names, ACTIONS):
            for idx, name in enumerate(names):
                if normalize_action_text(name) == key:
                    return idx
    raise UnknownActionError(action, [str(a) for a in allowed])

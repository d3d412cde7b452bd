"""Exceptions raised by the BabyAI-Text library.

Every error caused by a bad user input (a level, action, variant or task-kind
name that does not exist) is a ``ValueError`` subclass whose message names the
bad value and lists the allowed ones, so that callers -- the CLI, the ROS node --
can report it without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class BabyAITextError(ValueError):
    """Base class of the input errors of :mod:`grounded_core.babyai_text`."""


def _choices(allowed: Iterable[str]) -> str:
    return ", ".join(repr(a) for a in allowed)


class _UnknownNameError(BabyAITextError):
    kind = "name"

    def __init__(self, value: object, allowed: Iterable[str], note: str = ""):
        self.value = value
        self.allowed = tuple(allowed)
        message = f"unknown {self.kind} {value!r}; allowed: {_choices(self.allowed) or 'none'}"
        super().__init__(f"{message} ({note})" if note else message)


class UnknownLevelError(_UnknownNameError):
    """A level name that is not in :data:`LEVELS`."""

    kind = "level"


class UnknownActionError(_UnknownNameError):
    """An action that is neither an index 0-5 nor one of the env's action texts."""

    kind = "action"


class UnknownVariantError(_UnknownNameError):
    """A variant name that is not in :data:`VARIANTS`."""

    kind = "variant"


class UnknownTaskKindError(_UnknownNameError):
    """A ``task_kind`` that the (mixed) level does not have."""

    kind = "task kind"


class EpisodeFinishedError(RuntimeError):
    """``step()`` was called on an env whose episode is over; call ``reset()`` first."""


class ExpertFailedError(RuntimeError):
    """The BabyAI bot could not finish an episode (kept as an error so datasets stay clean)."""

"""Exceptions raised by the tabletop world (MISSION B1).

Every error a caller can provoke with bad input is a subclass of ``ValueError``
as well as of :class:`TabletopError`, so a ROS node can catch one family and
turn it into a rejection message with the text as the reason, while plain
Python callers can keep catching ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path


class TabletopError(Exception):
    """Base class of every error raised by ``grounded_core.tabletop``."""


class WorldConfigError(TabletopError, ValueError):
    """A world description file is missing, malformed or inconsistent.

    The message always names the file and the offending field (dotted path,
    e.g. ``objects[1].mass``) so the user knows what to edit.
    """

    def __init__(self, file: str | Path | None, field: str | None, problem: str) -> None:
        self.file = str(file) if file is not None else "<in-memory config>"
        self.field = field
        self.problem = problem
        where = f"{self.file}: field '{field}'" if field else self.file
        super().__init__(f"{where}: {problem}")


class InvalidActionError(TabletopError, ValueError):
    """An action is NaN/inf, has the wrong shape, or lies outside the workspace.

    Actions are never clipped silently (the policy must learn the real bounds
    and the ROS node must be able to reject a bad command).
    """


class UnknownTaskError(TabletopError, ValueError):
    """A task name is not in the task registry of the loaded world."""


class InvalidLayoutError(TabletopError, ValueError):
    """A layout passed to ``reset`` is incomplete, out of bounds or cyclic."""

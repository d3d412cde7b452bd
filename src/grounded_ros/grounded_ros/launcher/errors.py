"""Exceptions of the launcher.

Every problem found before a process starts (a malformed launch file, an
unknown tag, a missing argument, an executable that cannot be found) is a
:class:`LaunchError`; when it can be pinned to a place in a launch file it is a
:class:`LaunchFileError` that names the file and the line, so that the message
reads like a compiler's: ``launch/x.launch.yaml:12: unknown tag 'nodes'``.
"""

from __future__ import annotations


class LaunchError(Exception):
    """The launch cannot go ahead; nothing has been started."""


class LaunchFileError(LaunchError):
    """A problem at a known place in a launch file."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class SubstitutionError(LaunchError):
    """A substitution could not be performed (unset variable, unknown package...).

    Raised without a location by :mod:`.substitutions`; the evaluator catches it
    and re-raises a :class:`LaunchFileError` naming the entity that used it.
    """

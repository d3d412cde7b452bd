"""Exceptions raised at the boundary of :mod:`grounded_core.llm`.

Every error a caller can trigger with bad input (an unknown model name, prompts or
actions of the wrong shape, a checkpoint that does not match) is one of these, with a
message that says what was expected. They subclass the builtin a caller would naturally
catch (``ValueError``, ``FileNotFoundError``) so generic handlers keep working.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CheckpointError", "LLMError", "ModelNotFoundError", "ScoringInputError"]


class LLMError(Exception):
    """Base class of the errors of :mod:`grounded_core.llm`."""


class ModelNotFoundError(LLMError, FileNotFoundError):
    """No model could be loaded from the given name or directory.

    ``tried`` lists every way that was attempted, with the reason each failed.
    """

    def __init__(self, name: str, tried: Sequence[str]):
        self.name = name
        self.tried = list(tried)
        lines = "\n".join(f"  - {t}" for t in self.tried)
        super().__init__(f"cannot load model {name!r}; tried:\n{lines}")

    def __str__(self) -> str:  # FileNotFoundError would otherwise format (errno, strerror)
        return self.args[0]


class ScoringInputError(LLMError, ValueError):
    """Prompts or candidate actions given to a policy have the wrong type or shape."""


class CheckpointError(LLMError, ValueError):
    """A saved policy directory is incomplete or does not match the requested policy."""

"""Errors of the LLM planner (MISSION B3); all are :class:`~.errors.LLMError` and
``ValueError`` so that callers (CLI, ROS node) report them as bad input."""

from __future__ import annotations

from .errors import LLMError

__all__ = ["InvalidPlanError", "PlanCanceledError", "PlannerConfigError", "PlannerError"]


class PlannerError(LLMError, ValueError):
    """Planning failed: bad instruction, bad configuration or an invalid plan."""


class PlannerConfigError(PlannerError):
    """A planner config or prompt file is malformed."""


class InvalidPlanError(PlannerError):
    """Free generation produced text that is not a valid plan; ``raw_text`` is that text.

    The text is never "fixed": the caller sees exactly what the model wrote.
    """

    def __init__(self, reason: str, raw_text: str):
        self.reason = reason
        self.raw_text = raw_text
        super().__init__(f"invalid plan: {reason}; raw model output: {raw_text!r}")


class PlanCanceledError(PlannerError):
    """Planning was stopped by its caller (``should_stop`` returned true)."""

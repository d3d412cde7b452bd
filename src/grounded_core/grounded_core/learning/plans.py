"""Where the sub-goal plan of a task comes from (MISSION B3, B5).

Collect & Infer and the skill scheduler only need "instruction -> ordered
sub-goals in the caption vocabulary". :class:`PlanSource` is that interface.

* :class:`ReferencePlanSource` (used now): the reference plans of
  ``grounded_core.tabletop.tasks`` (what the LLM planner should produce),
  looked up by task name or instruction text. Composite instructions made of
  known instructions joined by ", then " / " and then " / " then " get the
  concatenation of their plans.
* :class:`CallablePlanSource`: wraps any function ``instruction -> list[str]``,
  e.g. the LLM planner of ``grounded_core.llm.planner`` once it exists
  (``CallablePlanSource(planner.plan)``), with the output checked against the
  caption vocabulary.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Sequence

from ..tabletop.captions import parse_caption
from ..tabletop.tasks import build_tasks
from ..tabletop.world_config import WorldConfig

_SPLIT = re.compile(r"\s*(?:,\s*and then|,\s*then|\band then\b|\bthen\b)\s*", re.IGNORECASE)


class PlanError(ValueError):
    """An instruction cannot be planned, or a plan is not in the caption vocabulary."""


class PlanSource(abc.ABC):
    """instruction (or task name) -> ordered sub-goals (caption texts)."""

    @abc.abstractmethod
    def plan(self, instruction: str) -> list[str]:
        """The ordered sub-goals of ``instruction``; PlanError when it cannot be planned."""


def check_plan(plan: Sequence[str], object_names: Sequence[str]) -> list[str]:
    """The plan as a list, or :class:`PlanError` if a step is not a caption of the world."""
    plan = list(plan)
    if not plan:
        raise PlanError("the plan is empty")
    for step in plan:
        try:
            parse_caption(step, object_names)
        except ValueError as exc:
            raise PlanError(f"plan step is not a caption of this world: {exc}") from exc
    return plan


class ReferencePlanSource(PlanSource):
    """The tasks' reference plans (grounded_core.tabletop.tasks)."""

    def __init__(self, world: WorldConfig) -> None:
        self.world = world
        self.tasks = build_tasks(world)
        self._by_text = {t.instruction.lower().strip(): t for t in self.tasks.values()}

    def _one(self, text: str) -> list[str]:
        key = text.lower().strip().rstrip(".")
        task = self.tasks.get(key) or self._by_text.get(key)
        if task is None:
            known = ", ".join(sorted(self._by_text))
            raise PlanError(f"no reference plan for {text!r}; known instructions: {known}")
        return list(task.reference_plan)

    def plan(self, instruction: str) -> list[str]:
        if not isinstance(instruction, str) or not instruction.strip():
            raise PlanError(f"instruction must be a non-empty string, got {instruction!r}")
        parts = [p for p in _SPLIT.split(instruction.strip()) if p]
        plan: list[str] = []
        for part in parts:
            plan += self._one(part)
        return check_plan(plan, self.world.object_names)


class CallablePlanSource(PlanSource):
    """Any ``instruction -> list[str]`` function, its output checked against the vocabulary."""

    def __init__(self, fn: Callable[[str], Sequence[str]], world: WorldConfig) -> None:
        self.fn = fn
        self.world = world

    def plan(self, instruction: str) -> list[str]:
        return check_plan(self.fn(instruction), self.world.object_names)

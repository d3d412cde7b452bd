"""The planner's instruction set and its accuracy (MISSION B3).

``config/planner_instructions.yaml`` lists instructions with a category and the plans
that count as correct, written by hand (shorthand ``"grasp X"`` / ``"X on Y"`` or full
captions, expanded through :meth:`~.planner_space.PlanSpace.expand`). Every expected
plan is checked to be executable when the file is loaded. :func:`evaluate` plans every
instruction and reports accuracy per category; a plan is correct when it equals one of
the expected plans exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .planner_config import _REPO_CONFIG
from .planner_errors import PlannerConfigError, PlannerError
from .planner_space import PlanSpace

__all__ = [
    "CANONICAL_CATEGORIES",
    "InstructionCase",
    "default_instruction_file",
    "evaluate",
    "load_instruction_set",
]

#: The templated instructions (target: 100%); everything else is free wording.
CANONICAL_CATEGORIES = ("stack", "grasp", "stack_all", "composite")


def default_instruction_file() -> Path:
    return _REPO_CONFIG / "planner_instructions.yaml"


@dataclass(frozen=True)
class InstructionCase:
    """One instruction of the set and the plans that count as correct."""

    text: str
    category: str
    expected: tuple[tuple[str, ...], ...]


def load_instruction_set(path: str | Path | None, space: PlanSpace) -> list[InstructionCase]:
    """Read the instruction set; expand and validate every expected plan."""
    path = Path(path) if path is not None else default_instruction_file()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlannerConfigError(f"{path}: cannot read instruction set ({exc})") from exc
    items = data.get("instructions") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not items:
        raise PlannerConfigError(f"{path}: 'instructions' must be a non-empty list")
    cases = []
    for i, item in enumerate(items):
        where = f"{path}: instructions[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"text", "category", "expected"}:
            raise PlannerConfigError(f"{where} needs exactly text, category and expected")
        text, category, expected = item["text"], item["category"], item["expected"]
        if not isinstance(text, str) or not text.strip() or not isinstance(category, str):
            raise PlannerConfigError(f"{where}: text and category must be strings")
        if not isinstance(expected, list) or not expected:
            raise PlannerConfigError(f"{where}: expected must be a non-empty list of plans")
        plans = []
        for plan in expected:
            if not isinstance(plan, list):
                raise PlannerConfigError(f"{where}: each expected plan must be a list")
            try:
                full = tuple(space.expand(str(step)) for step in plan)
            except ValueError as exc:
                raise PlannerConfigError(f"{where}: {exc}") from exc
            if (reason := space.check(full)) is not None:
                raise PlannerConfigError(f"{where}: expected plan is not executable: {reason}")
            plans.append(full)
        cases.append(InstructionCase(text, category, tuple(plans)))
    return cases


def evaluate(
    plan_fn: Callable[[str], Sequence[str]],
    cases: Iterable[InstructionCase],
    *,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict:
    """Plan every case with ``plan_fn`` (instruction -> sub-goals) and score it.

    A :class:`~.planner_errors.PlannerError` (free mode: invalid text) counts as wrong
    and is recorded. Returns ``{"items": [...], "categories": {name: {n, correct,
    accuracy}}, "canonical": {...}, "overall": {...}}``.
    """
    cases = list(cases)
    iterator = progress(cases) if progress is not None else cases
    items = []
    for case in iterator:
        try:
            plan, error = list(plan_fn(case.text)), ""
        except PlannerError as exc:
            plan, error = [], str(exc)
        correct = tuple(plan) in case.expected
        items.append(
            {
                "text": case.text,
                "category": case.category,
                "plan": plan,
                "correct": correct,
                "error": error,
            }
        )
    return {"items": items, **summarize(items)}


def _tally(items: list[dict]) -> dict:
    n = len(items)
    correct = sum(1 for item in items if item["correct"])
    return {"n": n, "correct": correct, "accuracy": correct / n if n else float("nan")}


def summarize(items: list[dict]) -> dict:
    """Accuracy per category, over the canonical categories and overall."""
    categories: dict[str, list[dict]] = {}
    for item in items:
        categories.setdefault(item["category"], []).append(item)
    return {
        "categories": {name: _tally(group) for name, group in categories.items()},
        "canonical": _tally([i for i in items if i["category"] in CANONICAL_CATEGORIES]),
        "overall": _tally(items),
    }

"""Parse and validate freely generated plan text (the planner's ``free`` mode, MISSION B3).

The text is cut at the end marker, then split into sub-goals at line breaks and at
list numbers (``1.``, ``2)``) or bullets (``-``, ``*``), so both
``"1. A\\n2. B"`` and Flan-T5's one-line ``"1. A 2. B"`` parse. Each sub-goal must be
a caption of the caption set; comparison ignores letter case, repeated spaces and a
final full stop, nothing else. In the prompt's ``steps`` plan style each piece must be a
step instead (``stack the X object on the Y object`` or ``grasp the X object``,
:mod:`.planner_steps`), which stands for its captions. The sub-goals must then form an
executable plan
(:class:`~.planner_space.PlanSpace`). Anything else raises
:class:`~.planner_errors.InvalidPlanError` carrying the raw text -- a plan is never
silently repaired.
"""

from __future__ import annotations

import re

from .planner_errors import InvalidPlanError
from .planner_space import PlanSpace
from .planner_steps import clean_line, steps_to_plan

__all__ = ["parse_plan_text"]

_ITEM_START = re.compile(r"(?:^|\s)(?:\d+\s*[.)]|[-*\u2022])\s+")


def _key(text: str) -> str:
    return clean_line(text).lower()


def parse_plan_text(
    raw_text: str, space: PlanSpace, end_marker: str = "", style: str = "captions"
) -> list[str]:
    """The plan written in ``raw_text`` (lines of captions, or of steps with
    ``style="steps"``); raises :class:`InvalidPlanError` otherwise."""
    text = raw_text.split(end_marker, 1)[0] if end_marker else raw_text
    pieces: list[str] = []
    for line in text.splitlines():
        parts = _ITEM_START.split(line)
        pieces += [p.strip() for p in parts if p.strip()]
    if not pieces:
        raise InvalidPlanError("the model wrote no sub-goal", raw_text)
    if style == "steps":
        try:
            pieces = steps_to_plan(pieces)
        except ValueError as exc:
            raise InvalidPlanError(str(exc), raw_text) from exc
    by_key = {_key(c): c for c in space.captions}
    plan = []
    for i, piece in enumerate(pieces, start=1):
        caption = by_key.get(_key(piece))
        if caption is None:
            raise InvalidPlanError(
                f"sub-goal {i} {piece!r} is not a caption of the caption set", raw_text
            )
        plan.append(caption)
    reason = space.check(plan)
    if reason is not None:
        raise InvalidPlanError(f"the plan cannot be executed in order ({reason})", raw_text)
    return plan

"""Plans written as steps instead of captions (the planner prompt's ``plan_style: steps``).

The planner always chooses among executable plans of captions (:mod:`.planner_space`),
but the text the LLM scores for a plan can be written two ways:

* ``captions``: one caption per numbered line (``1. The robot is grasping the red
  object`` / ``2. The red object is on top of the blue object``);
* ``steps``: one *step* per numbered line, in the words instructions use: a grasp
  followed by putting the held object on another is ``stack the red object on the blue
  object``; a grasp that ends the plan is ``grasp the red object``.

The two are the same plan (:func:`plan_to_steps` and :func:`steps_to_plan` invert each
other on every executable plan), so the answer is still a list of captions. Why steps:
SmolLM2-135M reads an instruction much better when the plan is written in the
instruction's own words (bench/results/planner.md, same scoring rule pmi_mean: every
canonical instruction instead of 15/18, 56% of the paraphrases instead of 44%). A
steps plan grows a whole step at a time, so greedy search chooses among next steps
(:func:`next_steps`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..tabletop.captions import grasp_caption, on_top_caption, parse_caption
from .planner_space import PlanSpace

__all__ = ["clean_line", "next_steps", "plan_to_steps", "step_text", "steps_to_plan"]

STACK_STEP = "stack the {top} object on the {bottom} object"
GRASP_STEP = "grasp the {obj} object"
_STACK_RE = re.compile(r"^stack the (\w+) object on the (\w+) object$", re.IGNORECASE)
_GRASP_RE = re.compile(r"^grasp the (\w+) object$", re.IGNORECASE)


def step_text(captions: Sequence[str]) -> str:
    """The step for one grasp caption, or a grasp caption and the on-top caption that
    puts the grasped object down; ``ValueError`` for anything else."""
    parsed = [parse_caption(c) for c in captions]
    if len(parsed) == 1 and parsed[0].kind == "grasp":
        return GRASP_STEP.format(obj=parsed[0].objects[0])
    if (
        len(parsed) == 2
        and parsed[0].kind == "grasp"
        and parsed[1].kind == "on_top"
        and parsed[1].objects[0] == parsed[0].objects[0]
    ):
        top, bottom = parsed[1].objects
        return STACK_STEP.format(top=top, bottom=bottom)
    raise ValueError(f"not one step: {list(captions)!r}")


def plan_to_steps(plan: Sequence[str]) -> list[str]:
    """The steps of a plan of captions (``ValueError`` when a caption is not part of a
    grasp-and-put-down step or a final grasp)."""
    steps, i = [], 0
    while i < len(plan):
        step = plan[i : i + 2]  # a grasp and the put-down that follows it ...
        try:
            steps.append(step_text(step))
        except ValueError:  # ... or a lone grasp (raises when not that either)
            step = step[:1]
            steps.append(step_text(step))
        i += len(step)
    return steps


def clean_line(text: str) -> str:
    """A plan line as compared: repeated spaces and a final full stop dropped."""
    return " ".join(text.split()).rstrip(".").strip()


def steps_to_plan(steps: Sequence[str]) -> list[str]:
    """The captions of a list of steps (case, repeated spaces and a final full stop are
    ignored); ``ValueError`` names the first text that is not a step."""
    plan: list[str] = []
    for i, raw in enumerate(steps, start=1):
        text = clean_line(raw)
        stack, grasp = _STACK_RE.match(text), _GRASP_RE.match(text)
        if stack:
            top, bottom = stack.group(1).lower(), stack.group(2).lower()
            plan += [grasp_caption(top), on_top_caption(top, bottom)]
        elif grasp:
            plan.append(grasp_caption(grasp.group(1).lower()))
        else:
            raise ValueError(f"step {i} {raw!r} is neither {STACK_STEP!r} nor {GRASP_STEP!r}")
    return plan


def next_steps(space: PlanSpace, plan: Sequence[str]) -> list[tuple[str, ...]]:
    """The steps that may follow ``plan`` (executable, ending with a whole step): every
    executable grasp-and-put-down, then every grasp (which ends the plan)."""
    stacks, grasps = [], []
    for goal in space.next_sub_goals(plan):
        if parse_caption(goal).kind != "grasp":
            continue
        grasps.append((goal,))
        stacks += [
            (goal, then)
            for then in space.next_sub_goals([*plan, goal])
            if parse_caption(then).kind == "on_top"
        ]
    return stacks + grasps

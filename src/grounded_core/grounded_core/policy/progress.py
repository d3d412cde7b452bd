"""Which sub-goal of a plan to pursue, given the captions detected now (MISSION B5, B6).

Collect & Infer actors condition the policy on the *current* sub-goal of the
task's plan. :func:`plan_index` reads it off the detected captions of the
latest frame, reactively (a dropped cube or a fallen stack sends the agent
back to the sub-goal it undid):

* sub-goal i is *satisfied* when its caption is detected now, or when it is
  "grasp X" and the next sub-goal "X on top of Y" is satisfied (the grasp was
  consumed by placing X);
* the current sub-goal is the first unsatisfied one (``len(plan)``: all done).

Example (stack red on blue): nothing holds -> "grasp red"; holding red ->
"red on blue"; red dropped on the table -> "grasp red" again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..tabletop.captions import parse_caption


def plan_index(plan: Sequence[str], detected: Collection[str]) -> int:
    """Index of the first unsatisfied sub-goal of ``plan`` (``len(plan)`` when all are)."""
    n = len(plan)
    satisfied = [False] * n
    for i in range(n - 1, -1, -1):
        if plan[i] in detected:
            satisfied[i] = True
            continue
        if i + 1 < n and satisfied[i + 1]:
            here, nxt = parse_caption(plan[i]), parse_caption(plan[i + 1])
            if here.kind == "grasp" and nxt.kind == "on_top" and nxt.objects[0] == here.objects[0]:
                satisfied[i] = True
    for i, ok in enumerate(satisfied):
        if not ok:
            return i
    return n

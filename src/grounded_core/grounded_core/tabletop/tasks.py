"""Task registry, success predicates and instructions (MISSION B1, B3).

Tasks of the paper, generated from the object names of the loaded world:

=====================  =========================================  ==========
name                   instruction                                optimal
=====================  =========================================  ==========
``grasp_<x>``          "grasp the <x> object"                     1 step
``stack_<x>_on_<y>``   "stack the <x> object on the <y> object"   2 steps
``stack_all``          "stack all three objects"                  4 steps
=====================  =========================================  ==========

MISSION B1 names "grasp the red object"; grasping the other objects comes for
free and serves as sub-goal tasks. With red/green/blue there are 6 ordered
stack pairs. ``stack_all`` succeeds for a tower of all objects in any order.

Success is evaluated on simulator state with the predicates of predicates.py
(the same ones that label captions); reward is +1 on success, else 0 (sparse,
MISSION B1). Each task carries its step limit (``tasks.max_steps`` in the world
file, per family) and a reference plan in the caption vocabulary of MISSION B2
(what the LLM planner of B3 should produce), e.g. "stack the red object on the
blue object" -> ["The robot is grasping the red object", "The red object is on
top of the blue object"].
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from . import predicates
from .captions import grasp_caption, on_top_caption
from .errors import UnknownTaskError
from .state import WorldState
from .world_config import TolerancesConfig, WorldConfig

GRASP = "grasp"
STACK = "stack"
STACK_ALL = "stack_all"
STACK_ALL_NAME = "stack_all"

_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


@dataclass(frozen=True)
class Task:
    """One task: what to achieve, how it is said, and how long an episode may run."""

    name: str
    family: str  # "grasp", "stack" or "stack_all"
    objects: tuple[str, ...]  # grasp: (x,); stack: (top, bottom); stack_all: all objects
    instruction: str
    max_steps: int
    optimal_steps: int
    reference_plan: tuple[str, ...]

    def is_success(self, state: WorldState, tol: TolerancesConfig) -> bool:
        """True when the task is achieved in ``state``."""
        if self.family == GRASP:
            return predicates.is_grasping(state, self.objects[0], tol)
        if self.family == STACK:
            return predicates.is_on_top(state, self.objects[0], self.objects[1], tol)
        return predicates.tower_of_all(state, tol) is not None

    def reward(self, state: WorldState, tol: TolerancesConfig) -> float:
        """+1 on success, else 0 (MISSION B1)."""
        return 1.0 if self.is_success(state, tol) else 0.0


def stack_task_name(top: str, bottom: str) -> str:
    return f"{STACK}_{top}_on_{bottom}"


def grasp_task_name(name: str) -> str:
    return f"{GRASP}_{name}"


def build_tasks(config: WorldConfig) -> dict[str, Task]:
    """Every task of a world, keyed by name, in a stable order."""
    names = config.object_names
    tasks: dict[str, Task] = {}
    for x in names:
        tasks[grasp_task_name(x)] = Task(
            name=grasp_task_name(x),
            family=GRASP,
            objects=(x,),
            instruction=f"grasp the {x} object",
            max_steps=config.max_steps[GRASP],
            optimal_steps=1,
            reference_plan=(grasp_caption(x),),
        )
    for top, bottom in itertools.permutations(names, 2):
        tasks[stack_task_name(top, bottom)] = Task(
            name=stack_task_name(top, bottom),
            family=STACK,
            objects=(top, bottom),
            instruction=f"stack the {top} object on the {bottom} object",
            max_steps=config.max_steps[STACK],
            optimal_steps=2,
            reference_plan=(grasp_caption(top), on_top_caption(top, bottom)),
        )
    # Reference tower: the last object at the bottom, the first on top
    # (red on green on blue for the default world).
    tower = tuple(reversed(names))
    plan: list[str] = []
    for below, above in itertools.pairwise(tower):
        plan += [grasp_caption(above), on_top_caption(above, below)]
    count = _NUMBER_WORDS.get(len(names), str(len(names)))
    tasks[STACK_ALL_NAME] = Task(
        name=STACK_ALL_NAME,
        family=STACK_ALL,
        objects=names,
        instruction=f"stack all {count} objects",
        max_steps=config.max_steps[STACK_ALL],
        optimal_steps=2 * (len(names) - 1),
        reference_plan=tuple(plan),
    )
    return tasks


def task_names(config: WorldConfig) -> list[str]:
    """Names of every task of a world."""
    return list(build_tasks(config))


def get_task(name: str, config: WorldConfig, max_steps: int | None = None) -> Task:
    """The task called ``name``; ``max_steps`` overrides the world file's limit."""
    tasks = build_tasks(config)
    if name not in tasks:
        raise UnknownTaskError(f"unknown task {name!r}; known tasks: {', '.join(tasks)}")
    task = tasks[name]
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        task = Task(**{**task.__dict__, "max_steps": max_steps})
    return task

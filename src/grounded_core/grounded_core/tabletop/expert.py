"""Scripted expert for every tabletop task (MISSION B1).

The expert sees only a :class:`WorldState` (the same information the ROS node
publishes), abstracts it into a blocks-world state (what is held, what rests
on what, where each object is) and plans greedily:

* grasp x: put down whatever else is held, unstack whatever is on x, pick x;
* a tower ``c0, c1, ...`` (bottom to top; "stack x on y" is the tower
  ``y, x`` where y may itself sit on anything): find the longest correctly
  built prefix; if the base rests on a member of the tower, take the base down
  first; otherwise clear the top of the prefix, clear the next object, pick it
  and place it on the prefix. Anything held that is not needed next goes to a
  free spot on the table.
* stack all: any tower order succeeds; the expert simulates the greedy plan of
  every order symbolically and takes the shortest one whose motions keep the
  hand clear of other stacks, ties broken by a fixed order.

Why geometry matters: the Panda hand is ~21 cm wide along the finger axis and
its underside is only ~3.4 cm above the grasp point, so picking a cube on the
table next to a two-cube stack sweeps the stack over. The symbolic simulation
tracks positions and heights and penalises any pick/place whose hand box
(``robot.hand_half_extents``/``hand_bottom``) overlaps a taller neighbour.

The expert re-plans from the observed state at every step, so a pick that
slipped or a stack that fell is simply retried. Symbolic actions become (x, y)
actions: pick at the object's centre; place so that the held object's centre
(not the gripper) lands over the target's centre; free spots are grid points
of the spawn area farthest (in hand footprints) from every other object.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import predicates
from .errors import TabletopError
from .state import TABLE, WorldState
from .tasks import GRASP, Task
from .world_config import WorldConfig

PICK = "pick"
PLACE_ON = "place_on"
PLACE_FREE = "place_free"
#: Symbolic plans longer than this are treated as infeasible.
MAX_PLAN_LENGTH = 16
#: Cost of a motion whose hand box hits a neighbour, in primitive steps.
COLLISION_PENALTY = 100
#: Grid resolution of candidate free spots along each axis.
FREE_SPOT_GRID = 9
#: Extra horizontal margin (m) around the hand box.
HAND_MARGIN = 0.01
#: Objects whose top is this far (m) below the hand's underside cannot be hit.
HEIGHT_MARGIN = 0.003


@dataclass(frozen=True)
class SymbolicState:
    """Blocks-world abstraction of a :class:`WorldState` with object positions."""

    holding: bool  # the gripper holds something (the next primitive is a place)
    held: str | None  # which object, when it can be identified
    support: Mapping[str, str | None]  # object -> object below it, TABLE, or None if held
    xy: Mapping[str, np.ndarray]  # object -> centre (x, y); held objects keep their last one
    sizes: Mapping[str, float]

    def top_height(self, name: str) -> float:
        """Height of the top of ``name`` above the table, from the stacking relations."""
        height, current, seen = 0.0, name, set()
        while current not in (TABLE, None) and current not in seen:
            seen.add(current)
            height += self.sizes[current]
            current = self.support[current]
        return height


@dataclass(frozen=True)
class SymbolicAction:
    kind: str  # PICK, PLACE_ON or PLACE_FREE
    target: str | None = None  # object to pick, or to place on


def symbolic_state(state: WorldState, config: WorldConfig) -> SymbolicState:
    """Abstract ``state``: direct on-top relations, everything else on the table."""
    tol = config.tolerances
    held = predicates.held_object(state, tol) if state.holding else None
    support: dict[str, str | None] = dict.fromkeys(state.object_names, TABLE)
    for top, bottom in predicates.on_top_pairs(state, tol):
        support[top] = bottom
    if held is not None:
        support[held] = None
    return SymbolicState(
        holding=state.holding,
        held=held,
        support=support,
        xy={n: np.array(state.position(n)[:2]) for n in state.object_names},
        sizes={n: state.objects[n].size for n in state.object_names},
    )


def _topmost_above(sym: SymbolicState, name: str) -> str:
    """The object at the top of whatever stands on ``name`` (``name`` itself if clear)."""
    seen = {name}
    while True:
        above = [o for o, below in sym.support.items() if below == name and o not in seen]
        if not above:
            return name
        name = above[0]
        seen.add(name)


def _is_clear(sym: SymbolicState, name: str) -> bool:
    return all(below != name for below in sym.support.values())


def next_symbolic_action(
    sym: SymbolicState, goal: tuple[str, ...], grasp: bool
) -> SymbolicAction | None:
    """Greedy next step towards ``goal`` (None when it is achieved).

    ``grasp``: the goal is holding ``goal[0]``; otherwise ``goal`` is a tower
    from bottom to top.
    """
    if grasp:
        target = goal[0]
        if sym.holding:
            return None if sym.held == target else SymbolicAction(PLACE_FREE)
        return SymbolicAction(PICK, _topmost_above(sym, target))
    built = 1
    while built < len(goal) and sym.support.get(goal[built]) == goal[built - 1]:
        built += 1
    if built == len(goal) and not sym.holding:
        return None
    base_on_tower = sym.support.get(goal[0]) in goal
    if sym.holding:
        top = goal[built - 1]
        needed = goal[built] if built < len(goal) else None
        if (
            needed is not None
            and sym.held == needed
            and not base_on_tower
            and _is_clear(sym, top)
            and sym.support.get(top) is not None
        ):
            return SymbolicAction(PLACE_ON, top)
        return SymbolicAction(PLACE_FREE)
    if base_on_tower:
        return SymbolicAction(PICK, _topmost_above(sym, goal[0]))
    top = goal[built - 1]
    if not _is_clear(sym, top):
        return SymbolicAction(PICK, _topmost_above(sym, top))
    return SymbolicAction(PICK, _topmost_above(sym, goal[built]))


class ScriptedExpert:
    """Solves a task from any reachable state; ``act(state)`` gives the next (x, y)."""

    def __init__(self, config: WorldConfig, task: Task) -> None:
        self.config = config
        self.task = task
        robot = config.robot
        yaw = robot.base_yaw + robot.gripper_yaw
        # World -> gripper-frame rotation for the hand box checks.
        self._to_gripper = np.array(
            [[math.cos(yaw), math.sin(yaw)], [-math.sin(yaw), math.cos(yaw)]]
        )
        self._hand_half = np.asarray(robot.hand_half_extents) + HAND_MARGIN

    # ------------------------------------------------------------------ public

    def next_action(self, state: WorldState) -> SymbolicAction | None:
        """The symbolic action the expert takes in ``state`` (None: task achieved)."""
        sym = symbolic_state(state, self.config)
        goal = self.choose_goal(sym)
        return next_symbolic_action(sym, goal, grasp=self.task.family == GRASP)

    def act(self, state: WorldState) -> np.ndarray:
        """The next (x, y) action; raises ``TabletopError`` when the task is already solved."""
        action = self.next_action(state)
        if action is None:
            raise TabletopError(f"task {self.task.name!r} is already achieved in this state")
        return self.to_xy(action, state)

    def choose_goal(self, sym: SymbolicState) -> tuple[str, ...]:
        """The concrete goal: the grasped object, or the tower (bottom to top) to build."""
        if self.task.family == GRASP:
            return (self.task.objects[0],)
        if len(self.task.objects) == 2:  # stack top on bottom
            return (self.task.objects[1], self.task.objects[0])
        best, best_cost = None, None
        for order in itertools.permutations(self.task.objects):
            cost = self.plan_cost(sym, order)
            if cost is not None and (best_cost is None or cost < best_cost):
                best, best_cost = order, cost
        if best is None:
            raise TabletopError(f"no tower order of {self.task.objects} is reachable")
        return best

    def plan_cost(self, sym: SymbolicState, goal: tuple[str, ...]) -> int | None:
        """Steps of the greedy plan plus collision penalties (None: no convergence)."""
        grasp = self.task.family == GRASP
        cost = 0
        for _ in range(MAX_PLAN_LENGTH):
            action = next_symbolic_action(sym, goal, grasp)
            if action is None:
                return cost
            target_xy = self._symbolic_target(sym, action)
            cost += 1 + (COLLISION_PENALTY if self._hand_collides(sym, action, target_xy) else 0)
            sym = self._apply(sym, action, target_xy)
        return None

    def to_xy(self, action: SymbolicAction, state: WorldState) -> np.ndarray:
        """Map a symbolic action to a workspace location."""
        if action.kind == PICK:
            return self._clip(state.position(action.target)[:2])
        held = predicates.held_object(state, self.config.tolerances)
        # Place so that the held object's centre, not the grasp point, lands on target.
        offset = state.ee_position[:2] - state.position(held)[:2] if held else np.zeros(2)
        if action.kind == PLACE_ON:
            target = state.position(action.target)[:2]
        else:
            target = self._free_spot(symbolic_state(state, self.config))
        return self._clip(target + offset)

    # ------------------------------------------------------------------ geometry

    def _symbolic_target(self, sym: SymbolicState, action: SymbolicAction) -> np.ndarray:
        if action.kind == PLACE_FREE:
            return self._free_spot(sym)
        return sym.xy[action.target]

    def _apply(self, sym: SymbolicState, action: SymbolicAction, xy: np.ndarray) -> SymbolicState:
        """The blocks-world effect of an action, assuming it succeeds."""
        support, positions = dict(sym.support), dict(sym.xy)
        if action.kind == PICK:
            support[action.target] = None
            return SymbolicState(True, action.target, support, positions, sym.sizes)
        if sym.held is not None:
            support[sym.held] = action.target if action.kind == PLACE_ON else TABLE
            positions[sym.held] = np.asarray(xy)
        return SymbolicState(False, None, support, positions, sym.sizes)

    def _footprint_distance(self, xy: np.ndarray, other_xy: np.ndarray, size: float) -> float:
        """Distance in hand-box units (<= 1: the hand box overlaps the object)."""
        delta = np.abs(self._to_gripper @ (np.asarray(other_xy) - np.asarray(xy)))
        # The object's half size grown by sqrt(2) covers any yaw.
        reach = self._hand_half + size / 2.0 * math.sqrt(2.0)
        return float(np.max(delta / reach))

    def _hand_collides(self, sym: SymbolicState, action: SymbolicAction, xy: np.ndarray) -> bool:
        motion, hand_bottom = self.config.motion, self.config.robot.hand_bottom
        if action.kind == PICK:
            lowest = sym.top_height(action.target) - motion.grasp_depth + hand_bottom
            moving = {action.target}
        else:
            held_size = sym.sizes[sym.held] if sym.held else 0.0
            below = sym.top_height(action.target) if action.kind == PLACE_ON else 0.0
            lowest = below + held_size / 2.0 + hand_bottom
            moving = {sym.held, action.target}
        for name in sym.xy:
            if name in moving or sym.support[name] is None:
                continue
            if sym.top_height(name) < lowest - HEIGHT_MARGIN:
                continue
            if self._footprint_distance(xy, sym.xy[name], sym.sizes[name]) <= 1.0:
                return True
        return False

    def _free_spot(self, sym: SymbolicState) -> np.ndarray:
        """Spawn-area grid point farthest, in hand-box units, from every object on the table."""
        spawn = self.config.spawn.bounds
        others = [n for n in sym.xy if sym.support[n] is not None and n != sym.held]
        best, best_score = None, -1.0
        for x in np.linspace(spawn.x[0], spawn.x[1], FREE_SPOT_GRID):
            for y in np.linspace(spawn.y[0], spawn.y[1], FREE_SPOT_GRID):
                xy = np.array([x, y])
                score = min(
                    (self._footprint_distance(xy, sym.xy[n], sym.sizes[n]) for n in others),
                    default=math.inf,
                )
                if score > best_score:
                    best, best_score = xy, score
        return best

    def _clip(self, xy: np.ndarray) -> np.ndarray:
        ws = self.config.workspace
        return np.array([np.clip(xy[0], *ws.x), np.clip(xy[1], *ws.y)], dtype=float)

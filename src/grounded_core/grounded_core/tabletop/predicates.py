"""Physical relations computed from a :class:`WorldState` (MISSION B1, B2).

These predicates are the single source of truth for task success (tasks.py)
and for caption labels (captions.py), so the rewards the environment gives and
the labels the captioner is trained on can never disagree.

* grasping X: X touches both gripper fingers, does not touch the table and its
  bottom is at least ``lift_height`` above the table top ("held above the
  table", issue B1).
* X on top of Y: X rests directly on Y: they touch, X's centre is within
  ``on_top_xy`` of Y's centre horizontally, the vertical gap between the
  centres equals the sum of their half sizes within ``on_top_z``, X is not held
  (touches no finger), does not touch the table (it is not leaning on it) and
  moves slower than ``resting_speed``. "On top" is direct support only: in a
  red/green/blue tower, red is on top of green, not of blue (the caption set of
  MISSION B2 describes direct relations).
"""

from __future__ import annotations

import itertools

import numpy as np

from .state import LEFT_FINGER, RIGHT_FINGER, TABLE, WorldState
from .world_config import TolerancesConfig


def is_grasping(state: WorldState, name: str, tol: TolerancesConfig) -> bool:
    """True when the robot holds object ``name`` above the table."""
    obj = state.objects[name]
    if not (state.touching(name, LEFT_FINGER) and state.touching(name, RIGHT_FINGER)):
        return False
    if state.touching(name, TABLE):
        return False
    bottom = obj.position[2] - obj.size / 2.0
    return bool(bottom >= state.table_height + tol.lift_height)


def held_object(state: WorldState, tol: TolerancesConfig) -> str | None:
    """The object the robot is grasping, or None."""
    for name in state.object_names:
        if is_grasping(state, name, tol):
            return name
    return None


def is_on_top(state: WorldState, top: str, bottom: str, tol: TolerancesConfig) -> bool:
    """True when object ``top`` rests directly on object ``bottom``."""
    if top == bottom:
        return False
    upper, lower = state.objects[top], state.objects[bottom]
    if not state.touching(top, bottom):
        return False
    if state.touching(top, LEFT_FINGER) or state.touching(top, RIGHT_FINGER):
        return False
    if state.touching(top, TABLE):
        return False
    if float(np.linalg.norm(upper.position[:2] - lower.position[:2])) > tol.on_top_xy:
        return False
    gap = upper.position[2] - lower.position[2] - (upper.size + lower.size) / 2.0
    if abs(gap) > tol.on_top_z:
        return False
    return upper.speed <= tol.resting_speed


def on_top_pairs(state: WorldState, tol: TolerancesConfig) -> list[tuple[str, str]]:
    """All (top, bottom) pairs for which :func:`is_on_top` holds."""
    return [
        (a, b)
        for a, b in itertools.permutations(state.object_names, 2)
        if is_on_top(state, a, b, tol)
    ]


def tower_of_all(state: WorldState, tol: TolerancesConfig) -> tuple[str, ...] | None:
    """The objects from bottom to top if all of them form one tower, else None."""
    below = {top: bottom for top, bottom in on_top_pairs(state, tol)}
    names = state.object_names
    bases = [n for n in names if n not in below]
    if len(bases) != 1:
        return None
    above = {bottom: top for top, bottom in below.items()}
    if len(above) != len(below):  # two objects on the same one: not a single tower
        return None
    tower = [bases[0]]
    while tower[-1] in above:
        tower.append(above[tower[-1]])
    return tuple(tower) if len(tower) == len(names) else None

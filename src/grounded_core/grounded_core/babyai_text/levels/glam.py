"""The levels GLAM added to BabyAI, rebuilt over minigrid 3.x (MISSION A1).

* :class:`PickupLocal` -- pick up one object named with its colour, 8 distractors.
* :class:`PickUpSeqLocal` -- "pick up A, then pick up/go to B" / "... after you pick up A"
  (``PickUpSeqPickUpLocal``, ``PickUpSeqGoToLocal``).
* :class:`MixedLocal` -- ``MixedTrainLocal`` / ``MixedTestLocal``: five task kinds and the
  train/test split by colour-noun pairs.

Each ``gen_mission`` makes the original's calls to minigrid's helpers in the original's
order, one-element draws included, so that a given seed gives the original's layout.
The one intended change: the Mixed levels take their task kind as an explicit argument
(:meth:`MixedLocal.set_task_kind`) instead of drawing it from an unseeded RNG at
construction.
"""

from __future__ import annotations

from minigrid.core.constants import COLOR_NAMES
from minigrid.core.roomgrid import RoomGrid
from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel
from minigrid.envs.babyai.core.verifier import (
    OBJ_TYPES_NOT_DOOR,
    AfterInstr,
    BeforeInstr,
    GoToInstr,
    ObjDesc,
    OpenInstr,
    PickupInstr,
    PutNextInstr,
)

from ..errors import UnknownTaskKindError
from .base import TEST_ONLY_PAIRS, TRAIN_ONLY_PAIRS, QuietLevelMixin, mentions_any

__all__ = [
    "MIXED_TASK_KINDS",
    "MixedLocal",
    "PickUpSeqLocal",
    "PickupLocal",
    "canonical_task_kind",
]

# A1: the five task kinds of the Mixed levels, in the original's list order.
MIXED_TASK_KINDS: tuple[str, ...] = ("goto", "pickup", "open", "putnext", "seq")
# The original's name of the "seq" kind.
_KIND_ALIASES = {"pick up seq go to": "seq"}


def canonical_task_kind(kind: str) -> str:
    """A Mixed task kind by its name here or in the original ("pick up seq go to")."""
    key = _KIND_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    if key not in MIXED_TASK_KINDS:
        raise UnknownTaskKindError(kind, MIXED_TASK_KINDS)
    return key


class _GlamLevel(QuietLevelMixin, RoomGridLevel):
    """Single 8x8 room (or 2 rooms for Mixed/open) without unblocking, as in GLAM."""

    def __init__(self, room_size: int = 8, num_rows: int = 1, num_cols: int = 1, **kwargs):
        # Read by minigrid's validate_instrs: no unblocking, so no key/locked-door check.
        self.unblocking = False
        self.locked_room = None
        super().__init__(room_size=room_size, num_rows=num_rows, num_cols=num_cols, **kwargs)

    def _regen_grid(self) -> None:
        """The original's ``_regen_grid``: fresh walls and rooms, door positions redrawn."""
        RoomGrid._gen_grid(self, self.width, self.height)

    def _draw_target(self, objs):
        """Draw A: redrawn while it is a door (never true for distractors; keeps the draws)."""
        obj = self._rand_elem(objs)
        while obj.type == "door":
            obj = self._rand_elem(objs)
        return obj

    def _draw_second(self, obj_a, objs):
        """Draw B; if it looks like A and A is the only such object, redraw until it differs."""
        obj_b = self._rand_elem(objs)
        if obj_a.type == obj_b.type and obj_a.color == obj_b.color:
            matches, _ = ObjDesc(obj_a.type, obj_a.color).find_matching_objs(self)
            if len(matches) < 2:
                while obj_a.type == obj_b.type and obj_a.color == obj_b.color:
                    obj_b = self._rand_elem(objs)
        return obj_b

    def _one_room_with(self, num_objs: int):
        """Regenerate the empty room, place the agent, add non-unique distractors."""
        self._regen_grid()
        self.place_agent()
        objs = self.add_distractors(num_distractors=num_objs, all_unique=False)
        reachable = self.check_objs_reachable(raise_exc=False)
        return objs, reachable

    def _seq_instr(self, obj_a, obj_b, second: str):
        """Build "pick up A, then <second> B" or "<second> B after you pick up A" (one draw)."""
        instr_a = PickupInstr(ObjDesc(obj_a.type, obj_a.color))
        desc_b = ObjDesc(obj_b.type, obj_b.color)
        instr_b = PickupInstr(desc_b) if second == "pickup" else GoToInstr(desc_b)
        if self._rand_elem(["Before", "After"]) == "Before":
            return BeforeInstr(instr_a, instr_b)
        return AfterInstr(instr_b, instr_a)


class PickupLocal(_GlamLevel):
    """A1 PickupLocal: a LevelGen restricted to single pick-up instructions.

    8 distractors, no location words, no unblocking, no implicit unlock, and the object
    is always named with its colour (the original's ``force_colors``).
    """

    def __init__(self, room_size: int = 8, num_dists: int = 8, **kwargs):
        self.num_dists = num_dists
        super().__init__(room_size=room_size, **kwargs)

    def gen_mission(self):
        # LevelGen draws the locked-room coin even in a single room, where it never adds one.
        self._rand_float(0, 1)
        self.connect_all()
        self.add_distractors(num_distractors=self.num_dists, all_unique=False)
        self.place_agent()
        self.check_objs_reachable()
        # LevelGen.rand_instr: instruction kind, then action kind (one-element lists).
        self._rand_elem(["action"])
        self._rand_elem(["pickup"])
        self.instrs = PickupInstr(self._rand_colored_desc(OBJ_TYPES_NOT_DOOR))

    def _rand_colored_desc(self, types, max_tries: int = 100) -> ObjDesc:
        """LevelGen.rand_obj with force_colors=True and locations=False."""
        for _ in range(max_tries + 1):
            color = self._rand_elem(COLOR_NAMES)
            obj_type = self._rand_elem(types)
            desc = ObjDesc(obj_type, color)
            objs, _ = desc.find_matching_objs(self)
            if objs:
                return desc
        raise RecursionError("failed to find suitable object")


class PickUpSeqLocal(_GlamLevel):
    """A1 PickUpSeqPickUpLocal (``second="pickup"``) and PickUpSeqGoToLocal (``"goto"``).

    Loops until the mission avoids the test-only colour-noun pairs and every object is
    reachable: empty room, agent, 10 distractors, A (not a door), B, "Before"/"After".
    """

    def __init__(self, second: str = "pickup", room_size: int = 8, num_dists: int = 8, **kw):
        if second not in ("pickup", "goto"):
            raise ValueError(f"second must be 'pickup' or 'goto', got {second!r}")
        self.second = second
        self.num_dists = num_dists
        super().__init__(room_size=room_size, **kw)

    def gen_mission(self):
        accepted = reachable = False
        while not (accepted and reachable):
            objs, reachable = self._one_room_with(self.num_dists + 2)
            obj_a = self._draw_target(objs)
            obj_b = self._draw_second(obj_a, objs)
            self.instrs = self._seq_instr(obj_a, obj_b, self.second)
            accepted = not mentions_any(self.instrs.surface(self), TEST_ONLY_PAIRS)


class MixedLocal(_GlamLevel):
    """A1 MixedTrainLocal (``test=False``) and MixedTestLocal (``test=True``).

    The task kind is set with :meth:`set_task_kind` before ``reset``; "open" uses two rooms
    side by side with a locked door (key in the agent's room), every other kind one room.
    """

    task_kinds = MIXED_TASK_KINDS

    def __init__(self, test: bool = False, task_kind: str = "goto", num_dists: int = 8, **kw):
        self.test = test
        self.num_dists = num_dists
        self.task_kind = canonical_task_kind(task_kind)
        super().__init__(num_cols=2 if self.task_kind == "open" else 1, **kw)

    def set_task_kind(self, kind: str) -> None:
        """Choose the kind of the next episode; resizes the grid for the two-room task."""
        self.task_kind = canonical_task_kind(kind)
        self.num_cols = 2 if self.task_kind == "open" else 1
        self.width = (self.room_size - 1) * self.num_cols + 1

    def _accepted(self) -> bool:
        surface = self.instrs.surface(self)
        if self.test:
            return not mentions_any(surface, TRAIN_ONLY_PAIRS)
        return not mentions_any(surface, TEST_ONLY_PAIRS)

    def gen_mission(self):
        # The original draws its kind from a one-element action_kinds list here.
        kind = self._rand_elem([self.task_kind])
        accepted = reachable = False
        while not (accepted and reachable):
            if kind == "open":
                reachable = self._gen_open()
            elif kind in ("goto", "pickup"):
                objs, reachable = self._one_room_with(self.num_dists + 1)
                if kind == "goto":
                    obj = self._rand_elem(objs)
                    self.instrs = GoToInstr(ObjDesc(obj.type, obj.color))
                else:
                    obj = self._draw_target(objs)
                    self.instrs = PickupInstr(ObjDesc(obj.type, obj.color))
            elif kind == "putnext":
                objs, reachable = self._one_room_with(self.num_dists + 2)
                obj_1 = self._draw_target(objs)
                obj_2 = self._draw_second(obj_1, objs)
                self.instrs = PutNextInstr(
                    ObjDesc(obj_1.type, obj_1.color), ObjDesc(obj_2.type, obj_2.color)
                )
            else:
                objs, reachable = self._one_room_with(self.num_dists + 2)
                obj_a = self._draw_target(objs)
                obj_b = self._draw_second(obj_a, objs)
                self.instrs = self._seq_instr(obj_a, obj_b, "goto")
            accepted = self._accepted()

    def _gen_open(self) -> bool:
        """Two rooms, a locked door of a train (or test) colour, its key in the agent's room."""
        self._regen_grid()
        colors = ["red", "grey"] if self.test else ["yellow", "green", "blue", "purple"]
        door_color = self._rand_elem(colors)
        self._add_locked_room(door_color)
        self.connect_all()
        for j in range(self.num_rows):
            for i in range(self.num_cols):
                if self.get_room(i, j) is not self.locked_room:
                    self.add_distractors(i, j, num_distractors=self.num_dists, all_unique=False)
        while True:
            self.place_agent()
            if self.room_from_pos(*self.agent_pos) is not self.locked_room:
                break
        reachable = self.check_objs_reachable(raise_exc=False)
        # A1: train missions name the door's colour half of the time, test missions always.
        named = door_color if self.test else self._rand_elem([None, door_color])
        self.instrs = OpenInstr(ObjDesc("door", named))
        return reachable

    def _add_locked_room(self, color: str) -> None:
        """GLAM's LevelGen.add_locked_room(color): locked door on an inner wall, key elsewhere."""
        while True:
            i = self._rand_int(0, self.num_cols)
            j = self._rand_int(0, self.num_rows)
            door_idx = self._rand_int(0, 4)
            self.locked_room = self.get_room(i, j)
            if self.locked_room.neighbors[door_idx] is None:
                continue
            door, _ = self.add_door(i, j, door_idx, color=color, locked=True)
            break
        while True:
            i = self._rand_int(0, self.num_cols)
            j = self._rand_int(0, self.num_rows)
            if self.get_room(i, j) is self.locked_room:
                continue
            self.add_object(i, j, "key", door.color)
            break

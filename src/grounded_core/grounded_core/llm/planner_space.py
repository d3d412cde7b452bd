"""The executable plans over a caption vocabulary (MISSION B3): what the planner may say.

A plan is an ordered list of sub-goals, each a caption of the captioner's caption set
(:mod:`grounded_core.tabletop.captions`): ``"The robot is grasping the X object"`` and
``"The X object is on top of the Y object"``. :class:`PlanSpace` decides which lists a
scripted expert can achieve *in order* from the start state, without undoing a sub-goal
it already reached, by simulating a symbolic blocks world:

* start: every object rests on the table, the hand is empty;
* ``grasp X``: the hand is empty, nothing is on X and X rests on the table (picking an
  object off another one would undo an earlier "on top" sub-goal);
* ``X on Y``: the hand holds X, nothing is on Y; afterwards X rests on Y and the hand
  is empty;
* a plan may end after any sub-goal, so a grasp is either the last sub-goal or followed
  by putting the held object on top of another one.

So "stack X on Y" is ``grasp X, X on Y``; a tower of three is built bottom-up as two
such pairs; "X on Y and then Z on X" is the same tower. With red/green/blue this gives
21 plans (3 grasps, 6 stacks, 6 stacks followed by a grasp, 6 towers).

Captions that are neither form (a user-added relation) are kept out of plans: the
planner cannot know when they are achievable. Every caption a plan uses must be in the
caption set (a set without some "on top" caption simply has fewer plans).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..tabletop.captions import Caption, grasp_caption, on_top_caption, parse_caption

__all__ = ["TABLE", "PlanSpace", "SymbolicState"]

#: What an object rests on when it is on no other object.
TABLE = "table"


@dataclass(frozen=True)
class SymbolicState:
    """Blocks world of the plan check: what each object rests on and what is held."""

    support: tuple[tuple[str, str | None], ...]  # (object, below: object, TABLE or None=held)
    held: str | None

    @classmethod
    def start(cls, objects: Sequence[str]) -> SymbolicState:
        return cls(tuple((name, TABLE) for name in objects), None)

    def below(self, name: str) -> str | None:
        return dict(self.support)[name]

    def is_clear(self, name: str) -> bool:
        return all(below != name for _, below in self.support)

    def with_support(self, name: str, below: str | None, held: str | None) -> SymbolicState:
        return SymbolicState(tuple((n, below if n == name else b) for n, b in self.support), held)


class PlanSpace:
    """Executable plans over a caption set; see the module docstring.

    Args:
        captions: the caption set (e.g. ``load_caption_set(...).captions``).

    Raises:
        ValueError: no caption of the set is a grasp or on-top caption.
    """

    def __init__(self, captions: Iterable[str]):
        self.captions: tuple[str, ...] = tuple(captions)
        parsed: dict[str, Caption] = {}
        self.ignored: tuple[str, ...] = ()
        ignored = []
        for text in self.captions:
            try:
                parsed[text] = parse_caption(text)
            except ValueError:
                ignored.append(text)
        self.ignored = tuple(ignored)
        if not parsed:
            raise ValueError(
                "no caption of the set is a grasp or on-top caption; nothing can be planned"
            )
        self.parsed = parsed
        objects: list[str] = []
        for caption in parsed.values():
            for name in caption.objects:
                if name not in objects:
                    objects.append(name)
        self.objects: tuple[str, ...] = tuple(objects)
        self.max_length = 2 * len(self.objects)

    # --- one step ------------------------------------------------------------------------

    def start(self) -> SymbolicState:
        return SymbolicState.start(self.objects)

    def problem(self, state: SymbolicState, sub_goal: str) -> str | None:
        """Why ``sub_goal`` cannot come next in ``state``; ``None`` when it can."""
        caption = self.parsed.get(sub_goal)
        if caption is None:
            if sub_goal in self.ignored:
                return f"{sub_goal!r} is not a grasp or on-top caption; it cannot be planned"
            return f"{sub_goal!r} is not a caption of the caption set"
        if caption.kind == "grasp":
            (name,) = caption.objects
            if state.held is not None:
                return f"cannot grasp the {name} object while holding the {state.held} object"
            if not state.is_clear(name):
                return f"cannot grasp the {name} object: something is on top of it"
            if state.below(name) != TABLE:
                return (
                    f"cannot grasp the {name} object: it is on the {state.below(name)} object "
                    "(grasping it would undo an earlier sub-goal)"
                )
            return None
        top, bottom = caption.objects
        if state.held != top:
            return f"the {top} object must be grasped before it is put on the {bottom} object"
        if not state.is_clear(bottom):
            return f"cannot put the {top} object on the {bottom} object: it is not clear"
        return None

    def apply(self, state: SymbolicState, sub_goal: str) -> SymbolicState:
        """The state after ``sub_goal`` (which must be executable, see :meth:`problem`)."""
        reason = self.problem(state, sub_goal)
        if reason is not None:
            raise ValueError(reason)
        caption = self.parsed[sub_goal]
        if caption.kind == "grasp":
            name = caption.objects[0]
            return state.with_support(name, None, held=name)
        top, bottom = caption.objects
        return state.with_support(top, bottom, held=None)

    def next_sub_goals(self, plan: Sequence[str]) -> list[str]:
        """Sub-goals that may follow ``plan`` (which must be executable), in caption order."""
        state = self.run(plan)
        return [text for text in self.parsed if self.problem(state, text) is None]

    # --- whole plans -----------------------------------------------------------------

    def run(self, plan: Sequence[str]) -> SymbolicState:
        """Simulate ``plan`` from the start state; ``ValueError`` names the first bad step."""
        state = self.start()
        for i, sub_goal in enumerate(plan):
            reason = self.problem(state, sub_goal)
            if reason is not None:
                raise ValueError(f"sub-goal {i + 1}: {reason}")
            state = self.apply(state, sub_goal)
        return state

    def check(self, plan: Sequence[str]) -> str | None:
        """Why ``plan`` is not executable; ``None`` when it is."""
        if isinstance(plan, str):
            return "a plan is a list of sub-goals, not a string"
        if not plan:
            return "the plan is empty"
        try:
            self.run(plan)
        except ValueError as exc:
            return str(exc)
        return None

    def is_valid(self, plan: Sequence[str]) -> bool:
        return self.check(plan) is None

    def enumerate(self) -> list[tuple[str, ...]]:
        """Every executable non-empty plan, shortest first, then in caption order."""
        plans: list[tuple[str, ...]] = []
        frontier: list[tuple[tuple[str, ...], SymbolicState]] = [((), self.start())]
        while frontier:
            grown = []
            for plan, state in frontier:
                for text in self.parsed:
                    if self.problem(state, text) is None:
                        longer = (*plan, text)
                        plans.append(longer)
                        grown.append((longer, self.apply(state, text)))
            frontier = grown
        return plans

    # --- shorthand ---------------------------------------------------------------------

    def expand(self, step: str) -> str:
        """``"grasp red"`` -> the grasp caption, ``"red on blue"`` -> the on-top caption
        (the shorthand of the instruction set); a full caption is returned unchanged."""
        if step in self.parsed:
            return step
        words = step.split()
        if len(words) == 2 and words[0] == "grasp":
            text = grasp_caption(words[1])
        elif len(words) == 3 and words[1] == "on":
            text = on_top_caption(words[0], words[2])
        else:
            raise ValueError(f"{step!r} is neither a caption nor 'grasp X' / 'X on Y'")
        if text not in self.parsed:
            raise ValueError(f"{step!r} -> {text!r} is not in the caption set")
        return text

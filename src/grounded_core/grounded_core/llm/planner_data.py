"""Synthetic instructions with known plans, to tune the planner LLM in-domain (MISSION B3).

The captioner is trained on frames the simulator renders and labels; the planner's
in-domain data is the text analogue: :class:`InstructionGenerator` draws an executable
plan over the caption set's objects and writes an instruction for it from English
templates (verbs, nouns, prepositions, connectives, polite frames, goal-state
descriptions, relations stated from the other side, towers described bottom-up or
top-down). Every example is correct by construction: the plan is drawn first, the text
is written for it.

Four plan shapes are written, which are all the executable plans of a three-object
world (:mod:`.planner_space`)::

    grasp        [grasp X]
    stack        [grasp X, X on Y]
    stack_grasp  [grasp X, X on Y, grasp Z]
    tower        [grasp X, X on Y, grasp Z, Z on X]     (Y bottom, X middle, Z top)

With more objects the same shapes are drawn (longer plans are not written).

The templates were written from general English usage, before the held-out evaluation
set ``heldout3`` existed and without reading it; :func:`normalize_instruction` lets a
caller drop any generated text that equals an evaluation instruction
(``grounded-plan-tune --exclude``), so no evaluation instruction is trained on verbatim.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..tabletop.captions import grasp_caption, on_top_caption

__all__ = [
    "SHAPES",
    "InstructionGenerator",
    "TuningExample",
    "normalize_instruction",
]

SHAPES = ("grasp", "stack", "stack_grasp", "tower")

# --- word lists -------------------------------------------------------------------------
NOUNS = ("object", "block", "cube", "one", "piece", "box", "")  # "" = "the red"
GRASP_VERBS = ("grasp", "pick up", "grab", "take", "hold", "lift", "get", "seize", "pick")
PUT_VERBS = (
    "stack",
    "put",
    "place",
    "set",
    "move",
    "lay",
    "drop",
    "rest",
    "position",
    "pile",
    "sit",
    "stick",
    "transfer",
    "bring",
    "load",
)
ON_PREPS = ("on", "onto", "on top of", "atop", "upon", "on to")
UNDER_PREPS = ("under", "beneath", "below", "underneath")
CONNECTIVES = (
    ", then",
    " and then",
    ", and then",
    " then",
    "; then",
    ". Then",
    ", after that",
    " and after that",
    ". After that,",
    ", afterwards",
    " and afterwards",
    ", next",
    ". Next,",
    ". Once that is done,",
    " and once that's done,",
    ", and when that is done",
    " and",
    ", and",
)
PREFIXES = (
    "",
    "",
    "",
    "please ",
    "could you ",
    "can you ",
    "would you ",
    "I'd like you to ",
    "I want you to ",
    "robot, ",
    "now ",
    "go ahead and ",
    "your task is to ",
    "you need to ",
    "try to ",
)
SUFFIXES = ("", "", "", ".", "!", " please", ", please", " for me", " now")


def normalize_instruction(text: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed: the key of ``--exclude``."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


@dataclass(frozen=True)
class TuningExample:
    """One instruction and its plan (captions), with the plan's shape."""

    instruction: str
    plan: tuple[str, ...]
    shape: str


class InstructionGenerator:
    """Draws (instruction, plan) pairs; see the module docstring.

    Args:
        objects: the object names (e.g. ``PlanSpace(captions).objects``); at least 2.
        seed: seeds the draws (the same seed gives the same examples).
        shape_weights: relative frequency of each shape (default: equal; "tower" needs
            3 objects and is skipped with 2).
    """

    def __init__(
        self,
        objects: Sequence[str],
        *,
        seed: int = 0,
        shape_weights: dict[str, float] | None = None,
    ):
        self.objects = tuple(objects)
        if len(self.objects) < 2 or len(set(self.objects)) != len(self.objects):
            raise ValueError(f"need at least 2 distinct objects, got {list(objects)}")
        weights = dict.fromkeys(SHAPES, 1.0) if shape_weights is None else dict(shape_weights)
        unknown = sorted(set(weights) - set(SHAPES))
        if unknown:
            raise ValueError(f"unknown shape(s) {unknown}; known: {list(SHAPES)}")
        if len(self.objects) < 3:
            weights.pop("tower", None)
            weights.pop("stack_grasp", None)
        self.shapes = [s for s in SHAPES if weights.get(s, 0) > 0]
        if not self.shapes:
            raise ValueError("every shape has weight 0")
        self.weights = [weights[s] for s in self.shapes]
        self.rng = random.Random(seed)

    # --- public ---------------------------------------------------------------------

    def draw(self) -> TuningExample:
        """One example."""
        shape = self.rng.choices(self.shapes, self.weights)[0]
        x, y, *rest = self.rng.sample(self.objects, 3 if len(self.objects) >= 3 else 2)
        z = rest[0] if rest else None
        if shape == "grasp":
            text, plan = self._grasp(x), (grasp_caption(x),)
        elif shape == "stack":
            text, plan = self._stack(x, y), (grasp_caption(x), on_top_caption(x, y))
        elif shape == "stack_grasp":
            text = self._sequence(self._stack(x, y), self._grasp(z, first=False))
            plan = (grasp_caption(x), on_top_caption(x, y), grasp_caption(z))
        else:
            text = self._tower(bottom=y, middle=x, top=z)
            plan = (grasp_caption(x), on_top_caption(x, y), grasp_caption(z), on_top_caption(z, x))
        return TuningExample(self._frame(text), plan, shape)

    def examples(self, n: int, *, exclude: Iterable[str] = ()) -> list[TuningExample]:
        """``n`` examples, none of whose texts normalise to one in ``exclude``."""
        banned = {normalize_instruction(t) for t in exclude}
        out: list[TuningExample] = []
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > 100 * n + 1000:
                raise RuntimeError("could not draw enough examples outside the exclude list")
            example = self.draw()
            if normalize_instruction(example.instruction) not in banned:
                out.append(example)
        return out

    # --- pieces ---------------------------------------------------------------------

    def _pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(list(options))

    def _name(self, obj: str, *, article: bool = True) -> str:
        """``the red block``, ``the red one``, ``the red``, or ``red`` alone."""
        noun = self._pick(NOUNS)
        words = f"{obj} {noun}".strip()
        if article and self.rng.random() < 0.9:
            return f"the {words}"
        return words

    def _grasp(self, x: str, *, first: bool = True) -> str:
        """An instruction (or second clause) to grasp ``x`` and keep holding it."""
        verb = self._pick(GRASP_VERBS)
        name = self._name(x)
        forms = [
            f"{verb} {name}",
            f"{verb} {name}",
            f"{verb} {name} and hold it",
            f"{verb} {name} and keep it in the gripper",
            f"pick {name} up",
            f"lift {name} off the table",
            f"hold {name} in the gripper",
            f"get hold of {name}",
            f"take {name} in your hand",
        ]
        if first:
            forms += [
                f"I want the robot to be holding {name}",
                f"the gripper should hold {name}",
                f"{name} should be in the gripper",
            ]
        else:
            forms += [f"finally {verb} {name}", f"just {verb} {name}"]
        return self._pick(forms)

    def _stack(self, x: str, y: str, *, elliptic: bool = False) -> str:
        """An instruction (or clause) that puts ``x`` on top of ``y``."""
        verb, prep = self._pick(PUT_VERBS), self._pick(ON_PREPS)
        top, bottom = self._name(x), self._name(y)
        if elliptic:  # second clause after a connective: "the green on the red"
            return self._pick(
                [
                    f"{top} {prep} {bottom}",
                    f"{verb} {top} {prep} {bottom}",
                    f"{top} goes {prep} {bottom}",
                ]
            )
        under = self._pick(UNDER_PREPS)
        forms = [
            f"{verb} {top} {prep} {bottom}",
            f"{verb} {top} {prep} {bottom}",
            f"{verb} {top} {prep} {bottom}",
            f"pick up {top} and {self._pick(PUT_VERBS)} it {prep} {bottom}",
            f"grab {top} and {self._pick(('put', 'place', 'set', 'drop'))} it {prep} {bottom}",
            f"take {top} and stack it {prep} {bottom}",
            f"{top} goes {prep} {bottom}",
            f"{top} {prep} {bottom}",
            f"{top} should be {prep} {bottom}",
            f"{top} should end up {prep} {bottom}",
            f"I want {top} sitting {prep} {bottom}",
            f"make {top} sit {prep} {bottom}",
            f"get {top} {prep} {bottom}",
            f"cover {bottom} with {top}",
            f"stack {x} on {y}",
            # the same goal stated from the bottom object's side
            f"{verb} {bottom} {under} {top}",
            f"{bottom} should be {under} {top}",
            f"{bottom} goes {under} {top}",
            f"{bottom} should end up {under} {top}",
            f"use {bottom} as the base for {top}",
            f"{bottom} should support {top}",
            f"let {bottom} hold up {top}",
        ]
        return self._pick(forms)

    def _sequence(self, first: str, second: str) -> str:
        if self.rng.random() < 0.15:
            return f"first {first}, then {second}"
        if self.rng.random() < 0.05:
            return f"first {first}; second, {second}"
        return f"{first}{self._pick(CONNECTIVES)} {second}"

    def _tower(self, *, bottom: str, middle: str, top: str) -> str:
        """A tower: ``middle`` on ``bottom``, then ``top`` on ``middle``."""
        b, m, t = self._name(bottom), self._name(middle), self._name(top)
        structure = self._pick(("tower", "stack", "pile"))
        making = self._pick(("build", "make", "create", "form", "stack up", "put together"))
        at_bottom = self._pick(("at the bottom", "on the bottom", "at the base"))
        in_middle = self._pick(("in the middle", "in the centre", "in between"))
        on_top = self._pick(("on top", "at the top", "on the top"))
        return self._pick(
            [
                # the two stacking steps, in order
                self._sequence(self._stack(middle, bottom), self._stack(top, middle)),
                self._sequence(
                    self._stack(middle, bottom), self._stack(top, middle, elliptic=True)
                ),
                # a description of the finished tower
                f"{making} a {structure} with {b} {at_bottom}, {m} {in_middle} and {t} {on_top}",
                f"{making} a {structure} with {t} {on_top}, {m} {in_middle} and {b} {at_bottom}",
                f"{making} a {structure}: {b} {at_bottom}, then {m}, then {t}",
                f"{making} a {structure} of {bottom}, {middle} and {top}, from the bottom up",
                f"{making} a {structure} of {top}, {middle} and {bottom}, from the top down",
                f"stack all three with {b} {at_bottom}, {m} {in_middle} and {t} {on_top}",
                f"stack all three objects so that {t} is {on_top} and {b} is {at_bottom}",
                f"{t} on {m} on {b}",
                f"put {t} on {m} and {m} on {b}",
                f"{b} {at_bottom}, {m} {in_middle}, {t} {on_top}",
                # any tower will do: the drawn one is one correct answer
                f"stack all three {self._pick(('objects', 'blocks', 'cubes', 'pieces'))}",
                f"{making} a {structure} out of all three {self._pick(('objects', 'blocks'))}",
                f"stack every {self._pick(('object', 'block', 'cube'))} into one {structure}",
            ]
        )

    def _frame(self, text: str) -> str:
        """Politeness, questions, punctuation and case around an instruction.

        Polite frames ("could you ...") only go in front of commands; a description of
        the goal ("the red block should be on ...") keeps its own start."""
        words = text.split()
        lead = words[1] if words[0] == "first" and len(words) > 1 else words[0]
        command = lead.lower() not in {"the", "i", *self.objects}
        prefix = self._pick(PREFIXES) if command else ""
        question = prefix.strip() in {"could you", "can you", "would you"}
        out = f"{prefix}{text}{'?' if question else self._pick(SUFFIXES)}"
        if self.rng.random() < 0.3:
            out = out[:1].upper() + out[1:]
        return out

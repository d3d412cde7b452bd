"""The caption vocabulary of MISSION B2 and its truth from simulator state.

Captions (9 for red/green/blue; the text is byte-for-byte what the captioner
scores and the planner writes):

* ``"The robot is grasping the <x> object"`` for every object x;
* ``"The <x> object is on top of the <y> object"`` for every ordered pair.

Each caption is judged independently (MISSION B2: per caption, not argmax), so
the truth is a mapping caption -> bool. Truth comes from the same predicates
as task success (predicates.py), so captioner labels and rewards agree.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import predicates
from .state import WorldState
from .world_config import TolerancesConfig

GRASP_TEMPLATE = "The robot is grasping the {x} object"
ON_TOP_TEMPLATE = "The {x} object is on top of the {y} object"

_GRASP_RE = re.compile(r"^The robot is grasping the (\w+) object$")
_ON_TOP_RE = re.compile(r"^The (\w+) object is on top of the (\w+) object$")


@dataclass(frozen=True)
class Caption:
    """A parsed caption: ``kind`` is "grasp" (objects = (x,)) or "on_top" ((top, bottom))."""

    text: str
    kind: str
    objects: tuple[str, ...]


def grasp_caption(x: str) -> str:
    return GRASP_TEMPLATE.format(x=x)


def on_top_caption(x: str, y: str) -> str:
    return ON_TOP_TEMPLATE.format(x=x, y=y)


def caption_list(object_names: Sequence[str]) -> list[str]:
    """All captions in a fixed order: grasp captions, then on-top captions."""
    grasps = [grasp_caption(x) for x in object_names]
    on_tops = [on_top_caption(x, y) for x, y in itertools.permutations(object_names, 2)]
    return grasps + on_tops


def parse_caption(text: str, object_names: Sequence[str] | None = None) -> Caption:
    """Parse a caption of the vocabulary; raise ``ValueError`` for anything else."""
    match = _GRASP_RE.match(text)
    if match:
        caption = Caption(text, "grasp", (match.group(1),))
    else:
        match = _ON_TOP_RE.match(text)
        if not match or match.group(1) == match.group(2):
            raise ValueError(f"not a caption of the vocabulary: {text!r}")
        caption = Caption(text, "on_top", (match.group(1), match.group(2)))
    if object_names is not None:
        unknown = [o for o in caption.objects if o not in object_names]
        if unknown:
            raise ValueError(f"caption {text!r} names unknown object(s) {unknown}")
    return caption


def caption_holds(text: str, state: WorldState, tol: TolerancesConfig) -> bool:
    """Truth of one caption in ``state``."""
    caption = parse_caption(text, state.object_names)
    if caption.kind == "grasp":
        return predicates.is_grasping(state, caption.objects[0], tol)
    return predicates.is_on_top(state, caption.objects[0], caption.objects[1], tol)


def caption_truth(state: WorldState, tol: TolerancesConfig) -> dict[str, bool]:
    """Every caption of the state's objects -> its truth value."""
    truth = {grasp_caption(x): predicates.is_grasping(state, x, tol) for x in state.object_names}
    for x, y in itertools.permutations(state.object_names, 2):
        truth[on_top_caption(x, y)] = predicates.is_on_top(state, x, y, tol)
    return truth


def true_captions(state: WorldState, tol: TolerancesConfig) -> list[str]:
    """The captions that hold in ``state``, in :func:`caption_list` order."""
    return [text for text, holds in caption_truth(state, tol).items() if holds]

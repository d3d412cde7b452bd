"""Registry of the BabyAI-Text levels (MISSION A1).

:data:`LEVELS` maps a level name to a :class:`LevelSpec` that builds the minigrid level
object. Levels that minigrid 3.x already reproduces (GoToRedBall, GoToLocal,
PutNextLocal, the Open levels) are minigrid's own classes, only made quiet; the levels
GLAM added live in :mod:`.glam`. :func:`resolve_level_name` accepts ``GoToLocal`` as well
as ``BabyAI-GoToLocal-v0`` (case-insensitive).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType

from minigrid.envs.babyai import (
    GoToLocal,
    GoToRedBall,
    GoToRedBallNoDists,
    OpenDoor,
    OpenRedDoor,
    PutNextLocal,
    UnlockLocal,
)
from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel

from ..errors import UnknownLevelError, UnknownTaskKindError
from .base import TEST_ONLY_PAIRS, TRAIN_ONLY_PAIRS, QuietLevelMixin
from .glam import (
    MIXED_TASK_KINDS,
    MixedLocal,
    PickupLocal,
    PickUpSeqLocal,
    canonical_task_kind,
)

__all__ = [
    "LEVELS",
    "MIXED_TASK_KINDS",
    "TEST_ONLY_PAIRS",
    "TRAIN_ONLY_PAIRS",
    "LevelSpec",
    "MixedLocal",
    "get_level",
    "resolve_level_name",
]


def _quiet(cls: type[RoomGridLevel]) -> type[RoomGridLevel]:
    return type(cls.__name__, (QuietLevelMixin, cls), {"__doc__": cls.__doc__})


@dataclass(frozen=True)
class LevelSpec:
    """How to build one level; ``task_kinds`` is non-empty for the Mixed levels only."""

    name: str
    description: str
    factory: Callable[..., RoomGridLevel]
    source: str
    task_kinds: tuple[str, ...] = ()

    def make(self, task_kind: str | None = None) -> RoomGridLevel:
        """A fresh minigrid level object (not yet reset)."""
        if task_kind is not None:
            task_kind = self.canonical_task_kind(task_kind)
        if self.task_kinds:
            return self.factory(task_kind=task_kind or self.task_kinds[0])
        return self.factory()

    def canonical_task_kind(self, kind: str) -> str:
        """Validate a ``task_kind`` for this level (accepts the original's names too)."""
        if not self.task_kinds:
            raise UnknownTaskKindError(kind, (), f"{self.name} has a single task kind")
        return canonical_task_kind(kind)

    @property
    def gym_id(self) -> str:
        return f"BabyAI-{self.name}-v0"


_SPECS = (
    LevelSpec(
        "GoToRedBall",
        "go to the red ball; 8x8 room, 7 distractors",
        _quiet(GoToRedBall),
        "minigrid",
    ),
    LevelSpec(
        "GoToRedBallNoDists",
        "go to the red ball; 8x8 room, no distractor",
        _quiet(GoToRedBallNoDists),
        "minigrid",
    ),
    LevelSpec(
        "GoToLocal", "go to an object; 8x8 room, 8 distractors", _quiet(GoToLocal), "minigrid"
    ),
    LevelSpec(
        "PickupLocal",
        "pick up an object named with its colour; 8x8 room, 8 distractors",
        PickupLocal,
        "GLAM",
    ),
    LevelSpec(
        "PutNextLocal", "put an object next to another; 8x8 room", _quiet(PutNextLocal), "minigrid"
    ),
    LevelSpec(
        "OpenRedDoor",
        "open the red door; two 5x5 rooms",
        _quiet(OpenRedDoor),
        "minigrid",
    ),
    LevelSpec(
        "OpenDoor",
        "open a door named by colour or location; 3x3 rooms",
        _quiet(OpenDoor),
        "minigrid",
    ),
    LevelSpec(
        "UnlockLocal",
        "open a locked door, its key is in the room; 3x3 rooms",
        _quiet(UnlockLocal),
        "minigrid",
    ),
    LevelSpec(
        "PickUpSeqPickUpLocal",
        "pick up A, then pick up B (new composition); 8x8 room, 10 objects",
        partial(PickUpSeqLocal, second="pickup"),
        "GLAM",
    ),
    LevelSpec(
        "PickUpSeqGoToLocal",
        "pick up A, then go to B; 8x8 room, 10 objects",
        partial(PickUpSeqLocal, second="goto"),
        "GLAM",
    ),
    LevelSpec(
        "MixedTrainLocal",
        "go to / pick up / put next to / open (2 rooms) / pick up then go to; "
        "training colour-noun pairs",
        partial(MixedLocal, test=False),
        "GLAM",
        MIXED_TASK_KINDS,
    ),
    LevelSpec(
        "MixedTestLocal",
        "the MixedTrainLocal tasks restricted to the held-out colour-noun pairs",
        partial(MixedLocal, test=True),
        "GLAM",
        MIXED_TASK_KINDS,
    ),
)

LEVELS: Mapping[str, LevelSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
_BY_KEY = {name.lower(): name for name in LEVELS}


def resolve_level_name(level: str) -> str:
    """Canonical name of a level given as ``GoToLocal`` or ``BabyAI-GoToLocal-v0``."""
    if not isinstance(level, str):
        raise UnknownLevelError(level, LEVELS)
    key = level.strip()
    if key.lower().startswith("babyai-"):
        key = key[len("babyai-") :]
    if key.lower().endswith("-v0"):
        key = key[: -len("-v0")]
    name = _BY_KEY.get(key.lower())
    if name is None:
        raise UnknownLevelError(level, LEVELS)
    return name


def get_level(level: str) -> LevelSpec:
    """The :class:`LevelSpec` of a level name (see :func:`resolve_level_name`)."""
    return LEVELS[resolve_level_name(level)]

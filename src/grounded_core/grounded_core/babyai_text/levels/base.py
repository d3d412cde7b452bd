"""Shared pieces of the BabyAI-Text levels: quiet generation and the colour-noun split.

minigrid's ``RoomGridLevel._gen_grid`` prints a line on every rejected sample, which
would pollute the CLI's JSON output and the logs of a ROS node; :class:`QuietLevelMixin`
runs the very same generation loop (same calls, same order of random draws) silently.
"""

from __future__ import annotations

from minigrid.core.roomgrid import RoomGrid
from minigrid.envs.babyai.core.roomgrid_level import RejectSampling

__all__ = [
    "TEST_ONLY_PAIRS",
    "TRAIN_ONLY_PAIRS",
    "QuietLevelMixin",
    "mentions_any",
]

# A1: colour-noun pairs never seen in training (MixedTrainLocal, PickUpSeqPickUpLocal
# reject missions containing one of them; MixedTestLocal accepts only those).
TEST_ONLY_PAIRS: tuple[str, ...] = ("yellow box", "red key", "red door", "green ball", "grey door")

# The complement, as the original MixedTestLocal spells it out: a test mission must not
# contain any of these.
TRAIN_ONLY_PAIRS: tuple[str, ...] = (
    "yellow key",
    "yellow ball",
    "yellow door",
    "red box",
    "red ball",
    "green box",
    "green key",
    "green door",
    "grey box",
    "grey key",
    "grey ball",
    "blue box",
    "blue key",
    "blue ball",
    "blue door",
    "purple box",
    "purple key",
    "purple ball",
    "purple door",
)


def mentions_any(mission: str, pairs: tuple[str, ...]) -> bool:
    """True if the mission contains one of the colour-noun pairs (substring test, as GLAM)."""
    return any(pair in mission for pair in pairs)


class QuietLevelMixin:
    """Put first in the bases of a ``RoomGridLevel`` to generate levels without printing."""

    def _gen_grid(self, width, height):
        # Same loop as minigrid's RoomGridLevel._gen_grid: regenerate the rooms, the mission,
        # validate it, and start over on RecursionError/RejectSampling.
        while True:
            try:
                RoomGrid._gen_grid(self, width, height)
                self.gen_mission()
                self.validate_instrs(self.instrs)
            except (RecursionError, RejectSampling):
                continue
            break
        self.surface = self.instrs.surface(self)
        self.mission = self.surface

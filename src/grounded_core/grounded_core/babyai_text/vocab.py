"""Words of BabyAI-Text: the action names and the object vocabulary, English and French.

The action list and its order are fixed by MISSION A1 (``turn left`` .. ``toggle`` are
minigrid action ids 0..5). The French words are those of the original GLAM
BabyAI-Text fork (feminine colour forms because every French noun used is feminine).
"""

from __future__ import annotations

from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

# A1: text actions, index == minigrid action id. minigrid's 7th action ("done") is not
# part of BabyAI-Text.
ACTIONS: tuple[str, ...] = ("turn left", "turn right", "go forward", "pick up", "drop", "toggle")
ACTION_IDS: dict[str, int] = {name: i for i, name in enumerate(ACTIONS)}

# A1 / paper Fig. 4: synonym actions, same order as ACTIONS.
SYNONYM_ACTIONS: tuple[str, ...] = (
    "rotate left",
    "rotate right",
    "move ahead",
    "take",
    "release",
    "switch",
)

# French action names used by GLAM's French prompts, same order as ACTIONS.
FRENCH_ACTIONS: tuple[str, ...] = (
    "tourner à gauche",
    "tourner à droite",
    "aller tout droit",
    "attraper",
    "lâcher",
    "basculer",
)

LANGUAGES: tuple[str, ...] = ("english", "french")
GRAMMARS: tuple[str, ...] = ("compat", "fixed")

IDX_TO_COLOR: dict[int, str] = {i: c for c, i in COLOR_TO_IDX.items()}
IDX_TO_OBJECT: dict[int, str] = {i: o for o, i in OBJECT_TO_IDX.items()}
IDX_TO_STATE: dict[int, str] = {i: s for s, i in STATE_TO_IDX.items()}

UNSEEN = OBJECT_TO_IDX["unseen"]
EMPTY = OBJECT_TO_IDX["empty"]
WALL = OBJECT_TO_IDX["wall"]
DOOR = OBJECT_TO_IDX["door"]

FRENCH_COLORS: dict[str, str] = {
    "red": "rouge",
    "green": "verte",
    "blue": "bleue",
    "purple": "violette",
    "yellow": "jaune",
    "grey": "grise",
}
FRENCH_OBJECTS: dict[str, str] = {
    "unseen": "non visible",
    "empty": "vide",
    "wall": "mur",
    "floor": "sol",
    "door": "porte",
    "key": "clef",
    "ball": "balle",
    "box": "boîte",
    "goal": "but",
    "lava": "lave",
    "agent": "agent",
}
FRENCH_STATES: dict[str, str] = {"open": "ouverte", "closed": "fermée", "locked": "fermée à clef"}

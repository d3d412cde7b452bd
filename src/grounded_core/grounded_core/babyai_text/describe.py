"""Text from the view: the sentence list of BabyAI-Text for one egocentric observation.

``describe_view`` turns minigrid's 7x7x3 ``(type, colour, state)`` view encoding into
the list of sentences that GLAM's BabyAI-Text returned as ``info["descriptions"]``,
following MISSION A1 to the letter (sentence order, the wall rule, distance phrasing,
the "a open" article quirk). It only needs the image: the carried object is the one
encoded in the agent's own cell (minigrid puts it there), and unseen cells are type 0.
"""

from __future__ import annotations

import numpy as np

from .errors import BabyAITextError
from .vocab import (
    DOOR,
    EMPTY,
    FRENCH_COLORS,
    FRENCH_OBJECTS,
    FRENCH_STATES,
    GRAMMARS,
    IDX_TO_COLOR,
    IDX_TO_OBJECT,
    IDX_TO_STATE,
    LANGUAGES,
    UNSEEN,
    WALL,
)

__all__ = ["describe_view"]


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise BabyAITextError(f"unknown language {language!r}; allowed: {', '.join(LANGUAGES)}")


def _check_grammar(grammar: str) -> None:
    if grammar not in GRAMMARS:
        raise BabyAITextError(f"unknown grammar {grammar!r}; allowed: {', '.join(GRAMMARS)}")


def _steps(n: int, french: bool) -> str:
    # A1: "1 step", "n steps"; the French original never pluralises "pas".
    if french:
        return f"{n} pas"
    return f"{n} step{'s' if n > 1 else ''}"


def _distance(dx: int, dy: int, french: bool) -> str:
    """A1 distances with dx = x - agent_x, dy = agent_y - y (dy >= 0 in the view)."""
    forward = "devant" if french else "forward"
    side = ("à droite" if french else "right") if dx > 0 else ("à gauche" if french else "left")
    if dx == 0:
        return f"{_steps(dy, french)} {forward}"
    if dy == 0:
        return f"{_steps(abs(dx), french)} {side}"
    joiner = " et " if french else " and "
    return f"{_steps(abs(dx), french)} {side}{joiner}{_steps(dy, french)} {forward}"


def _noun(type_idx: int, color_idx: int, state_idx: int, french: bool) -> str:
    obj = IDX_TO_OBJECT[type_idx]
    color = IDX_TO_COLOR[color_idx]
    if french:
        noun = f"{FRENCH_OBJECTS[obj]} {FRENCH_COLORS[color]}"
        if type_idx == DOOR:
            noun += f" {FRENCH_STATES[IDX_TO_STATE[state_idx]]}"
        return noun
    if type_idx == DOOR:
        return f"{IDX_TO_STATE[state_idx]} {color} {obj}"
    return f"{color} {obj}"


def describe_view(
    image: np.ndarray, language: str = "english", grammar: str = "compat"
) -> list[str]:
    """Describe an egocentric minigrid view encoding as BabyAI-Text sentences.

    Args:
        image: ``(W, H, 3)`` integer array indexed ``[x, y]`` (minigrid's ``obs["image"]``,
            normally 7x7x3). The agent sits at ``x = W // 2``, ``y = H - 1`` facing ``y = 0``.
        language: ``"english"`` or ``"french"``.
        grammar: ``"compat"`` reproduces the original byte for byte, including the article
            quirk "You see a open red door"; ``"fixed"`` writes "an open".

    Returns:
        The sentences in A1 order: what is carried, then the walls (forward, left, right),
        then every other visible object column by column from the left, far to near.
    """
    _check_language(language)
    _check_grammar(grammar)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BabyAITextError(f"image must have shape (W, H, 3), got {arr.shape}")
    french = language == "french"
    # Plain nested lists: indexing them is several times faster than numpy scalars.
    cells: list[list[list[int]]] = arr.astype(np.int64, copy=False).tolist()
    width, height = arr.shape[0], arr.shape[1]
    ax, ay = width // 2, height - 1

    out: list[str] = []

    # A1 (1): the carried object is encoded in the agent's own cell.
    t, c, _ = cells[ax][ay]
    if t not in (UNSEEN, EMPTY, WALL):
        obj, color = IDX_TO_OBJECT[t], IDX_TO_COLOR[c]
        if french:
            out.append(f"Tu portes une {FRENCH_OBJECTS[obj]} {FRENCH_COLORS[color]}")
        else:
            out.append(f"You carry a {color} {obj}")

    # A1 (2), the wall rule: per direction, skip unseen/empty cells and stop at the first
    # other cell; only a wall there is described (a wall behind an object/door is not).
    rays = (
        ("forward", "devant", [(ax, y) for y in range(ay - 1, -1, -1)]),
        ("left", "à gauche", [(x, ay) for x in range(ax - 1, -1, -1)]),
        ("right", "à droite", [(x, ay) for x in range(ax + 1, width)]),
    )
    for en_dir, fr_dir, ray in rays:
        for x, y in ray:
            t = cells[x][y][0]
            if t in (UNSEEN, EMPTY):
                continue
            if t == WALL:
                n = abs(x - ax) + (ay - y)
                if french:
                    out.append(f"Tu vois un mur à {n} pas {fr_dir}")
                else:
                    out.append(f"You see a wall {_steps(n, False)} {en_dir}")
            break

    # A1 (3): every other visible non-empty, non-wall cell but the agent's own, column-major
    # from the left (x = 0..W-1) and far to near (y = 0..H-1).
    for x in range(width):
        column = cells[x]
        for y in range(height):
            t, c, s = column[y]
            if t in (UNSEEN, EMPTY, WALL) or (x == ax and y == ay):
                continue
            where = _distance(x - ax, ay - y, french)
            noun = _noun(t, c, s, french)
            if french:
                out.append(f"Tu vois une {noun} {where}")
            elif grammar == "fixed" and noun[0] in "aeiou":
                out.append(f"You see an {noun} {where}")
            else:
                # A1: the original always writes "a", even before "open".
                out.append(f"You see a {noun} {where}")
    return out

"""Object-renaming symmetry of the planner's scores (``symmetry: objects``).

Planning is symmetric under renaming the objects: if ``P`` is the right plan for
"stack the red object on the blue object", then swapping red and green in both gives
the right plan for "stack the green object on the blue object". A small LLM does not
respect this: it prefers some colours over others, and some orders of two colours,
independently of the instruction (SmolLM2-135M picks "grasp green, green on red" for
"stack the red object on the green object"). Averaging a plan's log-probability over
every renaming ``s`` of the objects,

    score(P | I) = mean over s of  log p(s(P) | s(I)),

gives a scorer for which every colour is alike: what is left is what the LLM
understands of the instruction's *structure* (which object moves, which stays, in
which order). The worked examples of the prompt are not renamed.

Only whole-word mentions of the objects' names are renamed (``red`` but not
``reddish``; the first letter's case is kept). A colour the caption set does not know
("crimson") is left alone, so an instruction written only with such words gets
scores averaged over plans it says nothing to tell apart -- the same ranking as
without the symmetry, only flatter. Cost: one scoring pass per renaming, ``k!`` for
``k`` objects (6 for red/green/blue); :data:`MAX_SYMMETRY_OBJECTS` bounds it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

__all__ = ["MAX_SYMMETRY_OBJECTS", "object_renamings", "rename_objects"]

#: More objects than this make ``symmetry: objects`` refuse (7! = 5040 passes).
MAX_SYMMETRY_OBJECTS = 5


def object_renamings(objects: Sequence[str]) -> list[dict[str, str]]:
    """Every permutation of ``objects`` as a name -> name mapping, identity first."""
    names = list(objects)
    if len(names) > MAX_SYMMETRY_OBJECTS:
        raise ValueError(
            f"symmetry=objects averages over {len(names)}! renamings of {names}; "
            f"at most {MAX_SYMMETRY_OBJECTS} objects are supported"
        )
    return [dict(zip(names, perm)) for perm in itertools.permutations(names)]


def rename_objects(text: str, mapping: Mapping[str, str]) -> str:
    """``text`` with every whole-word object name replaced at once (no chaining)."""
    lower = {name.lower(): new for name, new in mapping.items()}
    names = sorted((n for n in lower if lower[n] != n), key=len, reverse=True)
    if not names:
        return text
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", re.IGNORECASE)

    def swap(match: re.Match) -> str:
        word = match.group(0)
        new = lower[word.lower()]
        return new[:1].upper() + new[1:] if word[:1].isupper() else new

    return pattern.sub(swap, text)

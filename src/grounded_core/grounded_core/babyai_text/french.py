"""French missions for the French variant of BabyAI-Text (MISSION A1, paper Fig. 4).

Two translations of an English BabyAI mission:

* ``grammar="compat"`` reproduces GLAM's French prompt code byte for byte: it only ever
  wrote ``"aller à {det} {noun} {colour}"``, picking each word by substring tests on the
  English mission (so "go to the red ball" becomes "aller à une balle rouge", because
  "ball" contains "a"). Kept so that French prompts match the original's.
* ``grammar="fixed"`` translates the whole BabyAI grammar (go to / pick up / open /
  put next to, "and", ", then", "after you", locations) into correct French.
"""

from __future__ import annotations

import re

from .errors import BabyAITextError
from .vocab import FRENCH_COLORS

__all__ = ["translate_mission"]

# GLAM's dictionaries, in their order: later matches overwrite earlier ones.
_COMPAT_DET = {"the": "la", "a": "une"}
_COMPAT_NOUN = {"box": "boîte", "ball": "balle", "key": "clef"}


def _translate_compat(mission: str) -> str:
    det = noun = adj = ""
    for en, fr in _COMPAT_DET.items():
        if en in mission:
            det = fr
    for en, fr in _COMPAT_NOUN.items():
        if en in mission:
            noun = fr
    for en, fr in FRENCH_COLORS.items():
        if en in mission:
            adj = fr
    return "aller à " + det + " " + noun + " " + adj


# --- fixed grammar ---------------------------------------------------------------------

_FEMININE_NOUNS = {"box": "boîte", "ball": "balle", "key": "clef", "door": "porte"}
_MASCULINE_COLORS = {
    "red": "rouge",
    "green": "vert",
    "blue": "bleu",
    "purple": "violet",
    "yellow": "jaune",
    "grey": "gris",
}
_LOCATIONS = {
    " in front of you": " devant toi",
    " behind you": " derrière toi",
    " on your left": " à ta gauche",
    " on your right": " à ta droite",
}
_DESC_RE = re.compile(
    r"^(the|a) (?:(red|green|blue|purple|yellow|grey) )?(box|ball|key|door|object)"
    r"( in front of you| behind you| on your left| on your right)?$"
)
# infinitive -> perfect infinitive, for "A after you B" ("A après avoir B").
_VERBS = {
    "go to": ("aller à", "être allé à"),
    "pick up": ("attraper", "avoir attrapé"),
    "open": ("ouvrir", "avoir ouvert"),
    "put": ("poser", "avoir posé"),
}


def _desc(text: str, mission: str) -> str:
    match = _DESC_RE.match(text)
    if match is None:
        raise BabyAITextError(f"cannot translate object description {text!r} in {mission!r}")
    det, color, noun, loc = match.groups()
    if noun == "object":
        word = "objet"
        if color:
            word += " " + _MASCULINE_COLORS[color]
        out = ("l'" if det == "the" else "un ") + word
    else:
        word = _FEMININE_NOUNS[noun]
        if color:
            word += " " + FRENCH_COLORS[color]
        out = ("la " if det == "the" else "une ") + word
    return out + (_LOCATIONS[loc] if loc else "")


def _with_de(desc: str) -> str:
    return "d'" + desc if desc.startswith(("un ", "une ")) else "de " + desc


def _action(text: str, mission: str, perfect: bool) -> str:
    for en, (inf, perf) in _VERBS.items():
        if not text.startswith(en + " "):
            continue
        verb = perf if perfect else inf
        rest = text[len(en) + 1 :]
        if en == "put":
            move, sep, fixed = rest.partition(" next to ")
            if not sep:
                break
            return f"{verb} {_desc(move, mission)} à côté {_with_de(_desc(fixed, mission))}"
        return f"{verb} {_desc(rest, mission)}"
    raise BabyAITextError(f"cannot translate instruction {text!r} in {mission!r}")


def _conj(text: str, mission: str, perfect: bool = False) -> str:
    parts = text.split(" and ")
    if len(parts) > 2:
        raise BabyAITextError(f"cannot translate instruction {text!r} in {mission!r}")
    return " et ".join(_action(p, mission, perfect) for p in parts)


def _translate_fixed(mission: str) -> str:
    if ", then " in mission:
        first, second = mission.split(", then ", 1)
        return f"{_conj(first, mission)}, puis {_conj(second, mission)}"
    if " after you " in mission:
        later, earlier = mission.split(" after you ", 1)
        return f"{_conj(later, mission)} après {_conj(earlier, mission, perfect=True)}"
    return _conj(mission, mission)


def translate_mission(mission: str, grammar: str = "compat") -> str:
    """Translate an English BabyAI mission into French (see the module docstring)."""
    if grammar == "compat":
        return _translate_compat(mission)
    if grammar == "fixed":
        return _translate_fixed(mission)
    raise BabyAITextError(f"unknown grammar {grammar!r}; allowed: 'compat', 'fixed'")

"""Generalisation variants of BabyAI-Text (MISSION A1, paper Fig. 4) and their registry.

A :class:`Variant` changes what the agent reads, never the world: a word map applied to
missions and descriptions (out-of-vocabulary nouns, invented nouns/colours), the action
names (synonym actions), the prompt labels ("Goal of the agent" rewrites) or the language
(French). :data:`VARIANTS` names every variant; the environment, the prompt builder, the
expert and the CLI all resolve names through :func:`get_variant`.

The word maps are GLAM's post-training test dictionaries, in their order. With
``grammar="compat"`` they are applied the way GLAM did (plain substring replacement, which
e.g. turns the French "ouverte" into "oujatu" under invented colours); with
``grammar="fixed"`` only whole words are replaced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import UnknownVariantError
from .vocab import ACTIONS, FRENCH_ACTIONS, SYNONYM_ACTIONS

__all__ = ["VARIANTS", "Variant", "get_variant"]


@dataclass(frozen=True)
class Variant:
    """One way of rewording BabyAI-Text. See the module docstring."""

    name: str
    description: str
    language: str = "english"
    word_map: Mapping[str, str] = field(default_factory=dict)
    # Map used with grammar="fixed" (whole words); defaults to ``word_map``.
    fixed_word_map: Mapping[str, str] | None = None
    action_names: tuple[str, ...] = ACTIONS
    head_label: str = "Possible action of the agent"
    goal_label: str = "Goal of the agent"
    # Name of the matching test in GLAM's post-training script, if any.
    original_name: str = ""

    def apply(self, text: str, grammar: str = "compat") -> str:
        """Apply the word map to one mission or description sentence."""
        if grammar == "fixed":
            for old, new in (self.fixed_word_map or self.word_map).items():
                text = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text)
            return text
        for old, new in self.word_map.items():
            text = text.replace(old, new)
        return text


_OOV_NOUNS = {"key": "chair", "ball": "table", "box": "car"}
_ADJ_SYNONYMS = {
    "red": "vermilion",
    "green": "jade",
    "blue": "cyan",
    "purple": "violet",
    "yellow": "golden",
    "grey": "silver",
}
_INVENTED_NOUNS = {"key": "dax", "ball": "xolo", "box": "afze"}
_INVENTED_COLORS = {
    "red": "faze",
    "green": "jatu",
    "blue": "croh",
    "purple": "vurst",
    "yellow": "gakul",
    "grey": "sil",
}
_FR_OOV_NOUNS = {"clef": "chaise", "balle": "table", "boîte": "voiture"}
# GLAM's French dictionary has "gris" (not "grise"); kept for compat, corrected when fixed.
_FR_ADJ_SYNONYMS = {
    "rouge": "vermilion",
    "verte": "jade",
    "bleue": "cyan",
    "violette": "mauve",
    "jaune": "dorée",
    "gris": "argent",
}
_FR_ADJ_SYNONYMS_FIXED = {
    **{k: v for k, v in _FR_ADJ_SYNONYMS.items() if k != "gris"},
    "grise": "argentée",
}
_FR_INVENTED_NOUNS = {"clef": "dax", "balle": "xolo", "boîte": "afze"}
_FR_INVENTED_COLORS = {
    "rouge": "faze",
    "verte": "jatu",
    "bleue": "croh",
    "violette": "vurst",
    "jaune": "gakul",
    "grise": "sil",
}

_FRENCH = {
    "language": "french",
    "action_names": FRENCH_ACTIONS,
    "head_label": "Actions possibles pour l'agent",
    "goal_label": "But de l'agent",
}

_ALL = (
    Variant("none", "unchanged BabyAI-Text", original_name="no_modification_test"),
    Variant(
        "oov_nouns",
        "out-of-vocabulary nouns: key->chair, ball->table, box->car",
        word_map=_OOV_NOUNS,
        original_name="other_name_same_categories",
    ),
    Variant(
        "adj_synonyms",
        "colour synonyms: red->vermilion, green->jade, ...",
        word_map=_ADJ_SYNONYMS,
        original_name="adj_synonym",
    ),
    Variant(
        "invented_nouns",
        "invented nouns: key->dax, ball->xolo, box->afze",
        word_map=_INVENTED_NOUNS,
        original_name="no_meaning_nouns",
    ),
    Variant(
        "invented_colors",
        "invented colours: red->faze, green->jatu, blue->croh, purple->vurst, ...",
        word_map=_INVENTED_COLORS,
        original_name="no_meaning_adj",
    ),
    Variant(
        "invented_words",
        "invented nouns and colours together",
        word_map={**_INVENTED_NOUNS, **_INVENTED_COLORS},
        original_name="no_meaning_words",
    ),
    Variant(
        "goal_speaker",
        "prompt says 'I would like the agent to' instead of 'Goal of the agent'",
        goal_label="I would like the agent to",
        original_name="change_intro_first_personne_speaker",
    ),
    Variant(
        "goal_agent",
        "prompt says 'You have to' instead of 'Goal of the agent'",
        goal_label="You have to",
        original_name="change_intro_first_personne_agent",
    ),
    Variant(
        "synonym_actions",
        "actions renamed: rotate left, rotate right, move ahead, take, release, switch",
        action_names=SYNONYM_ACTIONS,
    ),
    Variant("french", "French missions, descriptions, actions and prompt labels", **_FRENCH),
    Variant(
        "french_oov_nouns",
        "French with out-of-vocabulary nouns: clef->chaise, balle->table, boîte->voiture",
        word_map=_FR_OOV_NOUNS,
        **_FRENCH,
    ),
    Variant(
        "french_adj_synonyms",
        "French with colour synonyms",
        word_map=_FR_ADJ_SYNONYMS,
        fixed_word_map=_FR_ADJ_SYNONYMS_FIXED,
        **_FRENCH,
    ),
    Variant(
        "french_invented_nouns",
        "French with invented nouns: clef->dax, balle->xolo, boîte->afze",
        word_map=_FR_INVENTED_NOUNS,
        **_FRENCH,
    ),
    Variant(
        "french_invented_colors",
        "French with invented colours",
        word_map=_FR_INVENTED_COLORS,
        **_FRENCH,
    ),
    Variant(
        "french_invented_words",
        "French with invented nouns and colours",
        word_map={**_FR_INVENTED_NOUNS, **_FR_INVENTED_COLORS},
        **_FRENCH,
    ),
    Variant(
        "french_goal_speaker",
        'French, prompt says "Je veux que l\'agent fasse"',
        **{**_FRENCH, "goal_label": "Je veux que l'agent fasse"},
    ),
    Variant(
        "french_goal_agent",
        "French, prompt says 'Tu dois faire'",
        **{**_FRENCH, "goal_label": "Tu dois faire"},
    ),
)

VARIANTS: Mapping[str, Variant] = MappingProxyType({v.name: v for v in _ALL})


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


# English-only aliases: GLAM's test names (the French runs reused them, but here the
# French variants have their own names).
_ALIASES = {_key(v.original_name): v.name for v in _ALL if v.original_name}
_ALIASES.update({_key(v.name): v.name for v in _ALL})


def get_variant(variant: str | Variant | None) -> Variant:
    """Resolve a variant name (registry name or GLAM test name) or pass a Variant through."""
    if variant is None:
        return VARIANTS["none"]
    if isinstance(variant, Variant):
        return variant
    if isinstance(variant, str) and _key(variant) in _ALIASES:
        return VARIANTS[_ALIASES[_key(variant)]]
    raise UnknownVariantError(variant, VARIANTS)

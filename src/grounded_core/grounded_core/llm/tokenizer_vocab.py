"""A word-level tokenizer covering every word BabyAI-Text can print (MISSION A1, A2).

The embedded tiny models (:mod:`.tiny_models`) cannot use a pretrained sub-word
tokenizer (none ships offline), so they use one token per word. The vocabulary is
assembled from the sources of the text itself, not from sampled episodes, so it covers
what the generator *can* emit:

* the prompt template of every variant (its header and goal labels, its action names,
  ``Observation``/``Action``, the ``" \\n "`` separators, ``,`` and ``:``);
* the English and French description sentences (walls, objects, doors, distances);
* the BabyAI mission grammar in English and both French translations (``compat`` and
  ``fixed``);
* every generalisation variant's word map applied to all of the above, in both
  grammars -- the ``compat`` grammar replaces substrings, which creates words such as
  "oujatu" from "ouverte", and those are included too;
* digits (numbers are split into single digits, so any count is covered), common
  punctuation and capitalised/lower-case forms of every word.

Pre-tokenisation: spaces are dropped, ``"\\n"`` is kept as its own token (GLAM's prompt
contains ``" \\n "``, MISSION A2), punctuation is split off (``l'agent`` -> ``l ' agent``)
and digits are split one by one. Special tokens follow T5: ``<pad>`` = 0, ``</s>`` = 1,
``<unk>`` = 2. Tests tokenize real prompts from many levels, seeds and variants and check
that no ``<unk>`` appears.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from ..babyai_text import VARIANTS
from ..babyai_text.vocab import (
    FRENCH_COLORS,
    FRENCH_OBJECTS,
    FRENCH_STATES,
    IDX_TO_COLOR,
    IDX_TO_OBJECT,
    IDX_TO_STATE,
)

__all__ = [
    "EOS_TOKEN",
    "PAD_TOKEN",
    "SPECIAL_TOKENS",
    "UNK_TOKEN",
    "build_word_tokenizer",
    "make_pre_tokenizer",
    "vocabulary",
    "vocabulary_fingerprint",
]

PAD_TOKEN = "<pad>"
EOS_TOKEN = "</s>"
UNK_TOKEN = "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, EOS_TOKEN, UNK_TOKEN)

# Prompt skeleton (A2) beyond the per-variant labels and action names.
_PROMPT_TEXT = ("Observation 0: \n Action 0: , :",)

# A1 descriptions, English (both grammars: "a"/"an").
_ENGLISH_DESCRIPTIONS = (
    "You carry a",
    "You see a wall 1 step forward",
    "You see a wall 2 steps left right",
    "You see an open closed locked door",
    "1 step left and 2 steps forward",
)
# A1 descriptions, French (the original's wording).
_FRENCH_DESCRIPTIONS = (
    "Tu portes une",
    "Tu vois un mur à 2 pas devant à gauche à droite",
    "Tu vois une",
    "1 pas à droite et 2 pas devant",
)
# BabyAI mission grammar (every level of LEVELS), English.
_ENGLISH_MISSIONS = (
    "go to the red ball",
    "pick up a key",
    "open the door",
    "put the box next to the object",
    "pick up the ball, then go to the box",
    "go to the box after you pick up the key",
    "in front of you behind you on your left on your right",
)
# French missions: GLAM's "compat" translation and the full "fixed" grammar.
_FRENCH_MISSIONS = (
    "aller à la une",
    "attraper ouvrir poser être allé à avoir attrapé avoir ouvert avoir posé",
    "la une l'objet un objet rouge vert bleu violet jaune gris",
    "à côté de la à côté d'une",
    "devant toi derrière toi à ta gauche à ta droite",
    "et puis après",
)
# Robustness: punctuation that user-written missions or future prompts may contain.
_PUNCTUATION = tuple(",.:;!?'\"-()[]/")
_DIGITS = tuple("0123456789")


def make_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Words are runs of letters; ``"\n"``, each digit and each other non-space
    character are tokens of their own; all other whitespace is dropped."""
    # One regex split (what it matches is kept, the rest removed): ~2x faster than a
    # sequence of whitespace/punctuation/digit pre-tokenizers, with the same pieces.
    return pre_tokenizers.Split(Regex(r"\n|\d|[^\w\s]|[^\W\d]+"), behavior="removed", invert=True)


def _words(texts: Iterable[str], pre: pre_tokenizers.PreTokenizer) -> set[str]:
    out: set[str] = set()
    for text in texts:
        out.update(piece for piece, _ in pre.pre_tokenize_str(text))
    return out


def vocabulary() -> list[str]:
    """Every word (token) of BabyAI-Text, sorted; special tokens not included."""
    pre = make_pre_tokenizer()
    texts: list[str] = [*_PROMPT_TEXT, *_ENGLISH_DESCRIPTIONS, *_FRENCH_DESCRIPTIONS]
    texts += [*_ENGLISH_MISSIONS, *_FRENCH_MISSIONS]
    texts += list(IDX_TO_COLOR.values()) + list(IDX_TO_OBJECT.values())
    texts += list(IDX_TO_STATE.values())
    texts += list(FRENCH_COLORS.values()) + list(FRENCH_OBJECTS.values())
    texts += list(FRENCH_STATES.values())
    for variant in VARIANTS.values():
        texts += [variant.head_label, variant.goal_label, *variant.action_names]
    base = _words(texts, pre)
    words = set(base)
    # Variants reword missions and descriptions; apply each map to every base word in
    # both grammars (substring replacement in "compat" can create new words).
    for variant in VARIANTS.values():
        for grammar in ("compat", "fixed"):
            words |= _words((variant.apply(w, grammar) for w in base), pre)
    words |= {w.lower() for w in words} | {w[:1].upper() + w[1:] for w in words}
    words |= set(_PUNCTUATION) | set(_DIGITS) | {"\n"}
    words -= set(SPECIAL_TOKENS)
    words.discard("")
    return sorted(words)


def vocabulary_fingerprint() -> str:
    """Short hash of the vocabulary (names cache entries built with it)."""
    text = "\x00".join((*SPECIAL_TOKENS, *vocabulary()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def build_word_tokenizer(
    extra_words: Iterable[str] = (), model_max_length: int = 1024
) -> PreTrainedTokenizerFast:
    """The word-level tokenizer over :func:`vocabulary` (+ ``extra_words``).

    Ids: ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, then the words in sorted order. Nothing is
    added around encoded text (no BOS/EOS post-processor): GLAM scores prompts and
    actions without special tokens (MISSION A3).
    """
    words = sorted(set(vocabulary()) | (set(extra_words) - set(SPECIAL_TOKENS)))
    vocab = {tok: i for i, tok in enumerate((*SPECIAL_TOKENS, *words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    # NFC so that "à" typed as "a" + combining accent maps to the same word.
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = make_pre_tokenizer()
    # Decoding joins words with spaces (exact text is not recoverable from words).
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=model_max_length,
        padding_side="right",
    )

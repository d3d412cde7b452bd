"""The BabyAI-Text word tokenizer of the embedded tiny models (grounded_core.llm).

Coverage is checked on real prompts: every level x every variant x both grammars, a
few seeds and random actions each, must tokenize without a single unknown token.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from grounded_core.babyai_text import ACTIONS, LEVELS, VARIANTS, build_prompt
from grounded_core.llm import build_word_tokenizer, vocabulary
from grounded_core.llm.prompts import collect_prompts
from grounded_core.llm.tokenizer_vocab import (
    EOS_TOKEN,
    PAD_TOKEN,
    UNK_TOKEN,
    make_pre_tokenizer,
    vocabulary_fingerprint,
)


@pytest.fixture(scope="module")
def tokenizer():
    return build_word_tokenizer()


def _unknown_words(tokenizer, text: str) -> list[str]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    return [t for t, i in zip(tokens, ids) if i == tokenizer.unk_token_id]


def test_special_token_ids_follow_t5(tokenizer):
    assert tokenizer.pad_token == PAD_TOKEN and tokenizer.pad_token_id == 0
    assert tokenizer.eos_token == EOS_TOKEN and tokenizer.eos_token_id == 1
    assert tokenizer.unk_token == UNK_TOKEN and tokenizer.unk_token_id == 2
    assert len(tokenizer) == len(vocabulary()) + 3


def test_prompt_layout_is_kept_token_for_token(tokenizer):
    prompt = build_prompt(
        "go to the red ball",
        [["You see a wall 2 steps forward"], ["You carry a blue key"]],
        ["turn left"],
    )
    tokens = tokenizer.convert_ids_to_tokens(
        tokenizer(prompt, add_special_tokens=False)["input_ids"]
    )
    # A2's " \n " separators survive as "\n" tokens; punctuation and digits are split.
    assert tokens[:7] == ["Possible", "action", "of", "the", "agent", ":", "turn"]
    assert tokens.count("\n") == 5
    assert tokens[-4:] == ["\n", "Action", "1", ":"]
    assert "wall" in tokens and "2" in tokens and "steps" in tokens


def test_no_special_tokens_are_added(tokenizer):
    plain = tokenizer("turn left", add_special_tokens=False)["input_ids"]
    default = tokenizer("turn left")["input_ids"]
    assert plain == default == tokenizer.convert_tokens_to_ids(["turn", "left"])


def test_pre_tokenizer_splits_digits_punctuation_and_newlines():
    pieces = [p for p, _ in make_pre_tokenizer().pre_tokenize_str("l'agent: 12 \n a\tb")]
    assert pieces == ["l", "'", "agent", ":", "1", "2", "\n", "a", "b"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_level_and_variant_prompt_is_covered(tokenizer, variant):
    for level in LEVELS:
        for grammar in ("compat", "fixed"):
            for seed in (0, 17):
                prompts = collect_prompts(
                    level, 6, seed=seed, num_envs=2, variant=variant, grammar=grammar
                )
                for prompt in prompts:
                    unknown = _unknown_words(tokenizer, prompt)
                    assert not unknown, (level, variant, grammar, seed, unknown, prompt)


def test_action_names_of_every_variant_are_single_words_of_the_vocabulary(tokenizer):
    names = {a for v in VARIANTS.values() for a in v.action_names} | set(ACTIONS)
    for name in names:
        assert not _unknown_words(tokenizer, name), name


def test_unknown_words_map_to_unk(tokenizer):
    assert _unknown_words(tokenizer, "go to the zorblax") == ["<unk>"]


def test_save_and_reload_round_trip(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = collect_prompts("GoToLocal", 1, seed=3)[0]
    assert (
        again(text, add_special_tokens=False)["input_ids"]
        == tokenizer(text, add_special_tokens=False)["input_ids"]
    )
    assert again.pad_token_id == 0 and again.eos_token_id == 1


def test_fingerprint_is_stable_and_short():
    assert vocabulary_fingerprint() == vocabulary_fingerprint()
    assert len(vocabulary_fingerprint()) == 10

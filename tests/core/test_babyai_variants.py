"""Generalisation variants: one registry, applied to missions, descriptions and actions."""

import re

import pytest

from grounded_core.babyai_text import (
    FRENCH_ACTIONS,
    SYNONYM_ACTIONS,
    VARIANTS,
    BabyAITextEnv,
    get_variant,
    run_expert,
    translate_mission,
)

NOUNS = re.compile(r"\b(key|ball|box)\b")
COLORS = re.compile(r"\b(red|green|blue|purple|yellow|grey)\b")


def _texts(variant, seeds=range(8), level="MixedTrainLocal"):
    env = BabyAITextEnv(level, variant=variant)
    for seed in seeds:
        obs = env.reset(seed=seed)
        yield obs.mission
        yield from obs.descriptions


def test_registry_has_the_paper_variants():
    for name in [
        "oov_nouns",
        "invented_nouns",
        "invented_colors",
        "invented_words",
        "synonym_actions",
        "french",
    ]:
        assert name in VARIANTS
    assert get_variant("no_meaning_words") is VARIANTS["invented_words"]
    assert get_variant("Invented-Nouns") is VARIANTS["invented_nouns"]
    assert get_variant(None) is VARIANTS["none"]


@pytest.mark.parametrize(
    ("variant", "gone", "new"),
    [
        ("oov_nouns", NOUNS, r"\b(chair|table|car)\b"),
        ("invented_nouns", NOUNS, r"\b(dax|xolo|afze)\b"),
        ("invented_colors", COLORS, r"\b(faze|jatu|croh|vurst|gakul|sil)\b"),
    ],
)
def test_word_variants_change_missions_and_descriptions(variant, gone, new):
    texts = list(_texts(variant))
    assert not any(gone.search(t) for t in texts)
    assert sum(bool(re.search(new, t)) for t in texts) > len(texts) // 2


def test_invented_words_replace_both_nouns_and_colours():
    env = BabyAITextEnv("GoToLocal", seed=3, variant="invented_words")
    obs = env.reset()
    assert obs.mission == "go to the faze dax"
    assert "You see a sil xolo 3 steps forward" in obs.descriptions


def test_synonym_actions():
    env = BabyAITextEnv("GoToLocal", seed=0, variant="synonym_actions")
    assert env.action_space == list(SYNONYM_ACTIONS)
    env.reset()
    assert env.step("move ahead")[3]["action"] == 2
    assert env.step("go forward")[3]["action_name"] == "move ahead"


def test_french_env_speaks_french():
    env = BabyAITextEnv("MixedTrainLocal", variant="french", grammar="fixed")
    assert env.action_space == list(FRENCH_ACTIONS)
    obs = env.reset(seed=4)
    assert all(s.startswith(("Tu vois", "Tu portes")) for s in obs.descriptions)
    assert not re.search(r"\b(go|pick|put|open|the)\b", obs.mission)
    _, _, _, info = env.step("tourner à gauche")
    assert info["action"] == 0


def test_french_bot_dataset_uses_french_prompts():
    traj = run_expert("PickUpSeqPickUpLocal", seed=3, variant="french", grammar="fixed")
    assert traj.success
    assert traj.mission == "attraper la boîte violette après avoir attrapé la boîte grise"
    assert traj.prompts[0].startswith("Actions possibles pour l'agent: tourner à gauche")
    assert set(traj.action_names) <= set(FRENCH_ACTIONS)


@pytest.mark.parametrize(
    ("english", "fixed"),
    [
        ("go to the red ball", "aller à la balle rouge"),
        ("pick up a grey key", "attraper une clef grise"),
        ("open the door", "ouvrir la porte"),
        ("open a door on your left", "ouvrir une porte à ta gauche"),
        ("put the blue box next to a green ball", "poser la boîte bleue à côté d'une balle verte"),
        (
            "put the purple key next to the yellow box",
            "poser la clef violette à côté de la boîte jaune",
        ),
        (
            "pick up the red key, then go to the blue ball",
            "attraper la clef rouge, puis aller à la balle bleue",
        ),
        (
            "go to the red box after you pick up a yellow ball",
            "aller à la boîte rouge après avoir attrapé une balle jaune",
        ),
        ("go to the object and open the red door", "aller à l'objet et ouvrir la porte rouge"),
    ],
)
def test_french_mission_translation(english, fixed):
    assert translate_mission(english, "fixed") == fixed


def test_french_mission_compat_reproduces_glam():
    # GLAM only knew "aller à {det} {noun} {colour}", with substring tests ("ball" has an "a").
    assert translate_mission("go to the red ball") == "aller à une balle rouge"
    assert translate_mission("go to the grey key") == "aller à la clef grise"
    assert translate_mission("open the blue door") == "aller à la  bleue"


def test_compat_word_maps_are_substring_replacements_like_glam():
    variant = VARIANTS["french_invented_colors"]
    assert variant.apply("Tu vois une porte verte ouverte") == "Tu vois une porte jatu oujatu"
    assert (
        variant.apply("Tu vois une porte verte ouverte", "fixed")
        == "Tu vois une porte jatu ouverte"
    )
    fr_syn = VARIANTS["french_adj_synonyms"]
    assert fr_syn.apply("une clef grise") == "une clef argente"
    assert fr_syn.apply("une clef grise", "fixed") == "une clef argentée"

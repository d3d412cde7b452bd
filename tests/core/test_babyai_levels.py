"""A1 levels: names, max_steps, mission forms, the Mixed task kinds and the colour-noun split."""

import re

import numpy as np
import pytest
from minigrid.envs.babyai import GoToLocal, GoToRedBall, PutNextLocal

from grounded_core.babyai_text import (
    LEVELS,
    MIXED_TASK_KINDS,
    BabyAITextEnv,
    UnknownLevelError,
    UnknownTaskKindError,
    resolve_level_name,
)
from grounded_core.babyai_text.levels import TEST_ONLY_PAIRS, TRAIN_ONLY_PAIRS

C = "(?:red|green|blue|purple|yellow|grey)"
OBJ = rf"(?:the|a) {C} (?:key|ball|box)"
FORMS = {
    "goto": rf"go to {OBJ}",
    "pickup": rf"pick up {OBJ}",
    "putnext": rf"put {OBJ} next to {OBJ}",
    "seq": rf"(?:pick up {OBJ}, then go to {OBJ}|go to {OBJ} after you pick up {OBJ})",
}
SEEDS = range(120)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("GoToLocal", "GoToLocal"),
        ("BabyAI-GoToLocal-v0", "GoToLocal"),
        ("gotolocal", "GoToLocal"),
        (" babyai-mixedtrainlocal-v0 ", "MixedTrainLocal"),
        ("PickUpSeqPickUpLocal", "PickUpSeqPickUpLocal"),
    ],
)
def test_level_names(name, canonical):
    assert resolve_level_name(name) == canonical


def test_unknown_level_names_the_value_and_the_choices():
    with pytest.raises(UnknownLevelError, match=r"'GoToMars'.*'GoToLocal'") as err:
        BabyAITextEnv("GoToMars")
    assert isinstance(err.value, ValueError)


def test_required_levels_are_registered():
    for name in [
        "GoToRedBall",
        "GoToRedBallNoDists",
        "GoToLocal",
        "PickupLocal",
        "PutNextLocal",
        "OpenRedDoor",
        "OpenDoor",
        "PickUpSeqPickUpLocal",
        "MixedTrainLocal",
        "MixedTestLocal",
    ]:
        assert name in LEVELS


@pytest.mark.parametrize(
    ("level", "kind", "max_steps"),
    [
        ("GoToRedBall", None, 64),
        ("GoToLocal", None, 64),
        ("PickupLocal", None, 64),
        ("PutNextLocal", None, 128),
        ("PickUpSeqPickUpLocal", None, 128),
        ("MixedTrainLocal", "goto", 64),
        ("MixedTrainLocal", "pickup", 64),
        ("MixedTrainLocal", "putnext", 128),
        ("MixedTrainLocal", "seq", 128),
        ("MixedTrainLocal", "open", 128),
        ("MixedTestLocal", "open", 128),
    ],
)
def test_max_steps(level, kind, max_steps):
    env = BabyAITextEnv(level, seed=0, task_kind=kind)
    env.reset()
    assert env.max_steps == max_steps


@pytest.mark.parametrize(
    ("level", "cls"),
    [("GoToLocal", GoToLocal), ("GoToRedBall", GoToRedBall), ("PutNextLocal", PutNextLocal)],
)
def test_minigrid_levels_are_minigrid_seed_for_seed(level, cls):
    ours, theirs = BabyAITextEnv(level), cls()
    for seed in range(5):
        obs = ours.reset(seed=seed)
        raw, _ = theirs.reset(seed=seed)
        assert obs.mission == raw["mission"]
        assert np.array_equal(obs.image, raw["image"])


def _missions(level, kind=None, seeds=SEEDS):
    env = BabyAITextEnv(level, task_kind=kind)
    return [env.reset(seed=s).mission for s in seeds]


@pytest.mark.parametrize("kind", ["goto", "pickup", "putnext", "seq"])
@pytest.mark.parametrize("level", ["MixedTrainLocal", "MixedTestLocal"])
def test_mixed_mission_forms(level, kind):
    for mission in _missions(level, kind, range(60)):
        assert re.fullmatch(FORMS[kind], mission), mission


def test_open_mission_forms_train_and_test():
    train = set(_missions("MixedTrainLocal", "open"))
    assert all(re.fullmatch(r"open the (?:(?:yellow|green|blue|purple) )?door", m) for m in train)
    assert "open the door" in train and len(train) == 5
    test = set(_missions("MixedTestLocal", "open"))
    assert test == {"open the red door", "open the grey door"}


@pytest.mark.parametrize("level", ["MixedTrainLocal", "PickUpSeqPickUpLocal", "PickUpSeqGoToLocal"])
def test_training_missions_avoid_the_held_out_pairs(level):
    for mission in _missions(level):
        assert not any(pair in mission for pair in TEST_ONLY_PAIRS), mission


def test_test_missions_use_only_the_held_out_pairs():
    for mission in _missions("MixedTestLocal"):
        assert any(pair in mission for pair in TEST_ONLY_PAIRS), mission
        assert not any(pair in mission for pair in TRAIN_ONLY_PAIRS), mission


def test_pickup_local_always_names_the_colour():
    for mission in _missions("PickupLocal"):
        assert re.fullmatch(rf"pick up {OBJ}", mission), mission


def test_pick_up_seq_pick_up_forms():
    missions = _missions("PickUpSeqPickUpLocal")
    form = rf"pick up {OBJ}, then pick up {OBJ}|pick up {OBJ} after you pick up {OBJ}"
    assert all(re.fullmatch(form, m) for m in missions)
    assert any(", then " in m for m in missions) and any(" after you " in m for m in missions)


def test_task_kind_is_drawn_from_the_seed():
    env = BabyAITextEnv("MixedTrainLocal")
    kinds = []
    for seed in range(60):
        env.reset(seed=seed)
        kinds.append(env.task_kind)
    assert set(kinds) == set(MIXED_TASK_KINDS)
    again = BabyAITextEnv("MixedTrainLocal")
    for seed in range(60):
        again.reset(seed=seed)
        assert again.task_kind == kinds[seed]


def test_forcing_the_drawn_kind_gives_the_same_layout():
    drawn = BabyAITextEnv("MixedTrainLocal")
    for seed in range(15):
        obs = drawn.reset(seed=seed)
        forced = BabyAITextEnv("MixedTrainLocal", task_kind=drawn.task_kind).reset(seed=seed)
        assert forced.mission == obs.mission
        assert np.array_equal(forced.image, obs.image)


def test_kinds_keep_changing_across_unseeded_resets():
    env = BabyAITextEnv("MixedTrainLocal", seed=7)
    kinds = set()
    for _ in range(40):
        env.reset()
        kinds.add(env.task_kind)
    assert kinds == set(MIXED_TASK_KINDS)


def test_original_kind_name_and_bad_kinds():
    assert BabyAITextEnv("MixedTestLocal", task_kind="pick up seq go to").task_kind == "seq"
    with pytest.raises(UnknownTaskKindError, match=r"'fly'.*'goto'"):
        BabyAITextEnv("MixedTrainLocal", task_kind="fly")
    with pytest.raises(UnknownTaskKindError, match="single task kind"):
        BabyAITextEnv("GoToLocal", task_kind="goto")


@pytest.mark.parametrize("level", ["MixedTrainLocal", "MixedTestLocal"])
def test_open_task_layout(level):
    env = BabyAITextEnv(level, task_kind="open")
    for seed in range(25):
        env.reset(seed=seed)
        u = env.unwrapped
        assert (u.width, u.height, u.num_cols, u.num_rows) == (15, 8, 2, 1)
        cells = [u.grid.get(x, y) for x in range(u.width) for y in range(u.height)]
        doors = [c for c in cells if c is not None and c.type == "door"]
        assert len(doors) == 1 and doors[0].is_locked
        colors = (
            {"red", "grey"} if level == "MixedTestLocal" else {"yellow", "green", "blue", "purple"}
        )
        assert doors[0].color in colors
        agent_room = u.room_from_pos(*u.agent_pos)
        assert agent_room is not u.locked_room
        keys = [o for o in agent_room.objs if o.type == "key" and o.color == doors[0].color]
        assert keys, "the key of the locked door must be in the agent's room"
        assert len(agent_room.objs) == 9  # the key and 8 distractors
        assert u.locked_room.objs == []


def test_same_seed_same_episode():
    a, b = BabyAITextEnv("MixedTestLocal"), BabyAITextEnv("MixedTestLocal")
    for seed in (0, 5, 11):
        oa, ob = a.reset(seed=seed), b.reset(seed=seed)
        assert (oa.mission, oa.descriptions) == (ob.mission, ob.descriptions)

"""A1 text-from-view rules, one hand-written 7x7 view per rule."""

import numpy as np
import pytest
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

from grounded_core.babyai_text import BabyAITextEnv, BabyAITextError, describe_view

UNSEEN = (0, 0, 0)
EMPTY = (1, 0, 0)
WALL = (2, 5, 0)


def obj(kind, color, state="open"):
    s = STATE_TO_IDX[state] if kind == "door" else 0
    return (OBJECT_TO_IDX[kind], COLOR_TO_IDX[color], s)


def view(cells=None, fill=EMPTY):
    """A 7x7x3 view indexed [x, y]; the agent is at (3, 6) facing y = 0."""
    img = np.zeros((7, 7, 3), dtype=np.uint8)
    img[:, :] = fill
    for (x, y), cell in (cells or {}).items():
        img[x, y] = cell
    return img


def test_empty_view_says_nothing():
    assert describe_view(view()) == []


def test_walls_in_the_three_directions_in_order_forward_left_right():
    cells = {(3, 2): WALL, (0, 6): WALL, (4, 6): WALL}
    assert describe_view(view(cells)) == [
        "You see a wall 4 steps forward",
        "You see a wall 3 steps left",
        "You see a wall 1 step right",
    ]


def test_only_the_nearest_wall_per_direction_and_unseen_cells_are_skipped():
    cells = {(3, 5): UNSEEN, (3, 4): UNSEEN, (3, 3): WALL, (3, 1): WALL, (6, 6): WALL}
    assert describe_view(view(cells)) == [
        "You see a wall 3 steps forward",
        "You see a wall 3 steps right",
    ]


def test_wall_behind_an_object_is_not_described():
    cells = {(3, 4): obj("ball", "red"), (3, 1): WALL}
    assert describe_view(view(cells)) == ["You see a red ball 2 steps forward"]


def test_wall_behind_a_door_is_not_described():
    cells = {(1, 6): obj("door", "red", "closed"), (0, 6): WALL, (5, 6): WALL}
    assert describe_view(view(cells)) == [
        "You see a wall 2 steps right",
        "You see a closed red door 2 steps left",
    ]


def test_walls_are_never_described_off_the_three_rays():
    cells = {(0, 0): WALL, (6, 3): WALL, (2, 5): WALL}
    assert describe_view(view(cells)) == []


@pytest.mark.parametrize(
    ("state", "compat", "fixed"),
    [
        ("open", "You see a open blue door 2 steps forward", "You see an open blue door"),
        ("closed", "You see a closed blue door 2 steps forward", "You see a closed blue door"),
        ("locked", "You see a locked blue door 2 steps forward", "You see a locked blue door"),
    ],
)
def test_doors_in_every_state_with_the_article_quirk(state, compat, fixed):
    image = view({(3, 4): obj("door", "blue", state)})
    assert describe_view(image) == [compat]
    assert describe_view(image, grammar="fixed") == [f"{fixed} 2 steps forward"]


def test_carried_object_comes_first_and_is_not_seen_as_an_object():
    cells = {(3, 6): obj("key", "purple"), (3, 0): WALL, (1, 3): obj("box", "green")}
    assert describe_view(view(cells)) == [
        "You carry a purple key",
        "You see a wall 6 steps forward",
        "You see a green box 2 steps left and 3 steps forward",
    ]


@pytest.mark.parametrize(
    ("pos", "where"),
    [
        ((3, 5), "1 step forward"),
        ((3, 0), "6 steps forward"),
        ((2, 6), "1 step left"),
        ((0, 6), "3 steps left"),
        ((4, 6), "1 step right"),
        ((6, 6), "3 steps right"),
        ((2, 5), "1 step left and 1 step forward"),
        ((0, 1), "3 steps left and 5 steps forward"),
        ((4, 5), "1 step right and 1 step forward"),
        ((5, 3), "2 steps right and 3 steps forward"),
    ],
)
def test_every_distance_form(pos, where):
    assert describe_view(view({pos: obj("ball", "yellow")})) == [f"You see a yellow ball {where}"]


def test_objects_column_major_from_the_left_far_to_near_after_walls():
    cells = {
        (5, 2): obj("key", "red"),
        (1, 5): obj("ball", "green"),
        (1, 1): obj("box", "grey"),
        (3, 4): obj("key", "blue"),
        (3, 1): obj("ball", "purple"),
        (2, 6): WALL,
    }
    assert describe_view(view(cells)) == [
        "You see a wall 1 step left",
        "You see a grey box 2 steps left and 5 steps forward",
        "You see a green ball 2 steps left and 1 step forward",
        "You see a purple ball 5 steps forward",
        "You see a blue key 2 steps forward",
        "You see a red key 2 steps right and 4 steps forward",
    ]


def test_unseen_cells_hide_objects():
    cells = {(1, 1): obj("box", "grey")}
    image = view(cells)
    image[1, 1] = UNSEEN
    assert describe_view(image) == []


def test_french_sentences():
    cells = {
        (3, 6): obj("ball", "green"),
        (3, 2): WALL,
        (0, 6): WALL,
        (5, 6): WALL,
        (1, 3): obj("door", "purple", "locked"),
        (2, 4): obj("key", "red"),
        (4, 5): obj("box", "grey"),
        (2, 2): obj("door", "yellow", "open"),
    }
    assert describe_view(view(cells), language="french") == [
        "Tu portes une balle verte",
        "Tu vois un mur à 4 pas devant",
        "Tu vois un mur à 3 pas à gauche",
        "Tu vois un mur à 2 pas à droite",
        "Tu vois une porte violette fermée à clef 2 pas à gauche et 3 pas devant",
        "Tu vois une porte jaune ouverte 1 pas à gauche et 4 pas devant",
        "Tu vois une clef rouge 1 pas à gauche et 2 pas devant",
        "Tu vois une boîte grise 1 pas à droite et 1 pas devant",
    ]


def test_french_closed_door_and_single_step():
    image = view({(3, 5): obj("door", "blue", "closed")})
    assert describe_view(image, language="french") == [
        "Tu vois une porte bleue fermée 1 pas devant"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"language": "german"}, "german"),
        ({"grammar": "proper"}, "proper"),
    ],
)
def test_bad_options_are_rejected_by_name(kwargs, message):
    with pytest.raises(BabyAITextError, match=message):
        describe_view(view(), **kwargs)


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        describe_view(np.zeros((7, 7)))


DIRS = {"forward": 0, "left": -1, "right": 1}


def _world_pos(env, sentence):
    """Where a 'You see a {color} {type} {distance}' sentence points in the world grid."""
    words = sentence.split()
    forward = side = 0
    for i, word in enumerate(words):
        if word in ("step", "steps"):
            n, direction = int(words[i - 1]), words[i + 1]
            if direction == "forward":
                forward = n
            else:
                side = n * DIRS[direction]
    u = env.unwrapped
    pos = np.array(u.agent_pos) + forward * u.dir_vec + side * u.right_vec
    return tuple(int(v) for v in pos)


@pytest.mark.parametrize("seed", range(6))
def test_sentences_point_at_the_real_objects(seed):
    """Cross-check the A1 geometry against minigrid's world: every object is where it says."""
    env = BabyAITextEnv("MixedTrainLocal", seed=seed)
    obs = env.reset()
    for action in ["go forward", "turn right", "go forward", "turn left", "go forward"]:
        for sentence in obs.descriptions:
            if not sentence.startswith("You see a ") or " wall " in sentence:
                continue
            cell = env.unwrapped.grid.get(*_world_pos(env, sentence))
            assert cell is not None, sentence
            assert f" {cell.color} {cell.type} " in sentence, sentence
        obs, _, done, _ = env.step(action)
        if done:
            break

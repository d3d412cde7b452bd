"""Captions (MISSION B2), predicates and tasks (MISSION B1) on constructed states."""

from __future__ import annotations

import numpy as np
import pytest

from grounded_core.tabletop import (
    TabletopWorld,
    UnknownTaskError,
    WorldState,
    build_tasks,
    caption_holds,
    caption_list,
    caption_truth,
    get_task,
    load_world_config,
    parse_caption,
    task_names,
    tower_of_all,
    true_captions,
)
from grounded_core.tabletop.state import LEFT_FINGER, RIGHT_FINGER, TABLE, ObjectState

CONFIG = load_world_config()
TOL = CONFIG.tolerances
SIZE = 0.05


def _state(positions: dict, contacts: list[tuple[str, str]], speeds: dict | None = None):
    """A synthetic WorldState: cubes at the given centres touching as listed."""
    speeds = speeds or {}
    objects = {
        name: ObjectState(
            position=np.array(pos, dtype=float),
            orientation=np.array([0.0, 0.0, 0.0, 1.0]),
            linear_velocity=np.array([speeds.get(name, 0.0), 0.0, 0.0]),
            size=SIZE,
        )
        for name, pos in positions.items()
    }
    return WorldState(
        objects=objects,
        ee_position=np.array([0.5, 0.0, 0.18]),
        gripper_width=0.08,
        gripper_closed=False,
        holding=False,
        contacts=frozenset(frozenset(pair) for pair in contacts),
        table_height=0.0,
        object_names=("red", "green", "blue"),
    )


ON_TABLE = [("red", TABLE), ("green", TABLE), ("blue", TABLE)]


def test_the_nine_captions_of_the_paper():
    captions = caption_list(CONFIG.object_names)
    assert len(captions) == 9 and len(set(captions)) == 9
    assert "The robot is grasping the red object" in captions
    assert "The red object is on top of the blue object" in captions
    assert "The blue object is on top of the green object" in captions
    for text in captions:
        assert parse_caption(text, CONFIG.object_names).text == text


@pytest.mark.parametrize(
    "text",
    [
        "The robot is grasping the red object.",
        "the robot is grasping the red object",
        "The red object is on top of the red object",
        "The purple object is on top of the red object",
        "stack the red object on the blue object",
    ],
)
def test_captions_outside_the_vocabulary_are_rejected(text):
    with pytest.raises(ValueError):
        parse_caption(text, CONFIG.object_names)


def test_on_top_truth_and_its_tolerances():
    stacked = {"red": (0.5, 0.0, 0.075), "green": (0.4, 0.1, 0.025), "blue": (0.5, 0.0, 0.025)}
    contacts = [("red", "blue"), ("green", TABLE), ("blue", TABLE)]
    truth = caption_truth(_state(stacked, contacts), TOL)
    assert true_captions(_state(stacked, contacts), TOL) == [
        "The red object is on top of the blue object"
    ]
    assert sum(truth.values()) == 1
    # Off-centre beyond on_top_xy: resting on the edge does not count.
    shifted = {**stacked, "red": (0.5 + TOL.on_top_xy + 0.002, 0.0, 0.075)}
    assert not caption_holds(
        "The red object is on top of the blue object", _state(shifted, contacts), TOL
    )
    # Hovering (no contact), sinking (gap beyond on_top_z), leaning on the table, held, moving.
    checks = [
        (stacked, [("green", TABLE), ("blue", TABLE)], None),
        ({**stacked, "red": (0.5, 0.0, 0.075 + TOL.on_top_z + 0.002)}, contacts, None),
        (stacked, [*contacts, ("red", TABLE)], None),
        (stacked, [*contacts, ("red", LEFT_FINGER)], None),
        (stacked, contacts, {"red": TOL.resting_speed * 2}),
    ]
    for positions, touching, speeds in checks:
        state = _state(positions, touching, speeds)
        assert not caption_holds("The red object is on top of the blue object", state, TOL)


def test_grasp_truth_needs_both_fingers_and_lift():
    held = {"red": (0.5, 0.0, 0.16), "green": (0.4, 0.1, 0.025), "blue": (0.6, 0.0, 0.025)}
    both = [("red", LEFT_FINGER), ("red", RIGHT_FINGER), ("green", TABLE), ("blue", TABLE)]
    assert true_captions(_state(held, both), TOL) == ["The robot is grasping the red object"]
    one_finger = [c for c in both if c != ("red", RIGHT_FINGER)]
    assert not caption_holds("The robot is grasping the red object", _state(held, one_finger), TOL)
    on_table = {**held, "red": (0.5, 0.0, 0.025)}
    assert not caption_holds("The robot is grasping the red object", _state(on_table, both), TOL)
    dragging = [*both, ("red", TABLE)]
    assert not caption_holds("The robot is grasping the red object", _state(held, dragging), TOL)


def test_tower_of_all_any_order():
    tower = {"red": (0.5, 0.0, 0.125), "green": (0.5, 0.0, 0.075), "blue": (0.5, 0.0, 0.025)}
    contacts = [("red", "green"), ("green", "blue"), ("blue", TABLE)]
    assert tower_of_all(_state(tower, contacts), TOL) == ("blue", "green", "red")
    two = {**tower, "red": (0.3, 0.0, 0.025)}
    assert (
        tower_of_all(_state(two, [("green", "blue"), ("blue", TABLE), ("red", TABLE)]), TOL) is None
    )


def test_task_registry():
    names = task_names(CONFIG)
    assert names[:3] == ["grasp_red", "grasp_green", "grasp_blue"]
    assert len([n for n in names if n.startswith("stack_") and "_on_" in n]) == 6
    assert names[-1] == "stack_all" and len(names) == 10
    tasks = build_tasks(CONFIG)
    assert tasks["stack_red_on_blue"].instruction == "stack the red object on the blue object"
    assert tasks["stack_red_on_blue"].reference_plan == (
        "The robot is grasping the red object",
        "The red object is on top of the blue object",
    )
    assert tasks["grasp_red"].instruction == "grasp the red object"
    assert tasks["stack_all"].instruction == "stack all three objects"
    assert tasks["stack_all"].optimal_steps == 4 and tasks["stack_red_on_blue"].optimal_steps == 2
    assert len(tasks["stack_all"].reference_plan) == 4
    assert tasks["grasp_red"].max_steps == 10 and tasks["stack_all"].max_steps == 40
    assert get_task("stack_all", CONFIG, max_steps=7).max_steps == 7


def test_unknown_task_and_bad_step_limit():
    with pytest.raises(UnknownTaskError, match="known tasks: grasp_red"):
        get_task("stack_red_on_purple", CONFIG)
    with pytest.raises(ValueError, match="max_steps"):
        get_task("grasp_red", CONFIG, max_steps=0)


def test_task_success_and_captions_on_simulated_states():
    tasks = build_tasks(CONFIG)
    with TabletopWorld(CONFIG, seed=0) as world:
        state = world.reset(layout={"blue": (0.5, 0.0), "green": "blue", "red": (0.4, 0.1)})
        assert true_captions(state, TOL) == ["The green object is on top of the blue object"]
        assert tasks["stack_green_on_blue"].reward(state, TOL) == 1.0
        assert tasks["stack_blue_on_green"].reward(state, TOL) == 0.0
        assert not tasks["stack_all"].is_success(state, TOL)
        world.act(*state.position("red")[:2])
        state = world.state()
        assert true_captions(state, TOL) == [
            "The robot is grasping the red object",
            "The green object is on top of the blue object",
        ]
        assert tasks["grasp_red"].is_success(state, TOL)
        state = world.reset(layout={"blue": (0.5, 0.0), "green": "blue", "red": "green"})
        assert tasks["stack_all"].is_success(state, TOL)
        assert set(true_captions(state, TOL)) == {
            "The green object is on top of the blue object",
            "The red object is on top of the green object",
        }
        restored = WorldState.from_dict(state.to_dict())
        assert caption_truth(restored, TOL) == caption_truth(state, TOL)

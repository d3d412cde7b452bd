"""Plans written as steps (planner_steps.py, the prompt's ``plan_style: steps``): the
rendering inverts on every executable plan, greedy search moves a step at a time, and
free text written as steps parses back to captions or fails loudly."""

from __future__ import annotations

import pytest

from grounded_core.llm.planner_errors import InvalidPlanError, PlannerConfigError
from grounded_core.llm.planner_parse import parse_plan_text
from grounded_core.llm.planner_prompt import PromptConfig, render_plan
from grounded_core.llm.planner_space import PlanSpace
from grounded_core.llm.planner_steps import (
    next_steps,
    plan_to_steps,
    step_text,
    steps_to_plan,
)
from grounded_core.tabletop.captions import caption_list, grasp_caption, on_top_caption

G, ON = grasp_caption, on_top_caption
SPACE = PlanSpace(caption_list(["red", "green", "blue"]))


def test_every_executable_plan_round_trips_through_steps():
    plans = SPACE.enumerate()
    assert len(plans) == 21
    rendered = {tuple(plan_to_steps(p)) for p in plans}
    assert len(rendered) == 21  # no two plans read the same
    for plan in plans:
        steps = plan_to_steps(plan)
        assert steps_to_plan(steps) == list(plan)
        assert len(steps) == (len(plan) + 1) // 2


def test_step_texts():
    assert step_text([G("red"), ON("red", "blue")]) == "stack the red object on the blue object"
    assert step_text([G("green")]) == "grasp the green object"
    assert plan_to_steps([G("red"), ON("red", "blue"), G("green")]) == [
        "stack the red object on the blue object",
        "grasp the green object",
    ]
    assert render_plan([G("red"), ON("red", "blue")], "steps") == (
        "1. stack the red object on the blue object"
    )
    assert steps_to_plan(["  Stack the RED object on the blue object. "]) == [
        G("red"),
        ON("red", "blue"),
    ]


@pytest.mark.parametrize(
    "plan",
    [
        [ON("red", "blue")],  # putting down what was never grasped
        [G("red"), ON("green", "blue")],  # puts down another object
        ["The table is clean"],  # not a caption of the vocabulary
    ],
)
def test_plans_that_are_not_steps_raise(plan):
    with pytest.raises(ValueError):
        plan_to_steps(plan)


def test_text_that_is_not_a_step_raises():
    with pytest.raises(ValueError, match="step 2 'put red on blue'"):
        steps_to_plan(["grasp the red object", "put red on blue"])


def test_next_steps_are_whole_steps():
    first = next_steps(SPACE, [])
    assert len(first) == 6 + 3  # every stack, then every final grasp
    assert (G("red"), ON("red", "blue")) in first and (G("blue"),) in first
    # After red on blue only green is free to move, onto red (blue is covered).
    after = next_steps(SPACE, [G("red"), ON("red", "blue")])
    assert after == [(G("green"), ON("green", "red")), (G("green"),)]


def test_free_text_in_steps_parses_to_captions_or_fails_with_the_text():
    text = "1. stack the red object on the blue object\n2. grasp the green object<end>"
    assert parse_plan_text(text, SPACE, "<end>", "steps") == [
        G("red"),
        ON("red", "blue"),
        G("green"),
    ]
    with pytest.raises(InvalidPlanError) as err:
        parse_plan_text("1. put the red one down", SPACE, "", "steps")
    assert err.value.raw_text == "1. put the red one down"
    with pytest.raises(InvalidPlanError, match="not a caption"):
        parse_plan_text("1. stack the red object on the red object", SPACE, "", "steps")
    with pytest.raises(InvalidPlanError, match="cannot be executed"):
        parse_plan_text(
            "1. stack the red object on the blue object\n2. stack the blue object on the green"
            " object",
            SPACE,
            "",
            "steps",
        )


def test_unknown_plan_style_is_a_config_error():
    with pytest.raises(PlannerConfigError, match="plan_style"):
        PromptConfig(system="s", examples=(), plan_style="prose")

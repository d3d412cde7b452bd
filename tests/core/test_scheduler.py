"""Skill scheduling (MISSION B6 use 3) and plan progress, on the real tabletop world."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grounded_core.learning.actor import Actor
from grounded_core.learning.judges import TruthJudge
from grounded_core.learning.plans import ReferencePlanSource
from grounded_core.policy.config import PolicyConfig
from grounded_core.policy.model import GoalPolicy
from grounded_core.policy.progress import plan_index
from grounded_core.policy.scheduler import SkillScheduler
from grounded_core.tabletop.captions import caption_list, parse_caption
from grounded_core.tabletop.expert import ScriptedExpert
from grounded_core.tabletop.tasks import get_task
from grounded_core.tabletop.world_config import load_world_config

WORLD = load_world_config("tabletop")
VOCAB = caption_list(WORLD.object_names)
GRASP_RED = "The robot is grasping the red object"
GRASP_GREEN = "The robot is grasping the green object"
RED_ON_BLUE = "The red object is on top of the blue object"
GREEN_ON_BLUE = "The green object is on top of the blue object"
RED_ON_GREEN = "The red object is on top of the green object"


def test_plan_index_is_reactive():
    plan = [GRASP_RED, RED_ON_BLUE]
    assert plan_index(plan, set()) == 0
    assert plan_index(plan, {GRASP_RED}) == 1
    assert plan_index(plan, {RED_ON_BLUE}) == 2  # done (the grasp was consumed)
    triple = [GRASP_GREEN, GREEN_ON_BLUE, GRASP_RED, RED_ON_GREEN]
    assert plan_index(triple, {GREEN_ON_BLUE}) == 2
    assert plan_index(triple, {GREEN_ON_BLUE, GRASP_RED}) == 3
    assert plan_index(triple, {RED_ON_GREEN}) == 0  # green not on blue: start over
    assert plan_index(triple, {GREEN_ON_BLUE, RED_ON_GREEN}) == 4


class ExpertActor(Actor):
    """An actor whose skills come from the scripted expert (a perfect policy per sub-goal)."""

    def choose(self, goal, observation, greedy, rng):
        caption = parse_caption(goal, WORLD.object_names)
        if caption.kind == "grasp":
            name = f"grasp_{caption.objects[0]}"
        else:
            name = f"stack_{caption.objects[0]}_on_{caption.objects[1]}"
        return ScriptedExpert(WORLD, get_task(name, WORLD)).act(observation.state)


def untrained_policy() -> GoalPolicy:
    """Exactly uniform (free component only): its mode is always the first grid cell."""
    torch.manual_seed(0)
    config = PolicyConfig(
        text_encoder="hashing", text_dim=32, d_model=32, n_heads=2, init_free_logit=30.0
    )
    return GoalPolicy(config)


def test_scheduler_runs_every_subgoal_with_debounce():
    judge = TruthJudge(WORLD.tolerances)
    actor = ExpertActor(0, WORLD, untrained_policy(), judge, VOCAB)
    try:
        plan = ReferencePlanSource(WORLD).plan("stack the red object on the blue object")
        scheduler = SkillScheduler(actor, debounce=2, steps_per_subgoal=3)
        report = scheduler.run(
            plan, seed=5, instruction="stack red on blue", task=get_task("stack_red_on_blue", WORLD)
        )
    finally:
        actor.close()
    assert report.success and report.env_success
    assert [s.subgoal for s in report.subgoals] == plan
    assert [s.steps for s in report.subgoals] == [1, 1]
    assert report.total_steps == 2 and report.failed_subgoal is None
    assert RED_ON_BLUE in report.subgoals[-1].detected_captions
    assert "all 2 sub-goals achieved" in report.summary()


def test_scheduler_reports_which_subgoal_failed_and_what_was_seen():
    judge = TruthJudge(WORLD.tolerances)
    # The uniform policy's mode is the corner cell, where there is nothing to grasp.
    actor = Actor(0, WORLD, untrained_policy(), judge, VOCAB)
    try:
        scheduler = SkillScheduler(actor, debounce=1, steps_per_subgoal=2)
        report = scheduler.run([GRASP_RED, RED_ON_BLUE], seed=5, instruction="stack red on blue")
        with pytest.raises(ValueError, match="vocabulary"):
            scheduler.run(["The robot is dancing"], seed=5)
        with pytest.raises(ValueError, match="empty"):
            scheduler.run([], seed=5)
    finally:
        actor.close()
    assert not report.success
    assert report.failed_subgoal == GRASP_RED and report.failed_index == 0
    assert report.total_steps == 2 and len(report.subgoals) == 1
    assert not report.subgoals[0].achieved
    text = report.summary()
    assert "sub-goal 1/2" in text and GRASP_RED in text and "within 2 primitives" in text
    assert report.to_dict()["failed_subgoal"] == GRASP_RED


def test_scheduler_validates_its_settings():
    actor = object()
    for kwargs, match in [
        ({"debounce": 0}, "debounce"),
        ({"steps_per_subgoal": 0}, "steps_per_subgoal"),
        ({"observe_interval": -1.0}, "observe_interval"),
    ]:
        with pytest.raises(ValueError, match=match):
            SkillScheduler(actor, **kwargs)
    assert np.isfinite(SkillScheduler(actor).observe_interval)


def test_place_actions_name_where_the_held_object_goes():
    judge = TruthJudge(WORLD.tolerances)
    actor = Actor(0, WORLD, untrained_policy(), judge, VOCAB)
    try:
        obs = actor.reset(5)
        red, blue = obs.state.position("red"), obs.state.position("blue")
        target = np.array([0.5, 0.0])
        np.testing.assert_array_equal(actor.gripper_action(target), target)  # picks unchanged
        # Pick 1.5 cm off-centre along x (the fingers close along y): red is held off-centre.
        obs = actor.act([red[0] + 0.015, red[1]])
        assert GRASP_RED in actor.detect(obs)
        held = obs.state.position("red")[:2]
        offset = obs.state.ee_position[:2] - held
        assert np.linalg.norm(offset) > 0.005
        np.testing.assert_allclose(actor.gripper_action(blue[:2]), blue[:2] + offset, atol=1e-9)
        actor.object_relative_place = False
        np.testing.assert_array_equal(actor.gripper_action(blue[:2]), blue[:2])
        actor.object_relative_place = True
        obs = actor.act(blue[:2])  # "put red where blue is" lands it on blue
        assert RED_ON_BLUE in actor.detect(obs)
    finally:
        actor.close()

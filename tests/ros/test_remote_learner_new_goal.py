"""The ROS trainer's learner (grounded_ros.remote_learner) honours ``update_on_new_goal`` like
the in-process loop: an update is due as soon as an episode demonstrates an untrained goal."""

from __future__ import annotations

import pytest
import torch

from grounded_core.learning.collect_infer import CollectInferConfig
from grounded_ros.remote_learner import LIVE_KEYS, RemoteLearner, apply_overrides, parse_overrides
from tests.core.test_collect_infer import GRASP_RED, RED_ON_BLUE, episode
from tests.ros.test_remote_learner_reuse_scope import TINY_LEARNER

pytestmark = pytest.mark.ros

SMALL = [*TINY_LEARNER, "eval_episodes=0", "reuse_lifelong=false", "episodes_per_update=8"]
TASK = "stack_red_on_blue"


def _learner(tmp_path, new_goal: bool) -> RemoteLearner:
    torch.set_num_threads(1)
    config = apply_overrides(
        CollectInferConfig(), parse_overrides([*SMALL, f"update_on_new_goal={new_goal}"])
    )
    return RemoteLearner(config, tmp_path / str(new_goal), TASK, log=lambda *a: None)


def test_update_is_due_after_the_first_demonstration_of_a_goal(tmp_path):
    learner = _learner(tmp_path, True)
    try:
        learner.add(episode(TASK, [set(), set()], [0], "nothing"))
        assert not learner.due  # no label: wait for the round
        learner.add(episode(TASK, [set(), {GRASP_RED}], [0], "grasp-1"))
        assert learner.due  # "grasp red" got its first demonstration
        assert learner.update() is not None and GRASP_RED in learner.trained_goals
        assert not learner.due
        learner.add(episode(TASK, [set(), {GRASP_RED}], [0], "grasp-2"))
        assert not learner.due  # a trained goal again: the round continues
        learner.add(episode(TASK, [set(), {GRASP_RED}, {RED_ON_BLUE}], [0, 1], "stack-1"))
        assert learner.due  # "red on blue" (and the instruction) are new
    finally:
        learner.close()


def test_without_the_rule_only_the_round_length_counts(tmp_path):
    learner = _learner(tmp_path, False)
    try:
        learner.add(episode(TASK, [set(), {GRASP_RED}], [0], "grasp-1"))
        assert not learner.due
        for i in range(7):
            learner.add(episode(TASK, [set(), set()], [0], f"nothing-{i}"))
        assert learner.due  # 8 episodes
        learner.set_live({"update_on_new_goal": True})  # changeable while running
        assert "update_on_new_goal" in LIVE_KEYS and learner.config.update_on_new_goal
    finally:
        learner.close()

"""TabletopEnv: the gymnasium interface of the tabletop world (MISSION B1)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from grounded_core.tabletop import (
    ENV_ID,
    InvalidActionError,
    ScriptedExpert,
    TabletopEnv,
    TabletopWorld,
    UnknownTaskError,
    register_gym_envs,
)

LAYOUT = {"red": (0.45, -0.08), "green": (0.55, 0.08), "blue": (0.6, -0.08)}


@pytest.fixture(scope="module")
def shared_world():
    with TabletopWorld(seed=0) as w:
        yield w


# The action space is the workspace in metres on purpose (MISSION B1: an (x, y)
# location); normalise with gymnasium.wrappers.RescaleAction if an agent needs it.
@pytest.mark.filterwarnings("ignore:.*symmetric and normalized")
def test_passes_the_gymnasium_checker(shared_world):
    env = TabletopEnv("grasp_red", shared_world, images=True)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs["object_positions"].shape == (3, 3)
    assert obs["images"]["front_left"].shape == (128, 128, 3)
    assert env.action_space.contains(np.array([0.5, 0.0], dtype=np.float32))


def test_expert_episode_rewards_and_terminates(shared_world):
    env = TabletopEnv("stack_red_on_blue", shared_world)
    obs, info = env.reset(seed=3)
    assert info["instruction"] == "stack the red object on the blue object"
    assert info["success"] is False and info["primitive"] is None
    assert obs["gripper"][1] == 0.0 and obs["gripper"][0] > 0.07
    expert = ScriptedExpert(shared_world.config, env.task)
    obs, reward, terminated, truncated, info = env.step(expert.act(env.state))
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["primitive"]["kind"] == "pick" and info["primitive"]["picked"] == "red"
    assert info["captions"]["The robot is grasping the red object"] is True
    assert obs["gripper"][1] == 1.0
    obs, reward, terminated, truncated, info = env.step(expert.act(env.state))
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["is_success"] and info["primitive"]["placed_on"] == "blue"
    assert info["captions"]["The red object is on top of the blue object"] is True
    red, blue = obs["object_positions"][0], obs["object_positions"][2]
    assert red[2] == pytest.approx(blue[2] + 0.05, abs=0.005)


def test_truncation_task_switch_and_layout(shared_world):
    env = TabletopEnv("grasp_red", shared_world, max_steps=2)
    env.reset(seed=0, options={"layout": LAYOUT})
    assert env.state.position("red")[:2] == pytest.approx([0.45, -0.08], abs=1e-3)
    *_, truncated, _ = env.step([0.38, 0.12])
    assert not truncated
    _, reward, terminated, truncated, _ = env.step([0.38, 0.12])
    assert (reward, terminated, truncated) == (0.0, False, True)
    _, info = env.reset(seed=1, options={"task": "stack_all"})
    assert info["task"] == "stack_all" and env.task.max_steps == 2  # the override persists
    env.reset(options={"task": "stack_all", "max_steps": 9})
    assert env.task.max_steps == 9
    with pytest.raises(UnknownTaskError):
        env.reset(options={"task": "juggle"})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"tsak": "grasp_red"})


def test_bad_actions_are_rejected_not_clipped(shared_world):
    env = TabletopEnv("grasp_red", shared_world)
    env.reset(seed=0)
    for action in ([np.nan, 0.0], [0.5, 0.2], [1.0, 0.0], [0.5], [[0.5, 0.0]]):
        with pytest.raises(InvalidActionError):
            env.step(action)
    assert env.steps == 0


def test_seeding_is_reproducible(shared_world):
    env = TabletopEnv("grasp_red", shared_world)
    first, _ = env.reset(seed=42)
    second, _ = env.reset()
    again, _ = env.reset(seed=42)
    assert np.array_equal(first["object_positions"], again["object_positions"])
    assert not np.array_equal(first["object_positions"], second["object_positions"])


def test_gymnasium_make_and_rgb_rendering():
    register_gym_envs()
    register_gym_envs()  # idempotent
    env = gym.make(ENV_ID, task="grasp_green", render_mode="rgb_array", render_camera="front_left")
    try:
        env.reset(seed=0)
        frame = env.render()
        assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    finally:
        env.close()
    with pytest.raises(ValueError, match="render_mode"):
        TabletopEnv("grasp_red", render_mode="ascii")

"""BabyAITextEnv: reset/step contract, reward formula, info, actions and input errors."""

import numpy as np
import pytest

from grounded_core.babyai_text import (
    ACTIONS,
    BabyAITextEnv,
    BabyAITextError,
    EpisodeFinishedError,
    UnknownActionError,
    UnknownVariantError,
    make_env,
    run_expert,
)


def test_reset_and_step_contract():
    env = make_env("BabyAI-GoToLocal-v0", seed=1)
    obs = env.reset()
    assert obs.mission.startswith("go to ")
    assert obs.descriptions and all(isinstance(s, str) for s in obs.descriptions)
    assert obs.image.shape == (7, 7, 3)
    obs2, reward, done, info = env.step(2)
    assert (reward, done) == (0.0, False)
    for key in ("success", "step_count", "max_steps", "symbolic", "terminated", "truncated"):
        assert key in info
    assert info["step_count"] == 1 and info["max_steps"] == 64
    assert np.array_equal(info["symbolic"]["image"], obs2.image)
    assert info["symbolic"]["mission"] == obs.mission
    assert info["action_name"] == "go forward"


def test_success_reward_is_one_minus_09_steps_over_max_steps():
    env = BabyAITextEnv("PutNextLocal")
    traj = run_expert(env, seed=4)
    assert traj.success
    assert traj.rewards[:-1] == [0.0] * (traj.length - 1)
    assert traj.rewards[-1] == pytest.approx(1 - 0.9 * traj.length / 128)


def test_timeout_ends_with_zero_reward():
    env = BabyAITextEnv("GoToRedBallNoDists", seed=0)
    env.reset()
    for t in range(64):
        _, reward, done, info = env.step("turn left")
        assert reward == 0.0
        assert done == (t == 63)
    assert info["truncated"] and not info["success"] and not info["terminated"]
    with pytest.raises(EpisodeFinishedError):
        env.step("turn left")


def test_step_before_reset_is_an_error():
    with pytest.raises(EpisodeFinishedError, match="reset"):
        BabyAITextEnv("GoToLocal").step(0)


@pytest.mark.parametrize("action", [0, np.int64(1), "go forward", " Pick  Up ", "go_forward", "5"])
def test_actions_as_index_or_text(action):
    env = BabyAITextEnv("GoToLocal", seed=0)
    env.reset()
    _, _, _, info = env.step(action)
    assert info["action_name"] in ACTIONS


@pytest.mark.parametrize("action", [6, -1, "fly", True, 2.0, None, "done"])
def test_unknown_actions(action):
    env = BabyAITextEnv("GoToLocal", seed=0)
    env.reset()
    with pytest.raises(UnknownActionError, match=r"allowed: '0'.*'toggle'") as err:
        env.step(action)
    assert isinstance(err.value, ValueError)
    assert repr(action) in str(err.value)


def test_bad_constructor_arguments():
    with pytest.raises(UnknownVariantError, match="'pirate'"):
        BabyAITextEnv("GoToLocal", variant="pirate")
    with pytest.raises(BabyAITextError, match="grammar"):
        BabyAITextEnv("GoToLocal", grammar="posh")
    with pytest.raises(BabyAITextError, match="seed"):
        BabyAITextEnv("GoToLocal", seed=-3)
    with pytest.raises(TypeError):
        BabyAITextEnv("GoToLocal", colour="red")


def test_constructor_seed_equals_reset_seed():
    a = BabyAITextEnv("MixedTrainLocal", seed=21).reset()
    b = BabyAITextEnv("MixedTrainLocal").reset(seed=21)
    assert (a.mission, a.descriptions) == (b.mission, b.descriptions)


def test_unseeded_env_reports_a_replayable_seed():
    env = BabyAITextEnv("MixedTrainLocal")
    first = env.reset()
    _, _, _, info = env.step("turn left")
    assert isinstance(info["seed"], int) and info["episode_index"] == 0
    again = BabyAITextEnv("MixedTrainLocal").reset(seed=info["seed"])
    assert (again.mission, again.descriptions) == (first.mission, first.descriptions)


def test_symbolic_observation_shows_the_carried_object():
    env = BabyAITextEnv("PickupLocal")
    traj = run_expert(env, seed=2)
    assert traj.success
    assert env.unwrapped.carrying is not None
    color, kind = env.unwrapped.carrying.color, env.unwrapped.carrying.type
    image = env.unwrapped.gen_obs()["image"]
    from grounded_core.babyai_text import describe_view

    assert describe_view(image)[0] == f"You carry a {color} {kind}"


def test_observation_to_dict_is_json_friendly():
    import json

    obs = BabyAITextEnv("GoToLocal", seed=0).reset()
    data = json.loads(json.dumps(obs.to_dict()))
    assert data["mission"] == obs.mission and len(data["image"]) == 7

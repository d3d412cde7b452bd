"""VectorBabyAITextEnv: seeding base_seed + i, auto-reset, statistics, prompts."""

import numpy as np
import pytest

from grounded_core.babyai_text import (
    BabyAITextEnv,
    BabyAITextError,
    UnknownActionError,
    VectorBabyAITextEnv,
    run_expert,
)


def test_env_i_is_seeded_base_seed_plus_i():
    vec = VectorBabyAITextEnv("MixedTrainLocal", num_envs=4, base_seed=100)
    observations = vec.reset()
    for i, obs in enumerate(observations):
        single = BabyAITextEnv("MixedTrainLocal", seed=100 + i).reset()
        assert (obs.mission, obs.descriptions) == (single.mission, single.descriptions)


def test_auto_reset_returns_the_new_first_observation_and_statistics():
    level, base = "GoToLocal", 10
    expert = run_expert(level, seed=base)
    vec = VectorBabyAITextEnv(level, num_envs=2, base_seed=base)
    vec.reset()
    next_episode = BabyAITextEnv(level, seed=base)
    next_episode.reset()
    second_first_obs = next_episode.reset()  # the episode that follows in the same stream

    for t, action in enumerate(expert.actions):
        observations, rewards, dones, infos = vec.step([action, "turn left"])
        last = t == len(expert.actions) - 1
        assert dones.tolist() == [last, False]
        assert infos[0]["autoreset"] is last and infos[1]["autoreset"] is False
    assert rewards[0] == pytest.approx(expert.rewards[-1]) and rewards[1] == 0.0
    assert infos[0]["episode"]["return"] == pytest.approx(expert.episode_return)
    assert infos[0]["episode"]["length"] == expert.length
    assert infos[0]["episode"]["success"] is True
    assert infos[0]["final_observation"].mission == expert.mission
    assert observations[0].descriptions == second_first_obs.descriptions
    assert observations[0].mission == second_first_obs.mission
    assert vec.envs[0].step_count == 0
    # The history was cleared: the next prompt holds only the new episode's first view.
    prompt = vec.prompts()[0]
    assert "Observation 1" not in prompt and prompt.endswith("\n Action 0: ")
    assert vec.finished[0][0].success and vec.finished[1] == []
    assert vec.statistics() == {
        "episodes": 1,
        "mean_return": pytest.approx(expert.episode_return),
        "success_rate": 1.0,
        "mean_length": expert.length,
    }


def test_step_arguments_are_checked():
    vec = VectorBabyAITextEnv("GoToLocal", num_envs=2)
    with pytest.raises(BabyAITextError, match="reset"):
        vec.step([0, 0])
    vec.reset()
    with pytest.raises(BabyAITextError, match="one action per env"):
        vec.step([0])
    with pytest.raises(UnknownActionError):
        vec.step([0, "jump"])
    with pytest.raises(BabyAITextError, match="num_envs"):
        VectorBabyAITextEnv("GoToLocal", num_envs=0)


def test_timeouts_auto_reset_too():
    vec = VectorBabyAITextEnv("GoToRedBallNoDists", num_envs=3, base_seed=0)
    vec.reset()
    for _ in range(64):
        _, rewards, dones, infos = vec.step(np.zeros(3, dtype=int))
    assert dones.all() and not rewards.any()
    assert all(info["episode"]["length"] == 64 and not info["episode"]["success"] for info in infos)
    assert all(env.step_count == 0 for env in vec.envs)


def test_reset_with_explicit_seeds_matches_single_envs():
    from grounded_core.babyai_text import BabyAITextEnv, BabyAITextError, VectorBabyAITextEnv

    vec = VectorBabyAITextEnv("GoToLocal", 3, base_seed=0)
    observations = vec.reset(seeds=[7, 3, 11])
    for seed, obs in zip([7, 3, 11], observations, strict=True):
        single = BabyAITextEnv("GoToLocal", seed=seed).reset()
        assert (obs.mission, obs.descriptions) == (single.mission, single.descriptions)
    assert vec.variant == "none"
    import pytest

    with pytest.raises(BabyAITextError, match="one seed per env"):
        vec.reset(seeds=[1, 2])
    with pytest.raises(BabyAITextError, match="not both"):
        vec.reset(base_seed=1, seeds=[1, 2, 3])

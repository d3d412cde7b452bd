"""Learner-side prompts, env adapter (incl. exact state), episode stats, rollout storage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grounded_core.babyai_text import VectorBabyAITextEnv
from grounded_core.learning import compute_gae
from grounded_core.learning.env_adapters import InProcessTextEnv, TextEnvClient
from grounded_core.learning.rollout import (
    EpisodeTracker,
    PromptHistories,
    RolloutBuffer,
    minibatch_indices,
)


@pytest.mark.parametrize(
    ("level", "variant"), [("GoToRedBall", "none"), ("MixedTrainLocal", "french")]
)
def test_learner_prompts_equal_the_env_side_prompts(level, variant):
    # The learner rebuilds GLAM's prompts (A2) from missions and descriptions only, as it
    # must behind the ROS services; they must equal VectorBabyAITextEnv.prompts().
    adapter = InProcessTextEnv(level, 3, 11, variant=variant, max_steps=12)
    reference = VectorBabyAITextEnv(level, 3, 11, variant=variant, max_steps=12)
    assert isinstance(adapter, TextEnvClient)
    first = adapter.reset()
    reference.reset()
    histories = PromptHistories(3, first.variant, first.action_space)
    histories.reset(first.observations)
    assert all(o.episode_start for o in first.observations)
    rng = np.random.default_rng(0)
    saw_done = False
    for _ in range(40):
        assert histories.prompts() == reference.prompts()
        actions = rng.integers(0, 6, 3).tolist()
        step = adapter.step(actions)
        reference.step(actions)
        histories.step(actions, step.observations, step.dones)
        assert [o.episode_start for o in step.observations] == step.dones.tolist()
        saw_done |= bool(step.dones.any())
    assert saw_done  # max_steps=12 forces episode ends and history clears


def test_in_process_env_state_round_trip_continues_identically():
    env = InProcessTextEnv("MixedTrainLocal", 2, 3)
    env.reset()
    rng = np.random.default_rng(1)
    for _ in range(70):
        env.step(rng.integers(0, 6, 2))
    state = env.state_dict()
    copy = InProcessTextEnv("MixedTrainLocal", 2, 3)
    copy.load_state_dict(state)
    for _ in range(150):  # crosses auto-resets, so the levels' RNG streams are restored too
        actions = rng.integers(0, 6, 2)
        a, b = env.step(actions), copy.step(actions)
        assert a.observations == b.observations
        assert a.rewards.tolist() == b.rewards.tolist() and a.dones.tolist() == b.dones.tolist()
    other = InProcessTextEnv("GoToRedBall", 2, 3)
    with pytest.raises(ValueError, match="saved for"):
        other.load_state_dict(state)


def test_prompt_history_state_round_trip():
    env = InProcessTextEnv("GoToRedBall", 2, 0)
    first = env.reset()
    histories = PromptHistories(2, first.variant, first.action_space)
    histories.reset(first.observations)
    for actions in ([2, 0], [1, 2], [2, 2]):
        step = env.step(actions)
        histories.step(actions, step.observations, step.dones)
    restored = PromptHistories(2, first.variant, first.action_space)
    restored.load_state_dict(histories.state_dict())
    assert restored.prompts() == histories.prompts()
    # env 0 took go forward, turn right, go forward: the last 2 actions are renumbered 0, 1
    prompt = histories.prompts()[0]
    assert "Observation 2: " in prompt and "Observation 3" not in prompt
    assert "\n Action 0: turn right \n Observation 1" in prompt
    assert "\n Action 1: go forward \n Observation 2" in prompt
    with pytest.raises(ValueError, match="observations for 2"):
        histories.reset(first.observations[:1])


def test_episode_tracker():
    tracker = EpisodeTracker(2, window=2)
    tracker.step(np.array([0.0, 0.5]), np.array([False, True]), np.array([False, True]))
    tracker.step(np.array([0.0, 0.0]), np.array([True, False]), np.array([False, False]))
    episodes = tracker.drain()
    assert [(e.env_index, e.episode_return, e.length, e.success) for e in episodes] == [
        (1, 0.5, 1, True),
        (0, 0.0, 2, False),
    ]
    assert tracker.drain() == []
    assert tracker.window_success_rate() == 0.5 and tracker.total_episodes == 2
    tracker.step(np.array([0.9, 0.0]), np.array([True, False]), np.array([True, False]))
    assert tracker.window_success_rate() == 0.5  # window of 2 dropped the first episode
    restored = EpisodeTracker(2)
    restored.load_state_dict(tracker.state_dict())
    assert restored.window_success_rate() == 0.5 and restored.lengths.tolist() == [0, 2]
    assert np.isnan(EpisodeTracker(1).window_success_rate())


def test_rollout_buffer_gae_and_env_major_flattening():
    buffer = RolloutBuffer(steps=3, num_envs=2)
    rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0], [2.0, 0.0]])
    values = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    dones = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    for t in range(3):
        buffer.add(
            [f"p{t}e0", f"p{t}e1"],
            torch.tensor([t, 5 - t]),
            torch.tensor([-1.0, -2.0]),
            values[t],
            rewards[t],
            dones[t],
        )
    with pytest.raises(RuntimeError, match="already holds"):
        buffer.add(
            ["a", "b"],
            torch.zeros(2),
            torch.zeros(2),
            torch.zeros(2),
            torch.zeros(2),
            torch.zeros(2),
        )
    last = torch.tensor([0.7, 0.8])
    batch = buffer.finish(last, 0.9, 0.8)
    advantages, returns = compute_gae(rewards, values, dones, last, 0.9, 0.8)
    assert batch.prompts == ["p0e0", "p1e0", "p2e0", "p0e1", "p1e1", "p2e1"]
    assert batch.actions.tolist() == [0, 1, 2, 5, 4, 3]
    assert torch.allclose(batch.advantages, advantages.T.reshape(-1))
    assert torch.allclose(batch.returns, returns.T.reshape(-1))
    mb = batch.select(torch.tensor([4, 0]))
    assert mb.prompts == ["p1e1", "p0e0"] and mb.actions.tolist() == [4, 0] and len(mb) == 2


def test_rollout_buffer_must_be_full_and_minibatches_cover_everything():
    buffer = RolloutBuffer(2, 1)
    with pytest.raises(RuntimeError, match="holds 0 of 2"):
        buffer.finish(torch.zeros(1), 0.9, 0.9)
    parts = minibatch_indices(10, 4, torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [4, 4, 2]
    assert sorted(torch.cat(parts).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="positive"):
        RolloutBuffer(0, 1)

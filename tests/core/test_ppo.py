"""GAE and the PPO loss against hand-computed numbers (MISSION A4)."""

from __future__ import annotations

import math

import pytest
import torch

from grounded_core.learning import PPOConfig, compute_gae, explained_variance, ppo_loss


def col(*values):
    return torch.tensor(values, dtype=torch.float32).unsqueeze(1)  # [T, 1]


def test_gae_episode_ending_at_the_last_step_ignores_the_bootstrap():
    # gamma = lambda = 0.5; by hand:
    # t=2: delta = 2 - 1.5 = 0.5                       -> A2 = 0.5
    # t=1: delta = 0 + 0.5*1.5 - 1 = -0.25             -> A1 = -0.25 + 0.25*0.5 = -0.125
    # t=0: delta = 1 + 0.5*1.0 - 0.5 = 1.0             -> A0 = 1 + 0.25*(-0.125) = 0.96875
    adv, ret = compute_gae(
        col(1, 0, 2), col(0.5, 1.0, 1.5), col(0, 0, 1), torch.tensor([10.0]), 0.5, 0.5
    )
    assert adv.squeeze(1).tolist() == pytest.approx([0.96875, -0.125, 0.5])
    assert ret.squeeze(1).tolist() == pytest.approx([1.46875, 0.875, 2.0])


def test_gae_resets_at_a_mid_rollout_done_and_bootstraps_the_tail():
    # gamma 0.9, lambda 0.8; done after t=1:
    # t=2: delta = 0 + 0.9*4 - 3 = 0.6                 -> A2 = 0.6
    # t=1: delta = 1 - 2 = -1 (no bootstrap)           -> A1 = -1
    # t=0: delta = 0 + 0.9*2 - 1 = 0.8                 -> A0 = 0.8 + 0.72*(-1) = 0.08
    adv, ret = compute_gae(col(0, 1, 0), col(1, 2, 3), col(0, 1, 0), torch.tensor([4.0]), 0.9, 0.8)
    assert adv.squeeze(1).tolist() == pytest.approx([0.08, -1.0, 0.6])
    assert ret.squeeze(1).tolist() == pytest.approx([1.08, 1.0, 3.6])


def test_gae_envs_are_independent_and_shapes_are_checked():
    rewards = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    values = torch.zeros(2, 2)
    dones = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    adv, _ = compute_gae(rewards, values, dones, torch.tensor([0.0, 5.0]), 1.0, 1.0)
    assert adv[:, 0].tolist() == pytest.approx([1.0, 0.0])
    # env 1 ends at t=0 with reward 0, then t=1 bootstraps 1 + 5
    assert adv[:, 1].tolist() == pytest.approx([0.0, 6.0])
    with pytest.raises(ValueError, match=r"\[T, N\]"):
        compute_gae(rewards, values[:1], dones, torch.zeros(2), 0.9, 0.9)
    with pytest.raises(ValueError, match="last_values"):
        compute_gae(rewards, values, dones, torch.zeros(3), 0.9, 0.9)


def test_ppo_loss_matches_hand_computation():
    config = PPOConfig(
        clip=0.2, entropy_coef=0.01, value_coef=0.5, num_envs=1, steps_per_env=2, minibatch_size=2
    )
    logits = torch.zeros(2, 2, requires_grad=True)  # pi = [0.5, 0.5]
    values = torch.tensor([1.0, 0.0], requires_grad=True)
    out = ppo_loss(
        logits,
        values,
        actions=torch.tensor([0, 1]),
        old_log_probs=torch.log(torch.tensor([0.25, 0.75])),  # ratios 2 and 2/3
        old_values=torch.tensor([0.5, 0.5]),
        advantages=torch.tensor([1.0, -1.0]),
        returns=torch.tensor([2.0, 0.0]),
        config=config,
    )
    # policy: min(2*1, 1.2*1) = 1.2 ; min(-2/3, -0.8) = -0.8 -> loss -(1.2 - 0.8)/2
    assert out.policy_loss == pytest.approx(-0.2)
    # value: max(1, (0.7-2)^2=1.69), max(0, (0.3-0)^2=0.09) -> mean 0.89
    assert out.value_loss == pytest.approx(0.89)
    assert out.entropy == pytest.approx(math.log(2))
    assert out.loss.item() == pytest.approx(-0.2 - 0.01 * math.log(2) + 0.5 * 0.89)
    # KL estimator mean((r-1) - log r) = mean(1 - ln 2, -1/3 - ln(2/3))
    expected_kl = ((1 - math.log(2)) + (-1 / 3 - math.log(2 / 3))) / 2
    assert out.approx_kl == pytest.approx(expected_kl)
    assert out.clip_fraction == 1.0
    out.loss.backward()
    assert logits.grad is not None and values.grad is not None
    # the clipped branch of sample 0 passes no policy gradient; sample 1's does
    assert set(out.metrics()) == {
        "losses/policy",
        "losses/value",
        "losses/entropy",
        "policy/approx_kl",
        "policy/clip_fraction",
    }


def test_ppo_loss_at_the_old_policy_has_no_kl_and_no_clipping():
    config = PPOConfig()
    logits = torch.tensor([[0.3, -1.0, 2.0]])
    log_probs = torch.log_softmax(logits, -1)[0, 2].unsqueeze(0)
    out = ppo_loss(
        logits,
        torch.tensor([0.4]),
        torch.tensor([2]),
        log_probs,
        torch.tensor([0.4]),
        torch.tensor([0.5]),
        torch.tensor([0.9]),
        config,
    )
    assert out.approx_kl == pytest.approx(0.0, abs=1e-7)
    assert out.clip_fraction == 0.0
    assert out.policy_loss == pytest.approx(-0.5)


def test_explained_variance():
    target = torch.tensor([1.0, -1.0, 2.0])
    assert explained_variance(target, target) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(2), torch.tensor([1.0, -1.0])) == pytest.approx(0.0)
    assert math.isnan(explained_variance(torch.zeros(2), torch.ones(2)))


def test_config_defaults_are_the_papers_and_validation_is_clear():
    config = PPOConfig()
    assert (config.batch_size, config.epochs, config.minibatch_size) == (1280, 4, 64)
    assert (config.lr, config.adam_eps, config.clip, config.gamma, config.gae_lambda) == (
        1e-6,
        1e-5,
        0.2,
        0.99,
        0.99,
    )
    assert (config.entropy_coef, config.value_coef, config.max_grad_norm) == (0.01, 0.5, 0.5)
    assert config.reward_scale == 20.0 and not config.normalize_advantages
    assert PPOConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="minibatch_size"):
        PPOConfig(num_envs=2, steps_per_env=2, minibatch_size=8)
    with pytest.raises(ValueError, match="gamma"):
        PPOConfig(gamma=1.5)
    with pytest.raises(ValueError, match="unknown PPO settings"):
        PPOConfig.from_dict({"learning_rate": 1.0})

"""PPO pieces as plain functions: GAE, the clipped losses, and their diagnostics.

Every detail is visible here (cleanrl style) but importable, so GAE and the
loss are unit-tested against hand-computed numbers. The defaults are GLAM's
(MISSION A4): clip 0.2 on the ratio *and* the value, gamma 0.99, GAE lambda
0.99, entropy 0.01, value coefficient 0.5, max grad norm 0.5, no advantage
normalisation, Adam lr 1e-6 / eps 1e-5, 4 epochs of minibatch 64 over
32 envs x 40 steps, rewards scaled by 20.

Conventions: tensors are time-major ``[T, N]`` for rollouts; ``dones[t]`` is
true when the episode ended *at* step t (after taking action t), so the value
after it is not bootstrapped. GLAM treats running out of steps the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch


@dataclass
class PPOConfig:
    """PPO hyper-parameters; defaults are the paper's (MISSION A4)."""

    num_envs: int = 32
    steps_per_env: int = 40
    epochs: int = 4
    minibatch_size: int = 64
    lr: float = 1e-6
    adam_eps: float = 1e-5
    clip: float = 0.2
    gamma: float = 0.99
    gae_lambda: float = 0.99
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    reward_scale: float = 20.0
    normalize_advantages: bool = False

    def __post_init__(self) -> None:
        positive_ints = ("num_envs", "steps_per_env", "epochs", "minibatch_size")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PPOConfig.{name} must be a positive integer, got {value!r}")
        for name in ("lr", "adam_eps", "clip", "max_grad_norm", "reward_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"PPOConfig.{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("entropy_coef", "value_coef"):
            if getattr(self, name) < 0:
                raise ValueError(f"PPOConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.minibatch_size > self.batch_size:
            raise ValueError(
                f"PPOConfig.minibatch_size ({self.minibatch_size}) exceeds the rollout size "
                f"num_envs * steps_per_env = {self.batch_size}"
            )

    @property
    def batch_size(self) -> int:
        """Transitions per update (paper: 32 x 40 = 1280)."""
        return self.num_envs * self.steps_per_env

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PPOConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown PPO settings {unknown}; known: {sorted(known)}")
        return cls(**data)


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a ``[T, N]`` rollout.

    ``values[t]`` is V(s_t); ``last_values`` is V(s_T) for the state after the
    last step (ignored where ``dones[T-1]``). Returns ``(advantages, returns)``
    with ``returns = advantages + values`` (the value targets).
    """
    if not (rewards.shape == values.shape == dones.shape) or rewards.dim() != 2:
        raise ValueError(
            f"rewards, values, dones must share a [T, N] shape, got "
            f"{tuple(rewards.shape)}, {tuple(values.shape)}, {tuple(dones.shape)}"
        )
    if last_values.shape != rewards.shape[1:]:
        raise ValueError(f"last_values must be [N], got {tuple(last_values.shape)}")
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards, dtype=torch.float32)
    running = torch.zeros_like(last_values, dtype=torch.float32)
    not_done = 1.0 - dones.float()
    for t in reversed(range(steps)):
        next_value = last_values if t == steps - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_value * not_done[t] - values[t]
        running = delta + gamma * gae_lambda * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


@dataclass
class PPOLossOutput:
    """The total loss (with graph) and detached diagnostics for logging."""

    loss: torch.Tensor
    policy_loss: float
    value_loss: float
    entropy: float
    approx_kl: float
    clip_fraction: float

    def metrics(self) -> dict[str, float]:
        return {
            "losses/policy": self.policy_loss,
            "losses/value": self.value_loss,
            "losses/entropy": self.entropy,
            "policy/approx_kl": self.approx_kl,
            "policy/clip_fraction": self.clip_fraction,
        }


def ppo_loss(
    logits: torch.Tensor,
    values: torch.Tensor,
    actions: torch.Tensor,
    old_log_probs: torch.Tensor,
    old_values: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    config: PPOConfig,
) -> PPOLossOutput:
    """Clipped PPO loss for a minibatch.

    ``logits`` are the policy's unnormalised action scores ``[B, A]`` (for
    GLAM: the summed token log-probs, MISSION A3), ``values`` its values
    ``[B]``; the ``old_*`` tensors come from the rollout.
    Loss = policy loss - entropy_coef * entropy + value_coef * value loss, with
    the value loss clipped around the old value like the ratio (GLAM/lamorel).
    """
    log_probs_all = torch.log_softmax(logits, dim=-1)
    log_probs = log_probs_all.gather(1, actions.long().unsqueeze(1)).squeeze(1)
    entropy = -(log_probs_all.exp() * log_probs_all).sum(dim=-1).mean()

    if config.normalize_advantages and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - config.clip, 1.0 + config.clip) * advantages
    policy_loss = -torch.min(unclipped, clipped).mean()

    values_clipped = old_values + (values - old_values).clamp(-config.clip, config.clip)
    value_loss = torch.max((values - returns) ** 2, (values_clipped - returns) ** 2).mean()

    loss = policy_loss - config.entropy_coef * entropy + config.value_coef * value_loss
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean().item()  # low-variance KL estimator
        clip_fraction = ((ratio - 1.0).abs() > config.clip).float().mean().item()
    return PPOLossOutput(
        loss=loss,
        policy_loss=policy_loss.item(),
        value_loss=value_loss.item(),
        entropy=entropy.item(),
        approx_kl=approx_kl,
        clip_fraction=clip_fraction,
    )


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var(target - predicted) / Var(target); NaN when the target is constant."""
    variance = target.var(unbiased=False)
    if variance.item() == 0:
        return float("nan")
    return (1.0 - (target - predicted).var(unbiased=False) / variance).item()

"""Behaviour cloning on BabyAI-bot demonstrations: the paper's offline baseline (Q4, A6).

The BabyAI bot (minigrid ships it) plays ``demos`` episodes of a level; every step gives
a (GLAM prompt, bot action) pair (:func:`~grounded_core.babyai_text.expert_dataset`).
The policy is trained by cross-entropy between its action distribution -- the softmax
over the action scores, exactly the distribution PPO trains (A3) -- and the bot's
action, with the same Adam settings and gradient clipping as PPO. Episodes the bot
fails are left out (it rarely does on the local levels).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..babyai_text import expert_dataset, get_variant, resolve_level_name
from ..llm import LLMPolicy
from .policy_loading import action_candidates

__all__ = ["BCConfig", "BCEpochReport", "bot_demonstrations", "train_behaviour_cloning"]


@dataclass
class BCConfig:
    """Behaviour-cloning settings."""

    level: str = "MixedTrainLocal"
    variant: str = "none"
    # Bot episodes; episode k is played on seed ``demo_seed + k``.
    demos: int = 200
    demo_seed: int = 0
    epochs: int = 4
    minibatch_size: int = 64
    lr: float = 1e-4
    adam_eps: float = 1e-5
    max_grad_norm: float = 0.5
    # Seeds the minibatch order (and torch's RNG for dropout).
    seed: int = 0

    def __post_init__(self) -> None:
        self.level = resolve_level_name(self.level)
        self.variant = get_variant(self.variant).name
        for name in ("demos", "epochs", "minibatch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BCConfig.{name} must be a positive integer, got {value!r}")
        for name in ("demo_seed", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"BCConfig.{name} must be a non-negative integer, got {value!r}")
        for name in ("lr", "adam_eps", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"BCConfig.{name} must be > 0, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BCEpochReport:
    epoch: int
    loss: float
    accuracy: float
    samples: int


def bot_demonstrations(config: BCConfig) -> list[dict]:
    """The (prompt, action) records of ``config.demos`` successful bot episodes."""
    seeds = range(config.demo_seed, config.demo_seed + config.demos)
    return expert_dataset(config.level, seeds, skip_failures=True, variant=config.variant)


def train_behaviour_cloning(
    policy: LLMPolicy,
    records: Sequence[dict],
    config: BCConfig,
    *,
    on_epoch: Callable[[BCEpochReport], None] | None = None,
) -> list[BCEpochReport]:
    """Fit ``policy`` to the records by cross-entropy on its action distribution."""
    if not records:
        raise ValueError("no demonstration records to train on")
    action_space = list(get_variant(config.variant).action_names)
    candidates = action_candidates(policy, action_space)
    prompts = [r["prompt"] for r in records]
    targets = torch.tensor([int(r["action_id"]) for r in records], dtype=torch.long)
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = policy.device
    reports = []
    policy.train()
    try:
        for epoch in range(1, config.epochs + 1):
            loss_sum, correct = 0.0, 0
            order = torch.randperm(len(prompts), generator=generator)
            for start in range(0, len(prompts), config.minibatch_size):
                index = order[start : start + config.minibatch_size]
                batch_prompts = [prompts[i] for i in index.tolist()]
                batch_targets = targets[index].to(device)
                scores = policy(batch_prompts, candidates, with_value=False).scores.float()
                loss = torch.nn.functional.cross_entropy(scores, batch_targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                loss_sum += loss.item() * len(index)
                correct += int((scores.argmax(-1) == batch_targets).sum())
            report = BCEpochReport(
                epoch=epoch,
                loss=loss_sum / len(prompts),
                accuracy=correct / len(prompts),
                samples=len(prompts),
            )
            if not math.isfinite(report.loss):
                raise FloatingPointError(
                    f"behaviour cloning diverged at epoch {epoch} (loss {report.loss})"
                )
            reports.append(report)
            if on_epoch is not None:
                on_epoch(report)
    finally:
        policy.eval()
    return reports

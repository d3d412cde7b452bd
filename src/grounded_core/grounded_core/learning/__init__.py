"""Learning algorithms of grounded_agent, independent of ROS.

- ``ppo``: GAE and the clipped PPO losses with their diagnostics (MISSION A4).
- ``glam_config``: :class:`GlamConfig` (env, model, ppo, train sections), YAML files and
  ``section.key=value`` overrides.
- ``env_adapters``: the :class:`TextEnvClient` protocol the learner talks to (mirrors the
  ``babyai_text_env`` services) and :class:`InProcessTextEnv`.
- ``rollout``: learner-side prompt histories (A2), episode statistics, rollout storage.
- ``glam_trainer``: :class:`GlamTrainer`, GLAM's PPO fine-tuning loop with atomic
  checkpoints, exact resume, TensorBoard metrics and stop/feedback hooks (A4).
- ``distributed_training``: the trainer under torchrun -- data-parallel policy replicas
  that score shards of the prompts and share the updates (A5).
- ``evaluation`` / ``generalisation``: success rates with Wilson intervals, random and
  policy agents, the generalisation table of A6.
- ``behaviour_cloning``: the offline baseline on BabyAI-bot demonstrations (Q4).
- ``glam_cli``: the ``grounded-glam`` command.

The LLM-dependent modules import :mod:`grounded_core.llm` (torch + transformers); they
are loaded lazily so that ``from grounded_core.learning import ppo_loss`` stays light.
"""

from __future__ import annotations

import importlib

from .ppo import PPOConfig, PPOLossOutput, compute_gae, explained_variance, ppo_loss

_LAZY = {
    "ConfigError": ".glam_config",
    "EnvConfig": ".glam_config",
    "GlamConfig": ".glam_config",
    "ModelConfig": ".glam_config",
    "TrainConfig": ".glam_config",
    "load_config": ".glam_config",
    "EnvObservation": ".env_adapters",
    "EnvReset": ".env_adapters",
    "EnvStep": ".env_adapters",
    "InProcessTextEnv": ".env_adapters",
    "TextEnvClient": ".env_adapters",
    "EpisodeTracker": ".rollout",
    "PromptHistories": ".rollout",
    "RolloutBuffer": ".rollout",
    "GlamTrainer": ".glam_trainer",
    "TrainResult": ".glam_trainer",
    "UpdateReport": ".glam_trainer",
    "load_policy": ".policy_loading",
    "ReplicaGroup": ".distributed_training",
    "serve_replica": ".distributed_training",
    "Agent": ".evaluation",
    "EvalResult": ".evaluation",
    "PolicyAgent": ".evaluation",
    "RandomAgent": ".evaluation",
    "evaluate": ".evaluation",
    "wilson_interval": ".evaluation",
    "GENERALISATION_TESTS": ".generalisation",
    "generalisation_table": ".generalisation",
    "BCConfig": ".behaviour_cloning",
    "bot_demonstrations": ".behaviour_cloning",
    "train_behaviour_cloning": ".behaviour_cloning",
}

__all__ = [
    "PPOConfig",
    "PPOLossOutput",
    "compute_gae",
    "explained_variance",
    "ppo_loss",
    *sorted(_LAZY),
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

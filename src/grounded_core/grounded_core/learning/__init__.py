"""Learning algorithms of grounded_agent, independent of models and ROS.

- ``ppo``: GAE and the clipped PPO losses with their diagnostics (MISSION A4).
"""

from .ppo import PPOConfig, PPOLossOutput, compute_gae, explained_variance, ppo_loss

__all__ = ["PPOConfig", "PPOLossOutput", "compute_gae", "explained_variance", "ppo_loss"]

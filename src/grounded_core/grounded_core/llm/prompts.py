"""Real GLAM prompts from BabyAI-Text episodes, for tests and benchmarks (MISSION A2).

:func:`collect_prompts` steps a :class:`~grounded_core.babyai_text.VectorBabyAITextEnv`
with uniformly random actions (seeded) and records the A2 prompt of every decision, so
prompts carry real missions, descriptions and histories of 0-3 observations. It needs no
model; the scorers' tests and ``bench/glam_scoring.py`` use it.
"""

from __future__ import annotations

import numpy as np

from ..babyai_text import VectorBabyAITextEnv

__all__ = ["collect_prompts"]


def collect_prompts(
    level: str = "MixedTrainLocal",
    n_prompts: int = 32,
    *,
    seed: int = 0,
    num_envs: int = 8,
    skip_steps: int = 0,
    variant: str | None = None,
    grammar: str = "compat",
) -> list[str]:
    """``n_prompts`` prompts from ``num_envs`` envs of ``level`` acting at random.

    Args:
        seed: seeds the envs (``seed + i``) and the random actions.
        skip_steps: steps taken before recording (``2`` gives full 3-observation
            histories from the start, as in most of an episode).
        variant, grammar: passed to the environments.
    """
    if n_prompts < 1 or num_envs < 1 or skip_steps < 0:
        raise ValueError(
            f"need n_prompts >= 1, num_envs >= 1, skip_steps >= 0; got {n_prompts}, "
            f"{num_envs}, {skip_steps}"
        )
    options = {"grammar": grammar}
    if variant is not None:
        options["variant"] = variant
    vec = VectorBabyAITextEnv(level, num_envs, base_seed=seed, **options)
    vec.reset()
    rng = np.random.default_rng(seed)
    n_actions = len(vec.action_space)
    prompts: list[str] = []
    step = 0
    while len(prompts) < n_prompts:
        if step >= skip_steps:
            prompts.extend(vec.prompts())
        vec.step(rng.integers(0, n_actions, size=num_envs).tolist())
        step += 1
    return prompts[:n_prompts]

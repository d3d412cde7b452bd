"""The ROS trainer's learner (grounded_ros.remote_learner) seeds a new task's buffer with the
core's ``reuse_scope`` rule: ``all`` = every earlier skill that fired, ``plan`` = the new
plan's sub-goals (the same ``seed_for_task`` as the in-process loop)."""

from __future__ import annotations

import pytest
import torch

from grounded_core.learning.collect_infer import CollectInferConfig
from grounded_ros.remote_learner import RemoteLearner, apply_overrides, parse_overrides
from tests.core.test_collect_infer_reuse_all import (
    EXPECTED_ALL,
    NEW,
    fabricated_lifelong,
    labels_by_id,
)

pytestmark = pytest.mark.ros

#: A tiny learner (shared with test_remote_learner_new_goal.py).
TINY_LEARNER = [
    "policy.text_encoder=hashing",
    "policy.text_dim=32",
    "policy.d_model=32",
    "policy.n_heads=2",
    "policy.n_layers=1",
    "bc_steps=5",
    "batch_size=16",
    "max_prefix=1",
]
SMALL = [*TINY_LEARNER, "eval_episodes=1"]


@pytest.mark.parametrize("scope", ["all", "plan"])
def test_remote_learner_seeds_with_the_reuse_scope(tmp_path, scope):
    torch.set_num_threads(1)
    fabricated_lifelong(tmp_path)
    config = apply_overrides(
        CollectInferConfig(), parse_overrides([*SMALL, f"reuse_scope={scope}"])
    )
    learner = RemoteLearner(config, tmp_path, NEW, log=lambda *a: None)
    try:
        seeded = [e for e in learner.buffer if e.source_task is not None]
        expected = (
            EXPECTED_ALL
            if scope == "all"
            else {f"seed-{NEW}-old-ccc": EXPECTED_ALL[f"seed-{NEW}-old-ccc"]}
        )
        assert labels_by_id(seeded) == expected
        assert learner.version == 1  # trained on the seeded data before any episode arrives
    finally:
        learner.close()

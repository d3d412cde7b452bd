"""GLAM PPO under torchrun (MISSION A5): data-parallel replicas give the weights of one
process, with empty shards, resume and a failed start handled.

The runs are real ``python -m torch.distributed.run`` subprocesses (gloo, CPU) of
``grounded_core.learning.glam_cli train``; the reference is the same config trained in
this process. Dropout is off (``model.dropout=0``): its masks are drawn per rank.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from grounded_core.data import CheckpointManager
from grounded_core.learning.glam_config import load_config
from grounded_core.learning.glam_trainer import GlamTrainer
from grounded_core.learning.policy_loading import set_dropout
from grounded_core.llm import ActionScorer, tiny_t5_dir

BASE = [
    "env.level=GoToRedBallNoDists",
    "env.max_steps=5",  # episodes end inside the tiny rollouts
    "ppo.epochs=2",
    # A moderate step: with lr 1e-3 the tiny model's policy jumps (approx KL ~7 per
    # update), a chaotic regime where float rounding grows to visible differences.
    "ppo.lr=2e-4",
    "model.dropout=0",
    "train.seed=5",
    "train.torch_threads=1",
    "train.progress=false",
    "train.tensorboard=false",
]
# One env and minibatches of 5 then 1: rank 1 scores nothing during the rollout and
# gets an empty shard of the last minibatch.
ONE_ENV = ["ppo.num_envs=1", "ppo.steps_per_env=6", "ppo.minibatch_size=5"]


def torchrun(nproc: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    tiny_t5_dir()  # build the cached model once, not raced by the ranks
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "grounded_core.learning.glam_cli",
            "train",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def single_process(run_dir: Path, overrides: list[str], updates: int) -> GlamTrainer:
    trainer = GlamTrainer(load_config(None, overrides), run_dir)
    with trainer:
        trainer.train(num_updates=updates)
    return trainer


def saved_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    policy = CheckpointManager(run_dir / "checkpoints").latest() / "policy"
    return {
        **load_file(policy / "model.safetensors"),
        **{f"value.{k}": v for k, v in load_file(policy / "value_head.safetensors").items()},
    }


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=2e-5, rtol=1e-4, msg=key)


def test_two_ranks_train_like_one_process(tmp_path):
    overrides = [*BASE, *ONE_ENV]
    run = torchrun(2, "--run-dir", str(tmp_path / "dist"), "--updates", "2", *overrides)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "finished at update 2 (12 env steps)" in run.stdout
    reference = single_process(tmp_path / "single", overrides, 2)
    assert_same_weights(saved_weights(tmp_path / "dist"), saved_weights(tmp_path / "single"))
    # The training really moved the weights (so the equality is not trivial).
    start = ActionScorer.from_pretrained("tiny-t5")
    moved = max(
        (p - q).abs().max().item()
        for p, q in zip(reference.policy.model.parameters(), start.model.parameters())
    )
    assert moved > 1e-4
    # Only rank 0 writes: one checkpoint per update, nothing else in the run directory.
    checkpoints = sorted(p.name for p in (tmp_path / "dist" / "checkpoints").glob("update_*"))
    assert checkpoints == ["update_00000001", "update_00000002"]


@pytest.mark.slow
def test_more_ranks_than_envs_and_resume_under_torchrun(tmp_path):
    overrides = [*BASE, "ppo.num_envs=2", "ppo.steps_per_env=4", "ppo.minibatch_size=3"]
    first = torchrun(3, "--run-dir", str(tmp_path / "dist"), "--updates", "1", *overrides)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = torchrun(3, "--run-dir", str(tmp_path / "dist"), "--resume", "--updates", "1")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "finished at update 2 (16 env steps)" in resumed.stdout
    single_process(tmp_path / "single", overrides, 2)
    assert_same_weights(saved_weights(tmp_path / "dist"), saved_weights(tmp_path / "single"))


@pytest.mark.slow
def test_bad_config_stops_every_rank(tmp_path):
    run = torchrun(2, "--run-dir", str(tmp_path / "bad"), "--updates", "1", "env.level=NoSuch")
    assert run.returncode != 0
    assert "NoSuch" in run.stderr


def test_set_dropout_reaches_functional_attention_dropout():
    # T5 applies dropout to its attention weights with a float attribute, not a layer;
    # model.dropout=0 must switch that off too (else ranks draw different masks).
    policy = ActionScorer.from_pretrained(tiny_t5_dir())
    attention = policy.model.encoder.block[0].layer[0].SelfAttention
    assert attention.dropout > 0
    set_dropout(policy, 0.0)
    assert attention.dropout == 0.0
    assert all(m.p == 0.0 for m in policy.modules() if isinstance(m, torch.nn.Dropout))

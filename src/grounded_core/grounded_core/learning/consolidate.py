"""One policy for every skill of a Collect & Infer run (MISSION B5, B6 use 3).

Collect & Infer trains a policy per task (``reinit_per_task``); keeping the
weights across tasks while behaviour cloning only on the current task's buffer
learnt the first task and not the others (measured in
``bench/learning_from_video.py``: 1.00 on stack red on blue, 0.00-0.12 on the
five other stack tasks). The skill scheduler, though, wants *one*
goal-conditioned policy that knows every sub-goal of every plan
("grasp X" for each object, "X on Y" for each ordered pair).

Consolidation builds it from data the run already has:

1. :func:`extract_skills` (buffers.py, shared with Collect & Infer's
   ``reuse_scope: all``): every episode of the run's lifelong buffer (all
   tasks, each stored with the judge's detections of the whole caption
   vocabulary per frame) is relabelled against *every* sub-goal of the
   vocabulary (the hindsight rule of ``relabel.py``: a sub-goal's first rising
   edge labels the prefix up to it, ``max_prefix`` keeps its last primitives).
   This is the lifelong "extract" step applied to all skills at once: a
   "green on red" that fired by chance in a "red on blue" episode is a
   demonstration too.
2. :func:`consolidate`: fresh weights, behaviour cloning on the union with the
   run's BC options (goal-balanced minibatches, pointer supervision, shift
   augmentation; ``collect_infer.bc_trainer``).

:func:`consolidate_run` does both for a run directory and saves the policy as
an atomic checkpoint (``policy.io.save_policy``) loadable by
``policy.io.load_policy`` / the ``policy`` node. Task (instruction) labels are
not extracted: the scheduler conditions the policy on sub-goals only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..policy.io import save_policy
from ..policy.model import GoalPolicy
from ..policy.text import TextEncoder, make_text_encoder
from ..tabletop.captions import caption_list
from ..tabletop.world_config import load_world_config
from .buffers import CONSOLIDATED_TASK, Episode, EpisodeStore, bc_dataset, extract_skills
from .collect_infer import CollectInferConfig, bc_trainer, load_collect_infer_config


def consolidate(
    episodes: Sequence[Episode],
    config: CollectInferConfig,
    *,
    steps: int,
    seed: int = 0,
    text_encoder: TextEncoder | None = None,
) -> tuple[GoalPolicy, dict]:
    """A fresh policy behaviour-cloned on the labels of ``episodes``; returns (policy, stats)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    data = bc_dataset(episodes)
    if len(data) == 0:
        raise ValueError("no labelled steps to consolidate (did any sub-goal fire?)")
    world = load_world_config(config.world)
    pcfg = config.policy.replace(
        n_objects=len(world.objects),
        workspace_x=list(world.workspace.x),
        workspace_y=list(world.workspace.y),
    )
    torch.manual_seed(seed)
    policy = GoalPolicy(pcfg, text_encoder or make_text_encoder(pcfg))
    trainer = bc_trainer(policy, config, seed=seed)
    stats = trainer.fit(data, steps)
    per_goal: dict[str, int] = {}
    for goal in data.goals:
        per_goal[goal] = per_goal.get(goal, 0) + 1
    return policy, {
        "bc_steps": steps,
        "samples": stats["samples"],
        "loss": stats["loss"],
        "samples_per_goal": dict(sorted(per_goal.items())),
        "episodes": len(episodes),
    }


def consolidate_run(
    run_dir: str | os.PathLike,
    config: CollectInferConfig,
    out_dir: str | os.PathLike,
    *,
    steps: int,
    seed: int = 0,
) -> dict:
    """Extract every skill from ``run_dir``'s lifelong buffer, consolidate, save to ``out_dir``.

    Returns the summary that is also stored in the checkpoint's manifest
    (``extra.consolidation``).
    """
    start = time.monotonic()
    lifelong = EpisodeStore(Path(run_dir) / "lifelong")
    if len(lifelong) == 0:
        raise ValueError(f"{run_dir}: the lifelong buffer is empty")
    world = load_world_config(config.world)
    vocabulary = caption_list(world.object_names)
    episodes = extract_skills(lifelong, vocabulary, max_prefix=config.max_prefix)
    policy, stats = consolidate(episodes, config, steps=steps, seed=seed)
    tasks: dict[str, int] = {}
    for episode in lifelong:
        tasks[episode.task] = tasks.get(episode.task, 0) + 1
    summary = {
        **stats,
        "source_run": str(run_dir),
        "lifelong_episodes_per_task": dict(sorted(tasks.items())),
        "lifelong_primitives": sum(e.length for e in lifelong),
        "max_prefix": config.max_prefix,
        "seed": seed,
        "bc_options": {
            "lr": config.lr,
            "weight_decay": config.weight_decay,
            "batch_size": config.batch_size,
            "balance_goals": config.balance_goals,
            "pointer_aux_weight": config.pointer_aux_weight,
            "pointer_aux_radius": config.pointer_aux_radius,
            "shift_augment": config.shift_augment,
        },
        "wall_s": time.monotonic() - start,
    }
    save_policy(policy, out_dir, 1, extra={"consolidation": summary}, keep=1)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m grounded_core.learning.consolidate``: one policy from a run's skills."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="YAML (config/collect_infer.yaml)")
    parser.add_argument("--run-dir", required=True, help="a Collect & Infer run directory")
    parser.add_argument("--out", required=True, help="checkpoint root for the policy")
    parser.add_argument("--steps", type=int, default=2000, help="behaviour-cloning steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-prefix", type=int, default=None, help="keep the last N primitives of a prefix"
    )
    args = parser.parse_args(argv)
    try:
        config = load_collect_infer_config(args.config)
        if args.max_prefix is not None:
            config = config.replace(max_prefix=args.max_prefix)
        torch.set_num_threads(1)
        summary = consolidate_run(args.run_dir, config, args.out, steps=args.steps, seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["CONSOLIDATED_TASK", "consolidate", "consolidate_run", "extract_skills", "main"]

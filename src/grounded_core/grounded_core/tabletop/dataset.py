"""Render labelled tabletop frames to disk for the CLIP captioner (MISSION B2).

MISSION B2 fine-tunes CLIP on in-domain frames auto-labelled from simulator
state (~10^3 pairs suffice). This tool produces them: it runs episodes of the
random policy and of the scripted expert (on random tasks), and records the
state after reset and after every primitive, until ``n`` states are stored.
Random-policy states are mostly negatives; expert-visited states contain the
grasps and stacks the captions describe, so ``expert_fraction`` balances them.

Layout of ``--out DIR``::

    DIR/meta.json           world, captions (fixed order), cameras (K, pose), counts, settings
    DIR/labels.jsonl        one record per state: index, source, episode, step, task,
                            images {camera: relative path}, captions {text: bool},
                            positions {object: [x, y, z]}, ee_position, gripper_width,
                            holding, state (full WorldState.to_dict())
    DIR/images/000123_front_left.png   (RGB; with --depth also *_depth.npy, metres)

CLI: ``python -m grounded_core.tabletop.dataset --out DIR --n 1000``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .captions import caption_list, caption_truth
from .expert import ScriptedExpert
from .random_policy import RandomPolicy
from .tasks import build_tasks
from .world import TabletopWorld
from .world_config import DEFAULT_WORLD

RANDOM = "random"
EXPERT = "expert"
#: Random-policy episodes are cut after this many primitives (states vary more).
RANDOM_EPISODE_STEPS = 10


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`generate_dataset` wrote."""

    out_dir: Path
    n_states: int
    n_random: int
    n_expert: int
    positives: dict[str, int]  # caption -> number of states where it holds


def frame_label(
    index: int,
    source: str,
    episode: int,
    step: int,
    task_name: str,
    images: dict[str, str],
    truth: dict,
    state,
) -> dict:
    """One line of a labelled-frames ``labels.jsonl``: where the frame came from, its
    image files per camera, the caption truth and the object / gripper state."""
    return {
        "index": index,
        "source": source,
        "episode": episode,
        "step": step,
        "task": task_name,
        "images": images,
        "captions": truth,
        "positions": {k: [float(v) for v in state.position(k)] for k in state.objects},
        "ee_position": [float(v) for v in state.ee_position],
        "gripper_width": state.gripper_width,
        "holding": state.holding,
    }


def generate_dataset(
    out_dir: str | Path,
    n: int,
    *,
    world: str | Path = DEFAULT_WORLD,
    seed: int = 0,
    expert_fraction: float = 0.5,
    cameras: list[str] | None = None,
    depth: bool = False,
    progress: bool = True,
) -> DatasetSummary:
    """Render ``n`` labelled states into ``out_dir`` (see the module docstring)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0.0 <= expert_fraction <= 1.0:
        raise ValueError(f"expert_fraction must lie in [0, 1], got {expert_fraction}")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = {RANDOM: 0, EXPERT: 0}
    with TabletopWorld(world, seed=seed) as sim:
        config = sim.config
        camera_names = cameras or [c.name for c in config.enabled_cameras]
        for name in camera_names:
            if name not in sim.cameras:
                raise ValueError(f"unknown camera {name!r}; cameras are {list(sim.cameras)}")
        tasks = list(build_tasks(config).values())
        captions = caption_list(config.object_names)
        positives = dict.fromkeys(captions, 0)
        tol = config.tolerances
        index, episode = 0, 0
        bar = tqdm(total=n, desc="tabletop dataset", unit="state", disable=not progress)
        with open(out / "labels.jsonl", "w", encoding="utf-8") as labels:

            def record(source: str, task_name: str, step: int) -> None:
                nonlocal index
                state = sim.state()
                truth = caption_truth(state, tol)
                images = {}
                for cam in camera_names:
                    frame = sim.render(cam)
                    rel = f"images/{index:06d}_{cam}.png"
                    cv2.imwrite(str(out / rel), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
                    images[cam] = rel
                    if depth:
                        np.save(out / f"images/{index:06d}_{cam}_depth.npy", frame.depth)
                entry = frame_label(index, source, episode, step, task_name, images, truth, state)
                entry["state"] = state.to_dict()
                labels.write(json.dumps(entry) + "\n")
                for text, holds in truth.items():
                    positives[text] += int(holds)
                counts[source] += 1
                index += 1
                bar.update(1)

            while index < n:
                source = EXPERT if rng.random() < expert_fraction else RANDOM
                task = tasks[int(rng.integers(len(tasks)))]
                # Separate seeds for layout and policy: with one seed the policy's
                # first (x, y) would reuse the draws that placed the first object.
                layout_seed, policy_seed = (int(v) for v in rng.integers(2**31, size=2))
                state = sim.reset(seed=layout_seed)
                record(source, task.name, 0)
                if source == EXPERT:
                    policy = ScriptedExpert(config, task)
                    limit = task.max_steps
                else:
                    policy = RandomPolicy(config.workspace, seed=policy_seed)
                    limit = RANDOM_EPISODE_STEPS
                for step in range(1, limit + 1):
                    if index >= n or (source == EXPERT and task.is_success(state, tol)):
                        break
                    sim.act(*policy.act(state))
                    state = sim.state()
                    record(source, task.name, step)
                episode += 1
        bar.close()
        meta = {
            "world": config.name,
            "world_file": str(config.source) if config.source else None,
            "n_states": index,
            "counts": counts,
            "positives": positives,
            "captions": captions,
            "objects": list(config.object_names),
            "cameras": {
                name: {
                    "width": sim.cameras[name].config.width,
                    "height": sim.cameras[name].config.height,
                    "K": sim.cameras[name].K.tolist(),
                    "world_from_camera": sim.cameras[name].world_from_camera.tolist(),
                }
                for name in camera_names
            },
            "settings": {
                "seed": seed,
                "expert_fraction": expert_fraction,
                "depth": depth,
                "random_episode_steps": RANDOM_EPISODE_STEPS,
            },
            "python": platform.python_version(),
        }
        (out / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return DatasetSummary(out, index, counts[RANDOM], counts[EXPERT], positives)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grounded_core.tabletop.dataset",
        description="Render random and expert-visited tabletop states with caption labels.",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--n", type=int, required=True, help="number of states to render")
    parser.add_argument("--world", default=DEFAULT_WORLD, help="world name or YAML path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--expert-fraction", type=float, default=0.5, help="share of expert episodes (0..1)"
    )
    parser.add_argument(
        "--cameras", default=None, help="comma-separated camera names (default: enabled ones)"
    )
    parser.add_argument("--depth", action="store_true", help="also save depth (.npy, metres)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    try:
        summary = generate_dataset(
            args.out,
            args.n,
            world=args.world,
            seed=args.seed,
            expert_fraction=args.expert_fraction,
            cameras=args.cameras.split(",") if args.cameras else None,
            depth=args.depth,
            progress=not args.no_progress,
        )
    except ValueError as exc:  # config, camera and argument errors: one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {summary.n_states} states ({summary.n_random} random, {summary.n_expert} expert) "
        f"to {summary.out_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

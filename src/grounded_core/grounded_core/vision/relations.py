"""Relation-rich captioner data: stacks built by the expert, then disturbed by clutter.

Why (bench/results/captioner.md, issue 6): in the tabletop dataset an expert stack
episode ends at the first state where the stack holds, so each "X on Y" caption had
only ~30-45 positive states out of 1500, all of one kind (gripper just opened above a
fresh two-block stack). The held-out misses of the first default captioner were the
other kinds: a stack while the robot holds the third object, a stack with the third
object parked next to it, a stack seen with the arm elsewhere. This module renders
episodes that contain exactly those states:

1. reset a random layout, pick a random stacking task (a pair, or all three blocks);
2. run the scripted expert until the task holds (every state recorded, source
   ``expert``);
3. continue for ``clutter_steps`` steps with a *clutter* policy (source ``clutter``):
   each pick/place goes to a random object's position (plus a little noise) with
   probability ``object_bias``, else to a uniform point of the workspace. It picks the
   third block and carries it around, parks it next to or onto the stack, sometimes
   takes the stack apart (negatives of the same scene).

The folder has the tabletop dataset's format (``meta.json``, ``labels.jsonl``,
``images/``), labels computed from simulator state (MISSION B2), so
:func:`~grounded_core.vision.data.load_frames` reads it like any other.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

__all__ = ["CLUTTER", "relations_complete", "render_relation_dataset"]

CLUTTER = "clutter"
EXPERT = "expert"
KIND = "relations"


def relations_complete(root: str | Path, n: int, seed: int, clutter_steps: int) -> bool:
    """True when ``root`` already holds a relation dataset rendered with these settings."""
    from .data import read_dataset_meta

    meta = read_dataset_meta(root)
    if meta is None:
        return False
    settings = meta.get("settings", {})
    return (
        meta.get("n_states") == n
        and settings.get("kind") == KIND
        and settings.get("seed") == seed
        and settings.get("clutter_steps") == clutter_steps
    )


def _clutter_action(rng: np.random.Generator, state, workspace, object_bias: float) -> np.ndarray:
    """A pick/place target: near a random object (probability ``object_bias``) or uniform."""
    if rng.random() < object_bias:
        name = state.object_names[int(rng.integers(len(state.object_names)))]
        xy = np.asarray(state.position(name)[:2], dtype=float) + rng.normal(0.0, 0.008, 2)
    else:
        xy = np.array([rng.uniform(*workspace.x), rng.uniform(*workspace.y)])
    return np.array([np.clip(xy[0], *workspace.x), np.clip(xy[1], *workspace.y)], dtype=float)


def render_relation_dataset(
    root: str | Path,
    n: int,
    *,
    seed: int,
    world: str = "tabletop",
    clutter_steps: int = 6,
    object_bias: float = 0.7,
    cameras: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Render ``n`` labelled states of stack-then-clutter episodes into ``root``.

    Reuses an identical finished dataset. ``seed`` draws layouts, tasks and clutter
    actions (different seeds = unseen episodes).
    """
    from ..tabletop.captions import caption_list, caption_truth
    from ..tabletop.dataset import frame_label
    from ..tabletop.expert import ScriptedExpert
    from ..tabletop.tasks import build_tasks
    from ..tabletop.world import TabletopWorld

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(clutter_steps, bool) or not isinstance(clutter_steps, int) or clutter_steps < 0:
        raise ValueError(f"clutter_steps must be a non-negative integer, got {clutter_steps!r}")
    if not 0.0 <= object_bias <= 1.0:
        raise ValueError(f"object_bias must lie in [0, 1], got {object_bias}")
    root = Path(root)
    if relations_complete(root, n, seed, clutter_steps):
        return root
    (root / "meta.json").unlink(missing_ok=True)  # written last: without it, partial
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = {EXPERT: 0, CLUTTER: 0}
    with TabletopWorld(world, seed=seed) as sim:
        config = sim.config
        camera_names = list(cameras) if cameras else [c.name for c in config.enabled_cameras]
        for name in camera_names:
            if name not in sim.cameras:
                raise ValueError(f"unknown camera {name!r}; cameras are {list(sim.cameras)}")
        tasks = [t for t in build_tasks(config).values() if len(t.objects) >= 2]
        captions = caption_list(config.object_names)
        positives = dict.fromkeys(captions, 0)
        tol = config.tolerances
        index = episode = 0
        bar = tqdm(total=n, desc="relation dataset", unit="state", disable=not progress)
        with open(root / "labels.jsonl", "w", encoding="utf-8") as labels:

            def record(source: str, task_name: str, step: int) -> None:
                nonlocal index
                state = sim.state()
                truth = caption_truth(state, tol)
                images = {}
                for cam in camera_names:
                    rel = f"images/{index:06d}_{cam}.png"
                    rgb = sim.render(cam).rgb
                    cv2.imwrite(str(root / rel), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                    images[cam] = rel
                entry = frame_label(index, source, episode, step, task_name, images, truth, state)
                labels.write(json.dumps(entry) + "\n")
                for text, holds in truth.items():
                    positives[text] += int(holds)
                counts[source] += 1
                index += 1
                bar.update(1)

            while index < n:
                task = tasks[int(rng.integers(len(tasks)))]
                state = sim.reset(seed=int(rng.integers(2**31)))
                record(EXPERT, task.name, 0)
                expert = ScriptedExpert(config, task)
                step = 0
                while index < n and step < task.max_steps and not task.is_success(state, tol):
                    sim.act(*expert.act(state))
                    state = sim.state()
                    step += 1
                    record(EXPERT, task.name, step)
                for _ in range(clutter_steps):
                    if index >= n:
                        break
                    sim.act(*_clutter_action(rng, state, config.workspace, object_bias))
                    state = sim.state()
                    step += 1
                    record(CLUTTER, task.name, step)
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
            "cameras": camera_names,
            "settings": {
                "kind": KIND,
                "seed": seed,
                "clutter_steps": clutter_steps,
                "object_bias": object_bias,
            },
            "python": platform.python_version(),
        }
        tmp = root / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        tmp.replace(root / "meta.json")
    return root

"""Collect & Infer on the tabletop (MISSION B5, B6 uses 1 and 2), ROS-free.

Loop for one task (:meth:`CollectInfer.run_task`):

1. **Collect**: ``n_actors`` in-process actors (actor.py, each its own world)
   run episodes with the current weights, sampling actions. In ``curriculum``
   mode the policy is conditioned on the current sub-goal of the task's plan
   (plans.py; reference plans now, the LLM planner later); in ``env`` mode
   (the baseline) on the task instruction. Every frame is judged against every
   caption (judges.py: CLIP captioner or simulator truth).
2. **Relabel** (relabel.py): in curriculum mode each sub-goal of the plan that
   fired, and the environment reward, label the trajectory prefix up to that
   step (with the sub-goal text / the task instruction, both by default); in
   env mode only the environment reward labels (with the instruction). Every
   episode goes to the lifelong buffer, labelled ones to the task buffer
   (buffers.py: one atomic JSON file per episode).
3. **Infer**: every ``episodes_per_update`` episodes the policy is trained by
   behaviour cloning on the whole task buffer (goal_bc.py; minibatches draw
   every goal equally often, ``balance_goals``); the new weights get
   the next version number, are serialised (``policy.io.to_bytes``, the
   ``PolicyWeights`` message form) and loaded by every actor, with the set of
   goals that have demonstrations (actors explore the others uniformly at
   random, ``explore_untrained_goals``; see actor.py). With
   ``update_on_new_goal`` (the default) a round also ends early, right after the episode
   that gave a goal without demonstrations its first one (a new skill's first
   sub-goal firing, or the first environment reward), so actors stop exploring
   that goal uniformly as soon as there is something to imitate.
4. Every ``eval_every`` updates the greedy policy is evaluated on fixed
   held-out layouts (``eval_episodes``), and the trainer state is checkpointed
   atomically (policy + optimiser + counters + learning curve).

Across tasks (:meth:`CollectInfer.run_sequence`): with ``reinit_per_task`` the
policy is re-initialised for every task; with ``reuse_lifelong`` the
lifelong buffer's earlier episodes (their stored detections) are searched and
the matching prefixes seed the new task's buffer, then the policy is trained on
them before collecting (extract & transfer). ``reuse_scope`` says which
sub-goals are searched for: ``plan`` (the new task's plan only) or ``all``
(every caption of the vocabulary, ``buffers.extract_skills``: the re-initialised
policy relearns every earlier skill, e.g. "grasp red" and "red on blue", and
can generalise through the goal embedding and the object tokens to the new
task's sub-goals). Goals that still have no demonstration are explored
uniformly (``explore_untrained_goals``), or with ``untrained_policy_share`` p
sampled from the policy with probability p per step (its guess from the related
goals it was trained on) and uniformly otherwise.

Resume: run again with the same ``run_dir``; the newest checkpoint of the task
restores policy, optimiser and counters, and every episode stored since (they
are on disk the moment they finish) stays in the buffers; the environment-step
count is recomputed from the stored episodes, so nothing is lost or counted
twice.

Step accounting: ``env_steps`` counts collection primitives (the x axis of the
learning curves); evaluation primitives are counted separately
(``eval_steps``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ..data.checkpoints import CheckpointManager
from ..policy.config import PolicyConfig
from ..policy.io import load_policy, save_policy, to_bytes
from ..policy.model import GoalPolicy
from ..policy.text import TextEncoder, make_text_encoder
from ..tabletop.captions import caption_list
from ..tabletop.tasks import get_task
from ..tabletop.world_config import load_world_config
from .actor import Actor
from .buffers import Episode, EpisodeStore, bc_dataset, extract_skills, seed_from_lifelong
from .goal_bc import GoalBCTrainer
from .judges import JUDGES, Judge, make_judge
from .plans import PlanSource, ReferencePlanSource
from .relabel import relabel

REWARD_MODES = ("curriculum", "env")
#: Which sub-goals seed a new task's buffer from the lifelong buffer (``reuse_scope``).
REUSE_SCOPES = ("plan", "all")
#: Evaluation layouts use seeds from here on (training seeds stay far below).
EVAL_SEED_BASE = 10_000_000


class CollectInferConfigError(ValueError):
    """A Collect & Infer configuration value is invalid."""


@dataclass(frozen=True)
class CollectInferConfig:
    """Settings of :class:`CollectInfer` (``config/collect_infer.yaml`` documents each)."""

    world: str = "tabletop"
    reward_mode: str = "curriculum"
    judge: str = "truth"
    captioner_checkpoint: str | None = None
    cameras: tuple[str, ...] = ("front_left", "front_right")
    n_actors: int = 4
    episodes_per_update: int = 4
    update_on_new_goal: bool = True
    max_episode_steps: int | None = None
    temperature: float = 1.0
    epsilon: float = 0.0
    explore_untrained_goals: bool = True
    untrained_policy_share: float = 0.0
    object_relative_place: bool = True
    label_subgoals: bool = True
    label_with_task: bool = True
    max_prefix: int | None = None
    task_max_prefix: int | None = None
    bc_steps: int = 150
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    balance_goals: bool = True
    pointer_aux_weight: float = 0.0
    pointer_aux_radius: float = 0.025
    shift_augment: float = 0.0
    eval_every: int = 1
    eval_episodes: int = 8
    eval_max_steps: int | None = None
    target_success: float = 0.5
    stop_success: float | None = 0.9
    max_env_steps: int = 5000
    reinit_per_task: bool = True
    reuse_lifelong: bool = True
    reuse_scope: str = "all"
    keep_checkpoints: int = 2
    seed: int = 0
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def __post_init__(self) -> None:
        def positive_int(name: str, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if allow_none and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CollectInferConfigError(
                    f"collect_infer.{name} must be a positive integer"
                    f"{' or null' if allow_none else ''}, got {value!r}"
                )

        for name in (
            "n_actors",
            "episodes_per_update",
            "bc_steps",
            "batch_size",
            "eval_every",
            "max_env_steps",
            "keep_checkpoints",
        ):
            positive_int(name)
        for name in ("max_episode_steps", "eval_max_steps", "max_prefix", "task_max_prefix"):
            positive_int(name, allow_none=True)
        if isinstance(self.eval_episodes, bool) or not isinstance(self.eval_episodes, int):
            raise CollectInferConfigError("collect_infer.eval_episodes must be an integer >= 0")
        if self.eval_episodes < 0:
            raise CollectInferConfigError("collect_infer.eval_episodes must be >= 0")
        if not isinstance(self.update_on_new_goal, bool):
            raise CollectInferConfigError(
                f"collect_infer.update_on_new_goal must be true or false, "
                f"got {self.update_on_new_goal!r}"
            )
        if self.reward_mode not in REWARD_MODES:
            raise CollectInferConfigError(
                f"collect_infer.reward_mode must be one of {REWARD_MODES}, got {self.reward_mode!r}"
            )
        if self.judge not in JUDGES:
            raise CollectInferConfigError(
                f"collect_infer.judge must be one of {JUDGES}, got {self.judge!r}"
            )
        if isinstance(self.cameras, str) or not all(isinstance(c, str) for c in self.cameras):
            raise CollectInferConfigError("collect_infer.cameras must be a list of camera names")
        object.__setattr__(self, "cameras", tuple(self.cameras))
        if self.reuse_scope not in REUSE_SCOPES:
            raise CollectInferConfigError(
                f"collect_infer.reuse_scope must be one of {REUSE_SCOPES}, got {self.reuse_scope!r}"
            )
        for name, low, high in (
            ("epsilon", 0.0, 1.0),
            ("target_success", 0.0, 1.0),
            ("untrained_policy_share", 0.0, 1.0),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not low <= value <= high
            ):
                raise CollectInferConfigError(
                    f"collect_infer.{name} must be in [{low}, {high}], got {value!r}"
                )
        if self.stop_success is not None and not 0.0 < self.stop_success <= 1.0:
            raise CollectInferConfigError("collect_infer.stop_success must be in (0, 1] or null")
        for name in ("temperature", "lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise CollectInferConfigError(f"collect_infer.{name} must be > 0, got {value!r}")
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise CollectInferConfigError("collect_infer.weight_decay must be >= 0")
        if (
            isinstance(self.pointer_aux_weight, bool)
            or not isinstance(self.pointer_aux_weight, (int, float))
            or not 0 <= self.pointer_aux_weight < math.inf
        ):
            raise CollectInferConfigError(
                f"collect_infer.pointer_aux_weight must be >= 0, got {self.pointer_aux_weight!r}"
            )
        if (
            isinstance(self.pointer_aux_radius, bool)
            or not isinstance(self.pointer_aux_radius, (int, float))
            or not 0 < self.pointer_aux_radius < math.inf
        ):
            raise CollectInferConfigError(
                f"collect_infer.pointer_aux_radius must be > 0 (m), got {self.pointer_aux_radius!r}"
            )
        if (
            isinstance(self.shift_augment, bool)
            or not isinstance(self.shift_augment, (int, float))
            or not 0 <= self.shift_augment < math.inf
        ):
            raise CollectInferConfigError(
                f"collect_infer.shift_augment must be >= 0 (m), got {self.shift_augment!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise CollectInferConfigError("collect_infer.seed must be a non-negative integer")
        if isinstance(self.policy, Mapping):
            object.__setattr__(self, "policy", PolicyConfig.from_dict(self.policy))
        if not isinstance(self.policy, PolicyConfig):
            raise CollectInferConfigError("collect_infer.policy must be a policy config mapping")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["cameras"] = list(self.cameras)
        data["policy"] = self.policy.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectInferConfig:
        if not isinstance(data, Mapping):
            raise CollectInferConfigError("collect_infer config must be a mapping")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CollectInferConfigError(
                f"unknown collect_infer field(s) {unknown}; known: {sorted(known)}"
            )
        return cls(**dict(data))

    def replace(self, **changes: Any) -> CollectInferConfig:
        data = {**self.to_dict(), **changes}
        return CollectInferConfig.from_dict(data)


def load_collect_infer_config(path: str | os.PathLike | None = None) -> CollectInferConfig:
    """The ``collect_infer:`` section of a YAML file (and its ``policy:`` section)."""
    if path is None:
        return CollectInferConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CollectInferConfigError(f"{path}: cannot read config ({exc})") from exc
    if not isinstance(data, Mapping):
        raise CollectInferConfigError(f"{path}: must be a mapping")
    section = dict(data.get("collect_infer", {}) or {})
    if "policy" in data:
        section["policy"] = data["policy"]
    try:
        return CollectInferConfig.from_dict(section)
    except ValueError as exc:
        raise CollectInferConfigError(f"{path}: {exc}") from exc


@dataclass
class CurvePoint:
    """One evaluation: where training stood and how the greedy policy did."""

    env_steps: int
    episodes: int
    version: int
    success: float
    buffer_steps: int
    loss: float
    train_success: float  # share of collection episodes with env reward since the last point
    wall_s: float


@dataclass
class TaskReport:
    task: str
    reward_mode: str
    judge: str
    plan: list[str]
    env_steps: int
    eval_steps: int
    episodes: int
    version: int
    seeded_episodes: int
    seeded_steps: int
    curve: list[CurvePoint]
    steps_to_target: int | None
    final_success: float
    labels_per_goal: dict[str, int]
    wall_s: float

    def to_dict(self) -> dict:
        data = asdict(self)
        data["curve"] = [asdict(p) for p in self.curve]
        return data


def _int_hash(*parts: Any) -> int:
    """Stable small integer from parts (episode seeds must not depend on PYTHONHASHSEED)."""
    import hashlib

    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def bc_trainer(policy: GoalPolicy, config: CollectInferConfig, seed: int) -> GoalBCTrainer:
    """The behaviour-cloning trainer of ``policy`` with ``config``'s BC settings (the
    in-process loop and the ROS trainer node's learner build it the same way)."""
    return GoalBCTrainer(
        policy,
        config.lr,
        config.weight_decay,
        config.batch_size,
        seed=seed,
        balance_goals=config.balance_goals,
        pointer_aux_weight=config.pointer_aux_weight,
        pointer_aux_radius=config.pointer_aux_radius,
        shift_augment=config.shift_augment,
    )


def demonstrates_new_goal(episode: Episode, trained_goals: Collection[str]) -> bool:
    """Whether ``episode`` labels a goal the policy has no demonstration of yet (the
    ``update_on_new_goal`` trigger, shared with the ROS trainer)."""
    return any(label.goal not in trained_goals for label in episode.labels)


def seed_for_task(
    lifelong: EpisodeStore | Sequence[Episode],
    task: str,
    plan: Sequence[str],
    vocabulary: Sequence[str],
    *,
    scope: str,
    max_prefix: int | None,
) -> list[Episode]:
    """Relabelled copies of other tasks' lifelong episodes to seed ``task``'s buffer.

    ``scope`` ``plan``: the prefixes where ``plan``'s sub-goals fired
    (``seed_from_lifelong``); ``all``: the prefixes of every caption of
    ``vocabulary`` that fired (``extract_skills``). Episodes of ``task`` itself
    are skipped (they are in its buffer already); the copies' ids are
    deterministic, so seeding again after a kill replaces the same files. The
    in-process loop and the ROS trainer (grounded_ros.remote_learner) both seed
    through this function.
    """
    if scope not in REUSE_SCOPES:
        raise CollectInferConfigError(f"reuse_scope must be one of {REUSE_SCOPES}, got {scope!r}")
    if scope == "all":
        return extract_skills(
            lifelong, vocabulary, max_prefix=max_prefix, task=task, exclude_task=True
        )
    return seed_from_lifelong(lifelong, task, plan, max_prefix=max_prefix)


class CollectInfer:
    """Actors + buffers + behaviour cloning under one ``run_dir`` (see the module docstring)."""

    def __init__(
        self,
        config: CollectInferConfig,
        run_dir: str | os.PathLike,
        *,
        plan_source: PlanSource | None = None,
        judge: Judge | None = None,
        text_encoder: TextEncoder | None = None,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.world = load_world_config(config.world)
        self.progress = progress
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.plan_source = plan_source or ReferencePlanSource(self.world)
        self.vocabulary = caption_list(self.world.object_names)
        self.judge = judge or make_judge(
            config.judge,
            self.world.tolerances,
            config.cameras,
            captioner_checkpoint=config.captioner_checkpoint,
        )
        pcfg = config.policy.replace(
            n_objects=len(self.world.objects),
            workspace_x=list(self.world.workspace.x),
            workspace_y=list(self.world.workspace.y),
        )
        self.policy_config = pcfg
        self.text_encoder = text_encoder or make_text_encoder(pcfg)
        self.lifelong = EpisodeStore(self.run_dir / "lifelong")
        self.policy = self._new_policy("init")
        self.actors = [
            Actor(
                i,
                self.world,
                GoalPolicy(pcfg, self.text_encoder),
                self.judge,
                self.vocabulary,
                config.cameras,
                temperature=config.temperature,
                epsilon=config.epsilon,
                object_relative_place=config.object_relative_place,
                untrained_policy_share=config.untrained_policy_share,
            )
            for i in range(config.n_actors)
        ]
        self.trainer = bc_trainer(self.policy, config, seed=config.seed)
        self.version = 0
        self.trained_goals: set[str] = set()
        self._broadcast()

    # ------------------------------------------------------------------ helpers

    def _new_policy(self, tag: str) -> GoalPolicy:
        torch.manual_seed(_int_hash(self.config.seed, "policy", tag))
        return GoalPolicy(self.policy_config, self.text_encoder)

    def _broadcast(self) -> None:
        blob = to_bytes(self.policy, self.version)
        goals = self.trained_goals if self.config.explore_untrained_goals else None
        for actor in self.actors:
            actor.set_weights(blob, goals)

    def _reset_learner(self, tag: str) -> None:
        self.policy = self._new_policy(tag)
        self.trainer = bc_trainer(
            self.policy, self.config, seed=_int_hash(self.config.seed, "bc", tag)
        )

    def plan_for(self, task_name: str) -> list[str]:
        return self.plan_source.plan(get_task(task_name, self.world).instruction)

    def close(self) -> None:
        for actor in self.actors:
            actor.close()

    def __enter__(self) -> CollectInfer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ evaluation

    def evaluate(
        self, task_name: str, episodes: int | None = None, mode: str | None = None
    ) -> tuple[float, int]:
        """Greedy success rate on the fixed evaluation layouts; returns (rate, primitives)."""
        cfg = self.config
        mode = mode or cfg.reward_mode
        n = cfg.eval_episodes if episodes is None else episodes
        if n == 0:
            return float("nan"), 0
        task = get_task(task_name, self.world)
        plan = self.plan_for(task_name) if mode == "curriculum" else None
        limit = cfg.eval_max_steps or task.max_steps
        actor = self.actors[0]
        successes, steps = 0, 0
        for i in range(n):
            episode = actor.run_episode(
                task, EVAL_SEED_BASE + i, plan=plan, greedy=True, max_steps=limit
            )
            successes += episode.success
            steps += episode.length
        return successes / n, steps

    # ------------------------------------------------------------------ one task

    def _task_paths(self, task_name: str) -> tuple[Path, Path]:
        task_dir = self.run_dir / "tasks" / task_name
        return task_dir / "buffer", task_dir / "checkpoints"

    def _save(self, ckpt_root: Path, state: dict) -> None:
        def write_optimizer(tmp: Path) -> None:
            torch.save(self.trainer.optimizer.state_dict(), tmp / "optimizer.pt")
            np.save(tmp / "bc_rng.npy", np.array([self.trainer.steps_done]))

        save_policy(
            self.policy,
            ckpt_root,
            self.version,
            extra={"trainer": state},
            keep=self.config.keep_checkpoints,
            write_extra=write_optimizer,
        )

    def _resume(self, ckpt_root: Path) -> dict | None:
        latest = CheckpointManager(ckpt_root, prefix="policy_").latest()
        if latest is None:
            return None
        policy, manifest = load_policy(latest, self.text_encoder)
        self.policy.load_state_dict(policy.state_dict())
        optimizer_path = latest / "optimizer.pt"
        if optimizer_path.is_file():
            self.trainer.optimizer.load_state_dict(torch.load(optimizer_path, weights_only=True))
        self.version = int(manifest["policy"]["version"])
        self._broadcast()
        return manifest.get("extra", {}).get("trainer")

    def seed_episodes(self, task_name: str, plan: Sequence[str]) -> list[Episode]:
        """Relabelled copies of earlier tasks' lifelong episodes for ``task_name``'s buffer
        (:func:`seed_for_task` with this run's ``reuse_scope`` and ``max_prefix``)."""
        return seed_for_task(
            self.lifelong,
            task_name,
            plan,
            self.vocabulary,
            scope=self.config.reuse_scope,
            max_prefix=self.config.max_prefix,
        )

    def run_task(
        self,
        task_name: str,
        *,
        max_env_steps: int | None = None,
        reuse: bool | None = None,
        reinit: bool | None = None,
    ) -> TaskReport:
        """Collect & Infer on one task until its step budget or ``stop_success``."""
        cfg = self.config
        task = get_task(task_name, self.world, cfg.max_episode_steps)
        curriculum = cfg.reward_mode == "curriculum"
        plan = self.plan_for(task_name) if curriculum else []
        budget = cfg.max_env_steps if max_env_steps is None else int(max_env_steps)
        reuse = cfg.reuse_lifelong if reuse is None else reuse
        reinit = cfg.reinit_per_task if reinit is None else reinit
        buffer_dir, ckpt_root = self._task_paths(task_name)
        buffer = EpisodeStore(buffer_dir)
        if buffer.skipped:
            self.log(f"collect_infer: skipped unreadable buffer files: {buffer.skipped}")
        start = time.monotonic()

        self.trained_goals = set(bc_dataset(buffer).goals)
        if reinit:
            self._reset_learner(task_name)
            self.version = 0
            self._broadcast()
        state = self._resume(ckpt_root) or {}
        curve = [CurvePoint(**p) for p in state.get("curve", [])]
        eval_steps = int(state.get("eval_steps", 0))
        updates = int(state.get("updates", 0))
        wall_before = float(state.get("wall_s", 0.0))
        seeded = [e for e in buffer if e.source_task is not None]
        if reuse and not state.get("seeded", False) and curriculum:
            seeded = self.seed_episodes(task_name, plan)
            for episode in seeded:
                buffer.add(episode)
            if seeded:
                self.log(
                    f"collect_infer: {task_name}: seeded {len(seeded)} episodes "
                    f"({sum(e.length for e in seeded)} primitives) from the lifelong buffer "
                    f"(reuse_scope {cfg.reuse_scope})"
                )
        own = self.lifelong.episodes(task_name)
        env_steps = sum(e.length for e in own)
        episodes = len(own)
        since_eval: list[bool] = []

        def checkpoint(loss: float) -> None:
            self._save(
                ckpt_root,
                {
                    "task": task_name,
                    "curve": [asdict(p) for p in curve],
                    "eval_steps": eval_steps,
                    "updates": updates,
                    "seeded": True,
                    "wall_s": wall_before + time.monotonic() - start,
                    "loss": loss,
                },
            )

        def update() -> float:
            data = bc_dataset(buffer)
            if len(data) == 0:
                return float("nan")
            stats = self.trainer.fit(data, cfg.bc_steps)
            self.trained_goals = set(data.goals)
            self.version += 1
            self._broadcast()
            return stats["loss"]

        def point(rate: float, loss: float, train_rate: float) -> CurvePoint:
            """The learning curve's point for an evaluation just made."""
            return CurvePoint(
                env_steps,
                episodes,
                self.version,
                rate,
                buffer.n_labelled_steps(),
                loss,
                train_rate,
                wall_before + time.monotonic() - start,
            )

        def stop_reached() -> bool:
            return bool(
                cfg.stop_success is not None and curve and curve[-1].success >= cfg.stop_success
            )

        # Seeded data: train on it before collecting (extract & transfer).
        if self.version == 0 and len(buffer) and not curve:
            loss = update()
            updates += 1
            rate, used = self.evaluate(task_name)
            eval_steps += used
            curve.append(point(rate, loss, float("nan")))
            checkpoint(loss)

        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=budget, initial=min(env_steps, budget), desc=task_name, unit="step")
        episode_index = episodes
        while env_steps < budget and not stop_reached():
            round_successes = []
            for _ in range(cfg.episodes_per_update):
                actor = self.actors[episode_index % len(self.actors)]
                seed = _int_hash(cfg.seed, task_name, cfg.reward_mode, episode_index)
                rng = np.random.default_rng([cfg.seed, seed, episode_index])
                episode = actor.run_episode(
                    task,
                    seed,
                    plan=plan or None,
                    episode_id=f"{task_name}-{cfg.reward_mode}-{episode_index:06d}",
                    rng=rng,
                )
                episode.labels = relabel(
                    episode.detections,
                    episode.captions,
                    plan,
                    episode.rewards,
                    task_label=task.instruction
                    if (cfg.label_with_task or not curriculum)
                    else None,
                    label_subgoals=curriculum and cfg.label_subgoals,
                    max_prefix=cfg.max_prefix,
                    task_max_prefix=cfg.task_max_prefix,
                )
                self.lifelong.add(episode)
                if episode.labels:
                    buffer.add(episode)
                env_steps += episode.length
                episodes += 1
                episode_index += 1
                round_successes.append(episode.success)
                if bar is not None:
                    bar.update(episode.length)
                    bar.set_postfix(version=self.version, buffer=len(buffer))
                if env_steps >= budget:
                    break
                if cfg.update_on_new_goal and demonstrates_new_goal(episode, self.trained_goals):
                    break  # a goal got its first demonstration: retrain now
            since_eval += round_successes
            loss = update()
            if math.isnan(loss):
                continue  # nothing to learn from yet; keep collecting
            updates += 1
            if updates % cfg.eval_every == 0:
                rate, used = self.evaluate(task_name)
                eval_steps += used
                train_rate = float(np.mean(since_eval)) if since_eval else float("nan")
                since_eval = []
                curve.append(point(rate, loss, train_rate))
                self.log(
                    f"collect_infer: {task_name} [{cfg.reward_mode}] steps {env_steps} "
                    f"episodes {episodes} v{self.version} eval success {rate:.2f} "
                    f"buffer {buffer.n_labelled_steps()} loss {loss:.3f}"
                )
                checkpoint(loss)
        if bar is not None:
            bar.close()

        labels: dict[str, int] = {}
        for episode in buffer:
            for label in episode.labels:
                labels[label.goal] = labels.get(label.goal, 0) + 1
        target = next((p.env_steps for p in curve if p.success >= cfg.target_success), None)
        seeded_eps = [e for e in buffer if e.source_task is not None]
        return TaskReport(
            task=task_name,
            reward_mode=cfg.reward_mode,
            judge=self.judge.name,
            plan=plan,
            env_steps=env_steps,
            eval_steps=eval_steps,
            episodes=episodes,
            version=self.version,
            seeded_episodes=len(seeded_eps),
            seeded_steps=sum(e.length for e in seeded_eps),
            curve=curve,
            steps_to_target=target,
            final_success=curve[-1].success if curve else 0.0,
            labels_per_goal=labels,
            wall_s=wall_before + time.monotonic() - start,
        )

    def run_sequence(self, tasks: Sequence[str], **kwargs: Any) -> list[TaskReport]:
        """Tasks one after the other, sharing the lifelong buffer."""
        return [self.run_task(t, **kwargs) for t in tasks]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m grounded_core.learning.collect_infer``: Collect & Infer on tasks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="YAML (config/collect_infer.yaml)")
    parser.add_argument("--run-dir", required=True, help="folder for buffers and checkpoints")
    parser.add_argument("--task", action="append", required=True, help="task name (repeatable)")
    parser.add_argument("--set", action="append", default=[], help="override: key=value (YAML)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_collect_infer_config(args.config)
        overrides = {}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                raise CollectInferConfigError(f"--set expects key=value, got {item!r}")
            overrides[key.strip()] = yaml.safe_load(value)
        if overrides:
            config = config.replace(**overrides)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    try:
        with CollectInfer(config, args.run_dir, progress=not args.no_progress) as ci:
            reports = ci.run_sequence(args.task)
    except ValueError as exc:  # unknown task, bad plan, unreadable checkpoint
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps([r.to_dict() for r in reports], indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = [
    "REUSE_SCOPES",
    "CollectInfer",
    "CollectInferConfig",
    "CollectInferConfigError",
    "CurvePoint",
    "TaskReport",
    "demonstrates_new_goal",
    "load_collect_infer_config",
    "main",
    "seed_for_task",
]

"""The Collect & Infer learner fed by episodes from remote actors (MISSION B5), ROS-free.

``grounded_core.learning.collect_infer.CollectInfer`` drives in-process actors
itself; the ``collect_infer_trainer`` node instead *receives* episodes from
actors in other processes. :class:`RemoteLearner` is that second driver, built
from the same core parts and the same run-directory layout
(``lifelong/``, ``tasks/<task>/buffer/``, ``tasks/<task>/checkpoints/``), so a
run can move between the two:

* :meth:`add` relabels an arriving episode (core ``relabel``: the plan's
  sub-goals that fired, and the task reward labelled with the instruction when
  ``label_with_task``; env mode: the reward only), stores it in the lifelong
  buffer and, when labelled, in the task buffer (one atomic JSON file each);
  a repeated episode id is ignored;
* :meth:`update` trains the policy by behaviour cloning on the whole task
  buffer (core ``GoalBCTrainer``) and bumps the weights version;
  :meth:`blob` serialises the weights (``to_bytes``, the ``PolicyWeights`` form)
  and :meth:`actor_goals` names the goals with demonstrations (with
  ``explore_untrained_goals`` actors act uniformly at random on the others, as
  the core's in-process actors do);
* :meth:`evaluate` runs the greedy policy on the fixed held-out layouts in a
  local world (core ``Actor``; sub-goal progress judged by simulator truth);
* :meth:`checkpoint` writes policy + optimiser + counters atomically; a new
  learner on the same run directory resumes from the newest checkpoint, and
  every episode stored since stays in the buffers (environment steps are
  recounted from them). At the first start of a task its buffer is seeded from
  the lifelong buffer (``reuse_lifelong``, ``reuse_scope`` as in the core's
  ``seed_for_task``) and trained on before collecting. (``untrained_policy_share``
  is not used over ROS: policy nodes explore untrained goals uniformly.)
"""

from __future__ import annotations

import collections
import hashlib
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from grounded_core.data.checkpoints import CheckpointManager
from grounded_core.learning.actor import Actor
from grounded_core.learning.buffers import Episode, EpisodeStore, bc_dataset
from grounded_core.learning.collect_infer import (
    EVAL_SEED_BASE,
    CollectInferConfig,
    CollectInferConfigError,
    CurvePoint,
    bc_trainer,
    demonstrates_new_goal,
    seed_for_task,
)
from grounded_core.learning.goal_bc import GoalBCTrainer
from grounded_core.learning.judges import TruthJudge
from grounded_core.learning.plans import ReferencePlanSource, check_plan
from grounded_core.learning.relabel import relabel
from grounded_core.policy.io import PolicyBlob, load_policy, save_policy, to_bytes
from grounded_core.policy.model import GoalPolicy
from grounded_core.policy.text import make_text_encoder
from grounded_core.tabletop.captions import caption_list
from grounded_core.tabletop.tasks import get_task
from grounded_core.tabletop.world_config import load_world_config

#: Settings a running learner may change (train goal overrides).
LIVE_KEYS = (
    "episodes_per_update",
    "update_on_new_goal",
    "bc_steps",
    "batch_size",
    "lr",
    "weight_decay",
    "eval_episodes",
    "eval_max_steps",
    "label_subgoals",
    "label_with_task",
    "max_prefix",
    "task_max_prefix",
    "explore_untrained_goals",
    "target_success",
    "stop_success",
)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict (values parsed as YAML); ``policy.x`` nests."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CollectInferConfigError(f"override must be key=value, got {item!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise CollectInferConfigError(f"override {item!r}: bad value ({exc})") from exc
        if key.startswith("policy."):
            out.setdefault("policy", {})[key[len("policy.") :]] = parsed
        else:
            out[key] = parsed
    return out


def apply_overrides(config: CollectInferConfig, overrides: dict[str, Any]) -> CollectInferConfig:
    """``config`` with ``overrides`` (``policy`` merged), validated."""
    changes = dict(overrides)
    if "policy" in changes:
        changes["policy"] = {**config.policy.to_dict(), **changes["policy"]}
    return config.replace(**changes)


def _int_hash(*parts: Any) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


class RemoteLearner:
    """Buffers + behaviour cloning for one task, fed one episode at a time (module docstring)."""

    def __init__(
        self,
        config: CollectInferConfig,
        run_dir: str | os.PathLike,
        task: str,
        plan: list[str] | None = None,
        log=print,
        window: int = 20,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.log = log
        self.world = load_world_config(config.world)
        self.task = get_task(task, self.world, config.max_episode_steps)
        self.curriculum = config.reward_mode == "curriculum"
        if not self.curriculum:
            self.plan: list[str] = []
        elif plan:
            self.plan = check_plan(plan, self.world.object_names)
        else:
            self.plan = ReferencePlanSource(self.world).plan(self.task.instruction)
        self.vocabulary = caption_list(self.world.object_names)
        self.policy_config = config.policy.replace(
            n_objects=len(self.world.objects),
            workspace_x=list(self.world.workspace.x),
            workspace_y=list(self.world.workspace.y),
        )
        self.text_encoder = make_text_encoder(self.policy_config)
        torch.manual_seed(_int_hash(config.seed, "policy", task))
        self.policy = GoalPolicy(self.policy_config, self.text_encoder)
        self.trainer = self._new_trainer()
        task_dir = self.run_dir / "tasks" / task
        self.lifelong = EpisodeStore(self.run_dir / "lifelong")
        self.buffer = EpisodeStore(task_dir / "buffer")
        self.ckpt_root = task_dir / "checkpoints"
        self.version = 0
        self.updates = 0
        self.eval_steps = 0
        self.curve: list[CurvePoint] = []
        self.last_loss = float("nan")
        self.recent: collections.deque[bool] = collections.deque(maxlen=window)
        self.pending = 0  # episodes since the last update
        self.new_goal = False  # an episode since the last update demonstrated an untrained goal
        self.last_eval = float("nan")
        self.started = time.monotonic()
        self.wall_before = 0.0
        self._eval_actor: Actor | None = None
        #: Goals with demonstrations in the buffer (actors explore the others at random).
        self.trained_goals: set[str] = set(bc_dataset(self.buffer).goals)
        seeded_before = self._resume()
        own = self.lifelong.episodes(task)
        self.env_steps = sum(e.length for e in own)
        self.episodes = len(own)
        if config.reuse_lifelong and self.curriculum and not seeded_before:
            seeded = seed_for_task(
                self.lifelong,
                task,
                self.plan,
                self.vocabulary,
                scope=config.reuse_scope,
                max_prefix=config.max_prefix,
            )
            for episode in seeded:
                self.buffer.add(episode)
            if seeded:
                self.log(f"seeded {len(seeded)} episodes from the lifelong buffer")
                self.update()

    # ------------------------------------------------------------------ set-up

    def _new_trainer(self) -> GoalBCTrainer:
        return bc_trainer(
            self.policy, self.config, seed=_int_hash(self.config.seed, "bc", self.task.name)
        )

    def _resume(self) -> bool:
        """Restore the newest checkpoint; True when one existed (the buffer was seeded then)."""
        latest = CheckpointManager(self.ckpt_root, prefix="policy_").latest()
        if latest is None:
            return False
        policy, manifest = load_policy(latest, self.text_encoder)
        self.policy.load_state_dict(policy.state_dict())
        optimizer = latest / "optimizer.pt"
        if optimizer.is_file():
            self.trainer.optimizer.load_state_dict(torch.load(optimizer, weights_only=True))
        self.version = int(manifest["policy"]["version"])
        state = manifest.get("extra", {}).get("trainer", {})
        self.updates = int(state.get("updates", 0))
        self.eval_steps = int(state.get("eval_steps", 0))
        self.curve = [CurvePoint(**p) for p in state.get("curve", [])]
        self.wall_before = float(state.get("wall_s", 0.0))
        if self.curve:
            self.last_eval = self.curve[-1].success
        self.log(f"resumed {latest} (version {self.version}, {self.updates} updates)")
        return True

    def set_live(self, overrides: dict[str, Any]) -> None:
        """Apply settings a running learner may change (see ``LIVE_KEYS``)."""
        bad = sorted(set(overrides) - set(LIVE_KEYS))
        if bad:
            raise CollectInferConfigError(
                f"cannot change {bad} while running; changeable: {list(LIVE_KEYS)}"
            )
        self.config = self.config.replace(**overrides)
        self.trainer.batch_size = self.config.batch_size
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = self.config.lr
            group["weight_decay"] = self.config.weight_decay

    # ------------------------------------------------------------------ data

    def add(self, episode: Episode) -> bool:
        """Relabel and store an episode; False when its id was stored before."""
        if episode.episode_id in self.lifelong:
            return False
        cfg = self.config
        unknown = [g for g in self.plan if g not in episode.captions]
        if unknown:
            raise ValueError(f"episode {episode.episode_id}: plan sub-goals not judged: {unknown}")
        if episode.task == self.task.name:
            episode.labels = relabel(
                episode.detections,
                episode.captions,
                self.plan,
                episode.rewards,
                task_label=self.task.instruction
                if (cfg.label_with_task or not self.curriculum)
                else None,
                label_subgoals=self.curriculum and cfg.label_subgoals,
                max_prefix=cfg.max_prefix,
                task_max_prefix=cfg.task_max_prefix,
            )
        self.lifelong.add(episode)
        if episode.task != self.task.name:
            return True  # kept for later tasks (lifelong buffer), not trained on now
        if episode.labels:
            self.buffer.add(episode)
            if demonstrates_new_goal(episode, self.trained_goals):
                self.new_goal = True
        self.env_steps += episode.length
        self.episodes += 1
        self.pending += 1
        self.recent.append(episode.success)
        return True

    @property
    def due(self) -> bool:
        """Every ``episodes_per_update`` episodes, and with ``update_on_new_goal`` as soon
        as an episode gave a goal its first demonstration (as the in-process loop)."""
        if self.config.update_on_new_goal and self.new_goal:
            return True
        return self.pending >= self.config.episodes_per_update

    @property
    def recent_success(self) -> float:
        return float(np.mean(self.recent)) if self.recent else float("nan")

    # ------------------------------------------------------------------ learning

    def update(self) -> float | None:
        """BC on the task buffer and a new version; None when the buffer is empty."""
        self.pending = 0
        self.new_goal = False
        data = bc_dataset(self.buffer)
        if len(data) == 0:
            return None
        self.last_loss = self.trainer.fit(data, self.config.bc_steps)["loss"]
        self.trained_goals = set(data.goals)
        self.version += 1
        self.updates += 1
        return self.last_loss

    def blob(self) -> PolicyBlob:
        return to_bytes(self.policy, self.version)

    def actor_goals(self) -> list[str] | None:
        """The trained goals actors should know (None: explore every goal with the network)."""
        return sorted(self.trained_goals) if self.config.explore_untrained_goals else None

    def evaluate(self) -> float:
        """Greedy success rate on ``eval_episodes`` fixed layouts (NaN when 0)."""
        cfg = self.config
        if cfg.eval_episodes == 0:
            return float("nan")
        if self._eval_actor is None:
            self._eval_actor = Actor(
                0,
                self.world,
                GoalPolicy(self.policy_config, self.text_encoder),
                TruthJudge(self.world.tolerances),
                self.vocabulary,
            )
        actor = self._eval_actor
        actor.set_weights(self.blob())  # greedy: every goal uses the network
        limit = cfg.eval_max_steps or self.task.max_steps
        wins = 0
        for i in range(cfg.eval_episodes):
            episode = actor.run_episode(
                self.task, EVAL_SEED_BASE + i, plan=self.plan or None, greedy=True, max_steps=limit
            )
            wins += episode.success
            self.eval_steps += episode.length
        self.last_eval = wins / cfg.eval_episodes
        self.curve.append(
            CurvePoint(
                self.env_steps,
                self.episodes,
                self.version,
                self.last_eval,
                self.buffer.n_labelled_steps(),
                self.last_loss,
                self.recent_success,
                self.wall_before + time.monotonic() - self.started,
            )
        )
        return self.last_eval

    def checkpoint(self) -> Path:
        def write_optimizer(tmp: Path) -> None:
            torch.save(self.trainer.optimizer.state_dict(), tmp / "optimizer.pt")

        state = {
            "task": self.task.name,
            "curve": [asdict(p) for p in self.curve],
            "eval_steps": self.eval_steps,
            "updates": self.updates,
            "seeded": True,
            "wall_s": self.wall_before + time.monotonic() - self.started,
            "loss": None if math.isnan(self.last_loss) else self.last_loss,
        }
        return save_policy(
            self.policy,
            self.ckpt_root,
            self.version,
            extra={"trainer": state},
            keep=self.config.keep_checkpoints,
            write_extra=write_optimizer,
        )

    def metrics(self) -> dict[str, float]:
        return {
            "version": float(self.version),
            "updates": float(self.updates),
            "episodes": float(self.episodes),
            "env_steps": float(self.env_steps),
            "charts/success_rate": self.recent_success,
            "eval/success_rate": self.last_eval,
            "buffer/episodes": float(len(self.buffer)),
            "buffer/labelled_steps": float(self.buffer.n_labelled_steps()),
            "lifelong/episodes": float(len(self.lifelong)),
            "losses/bc": self.last_loss,
        }

    def close(self) -> None:
        if self._eval_actor is not None:
            self._eval_actor.close()
            self._eval_actor = None

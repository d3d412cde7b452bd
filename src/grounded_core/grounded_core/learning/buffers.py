"""Episode records and the Collect & Infer buffers, stored atomically (MISSION B5).

An :class:`Episode` holds what an actor logged: the policy input of every frame
(``objects``, ``ee``, ``gripper`` for T + 1 frames), the T actions, the goal the
policy was conditioned on at each step, the environment rewards, and the
judge's detections of every caption of the vocabulary in every frame (frames
themselves are not kept: the judge scores them right after the episode). Its
``labels`` (relabel.py) say which stretches demonstrate which goal.

:class:`EpisodeStore` keeps one JSON file per episode in a folder, each written
to a hidden temporary file and renamed into place (``os.replace``), so a killed
process never leaves a half-written episode and never loses one that was
stored. Loading skips temporary files and reports unreadable ones.

* the *task buffer* of a task is an ``EpisodeStore`` of its labelled episodes
  (plus those seeded from the lifelong buffer);
* the *lifelong buffer* is an ``EpisodeStore`` of every episode of every task;
  :func:`seed_from_lifelong` relabels it for a new task's plan, and
  :func:`extract_skills` for every sub-goal of a vocabulary (consolidation, and
  Collect & Infer's ``reuse_scope: all``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .relabel import Label, relabel


@dataclass
class Episode:
    """One episode of one actor (see the module docstring)."""

    episode_id: str
    task: str
    instruction: str
    seed: int
    policy_version: int
    actor: int
    objects: np.ndarray  # [T + 1, n, 3]
    ee: np.ndarray  # [T + 1, 3]
    gripper: np.ndarray  # [T + 1, 2]
    actions: np.ndarray  # [T, 2]
    goals: list[str]  # [T] goal the policy was conditioned on
    rewards: np.ndarray  # [T]
    captions: list[str]  # judged captions (the vocabulary)
    detections: np.ndarray  # bool [T + 1, C]
    judge: str = "truth"
    labels: list[Label] = field(default_factory=list)
    source_task: str | None = None  # set when seeded from another task's episode

    def __post_init__(self) -> None:
        self.objects = np.asarray(self.objects, dtype=np.float32)
        self.ee = np.asarray(self.ee, dtype=np.float32)
        self.gripper = np.asarray(self.gripper, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float32).reshape(-1, 2)
        self.rewards = np.asarray(self.rewards, dtype=np.float32)
        self.detections = np.asarray(self.detections, dtype=bool).reshape(-1, len(self.captions))
        t = len(self.actions)
        shapes_ok = (
            self.objects.ndim == 3
            and len(self.objects) == t + 1
            and self.ee.shape == (t + 1, 3)
            and self.gripper.shape == (t + 1, 2)
            and len(self.goals) == t
            and self.rewards.shape == (t,)
            and self.detections.shape[0] == t + 1
        )
        if not shapes_ok:
            raise ValueError(
                f"episode {self.episode_id!r}: inconsistent lengths (actions {t}, frames "
                f"{len(self.objects)}, goals {len(self.goals)}, rewards {self.rewards.shape}, "
                f"detections {self.detections.shape})"
            )
        for label in self.labels:
            if not 0 <= label.start <= label.end < t:
                raise ValueError(f"episode {self.episode_id!r}: label {label} outside 0..{t - 1}")

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def success(self) -> bool:
        return bool(np.any(self.rewards > 0))

    def to_dict(self) -> dict:
        return {
            "episode_id": self.episode_id,
            "task": self.task,
            "instruction": self.instruction,
            "seed": int(self.seed),
            "policy_version": int(self.policy_version),
            "actor": int(self.actor),
            "objects": np.round(self.objects, 5).tolist(),
            "ee": np.round(self.ee, 5).tolist(),
            "gripper": np.round(self.gripper, 5).tolist(),
            "actions": np.round(self.actions, 6).tolist(),
            "goals": list(self.goals),
            "rewards": self.rewards.tolist(),
            "captions": list(self.captions),
            "detections": self.detections.astype(int).tolist(),
            "judge": self.judge,
            "labels": [label.to_dict() for label in self.labels],
            "source_task": self.source_task,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Episode:
        n_captions = len(data["captions"])
        n_frames = len(data["objects"])
        return cls(
            episode_id=str(data["episode_id"]),
            task=str(data["task"]),
            instruction=str(data["instruction"]),
            seed=int(data["seed"]),
            policy_version=int(data["policy_version"]),
            actor=int(data["actor"]),
            objects=np.asarray(data["objects"], dtype=np.float32),
            ee=np.asarray(data["ee"], dtype=np.float32),
            gripper=np.asarray(data["gripper"], dtype=np.float32),
            actions=np.asarray(data["actions"], dtype=np.float32).reshape(-1, 2),
            goals=list(data["goals"]),
            rewards=np.asarray(data["rewards"], dtype=np.float32),
            captions=list(data["captions"]),
            detections=np.asarray(data["detections"], dtype=bool).reshape(n_frames, n_captions),
            judge=str(data.get("judge", "truth")),
            labels=[Label.from_dict(x) for x in data.get("labels", [])],
            source_task=data.get("source_task"),
        )


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class EpisodeStore:
    """Episodes as one atomic JSON file each under ``directory`` (loaded on construction)."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.skipped: list[str] = []  # unreadable files found on load
        self._episodes: dict[str, Episode] = {}
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                episode = Episode.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.skipped.append(f"{path.name}: {exc}")
                continue
            self._episodes[episode.episode_id] = episode
        for stale in self.directory.glob(".tmp-*"):  # left by a killed writer
            stale.unlink(missing_ok=True)

    def add(self, episode: Episode) -> Path:
        """Store ``episode`` (atomically); replaces one with the same id."""
        if not episode.episode_id or "/" in episode.episode_id:
            raise ValueError(f"bad episode id {episode.episode_id!r}")
        path = self.directory / f"{episode.episode_id}.json"
        _write_json_atomic(path, episode.to_dict())
        self._episodes[episode.episode_id] = episode
        return path

    def __contains__(self, episode_id: str) -> bool:
        return episode_id in self._episodes

    def __len__(self) -> int:
        return len(self._episodes)

    def __iter__(self) -> Iterator[Episode]:
        return iter(self._episodes.values())

    def episodes(self, task: str | None = None) -> list[Episode]:
        return [e for e in self._episodes.values() if task is None or e.task == task]

    def n_labelled_steps(self) -> int:
        return sum(label.end - label.start + 1 for e in self for label in e.labels)


@dataclass
class BCDataset:
    """Flat behaviour-cloning samples: goal text, state features, action."""

    goals: list[str]
    objects: np.ndarray
    ee: np.ndarray
    gripper: np.ndarray
    actions: np.ndarray

    def __len__(self) -> int:
        return len(self.goals)


def bc_dataset(episodes: Sequence[Episode] | EpisodeStore) -> BCDataset:
    """Every labelled step of ``episodes`` as (label goal, state before the step, action)."""
    goals: list[str] = []
    idx: list[tuple[Episode, int]] = []
    for episode in episodes:
        for label in episode.labels:
            for t in range(label.start, label.end + 1):
                goals.append(label.goal)
                idx.append((episode, t))
    if not idx:
        return BCDataset(
            [], np.zeros((0, 0, 3)), np.zeros((0, 3)), np.zeros((0, 2)), np.zeros((0, 2))
        )
    return BCDataset(
        goals=goals,
        objects=np.stack([e.objects[t] for e, t in idx]),
        ee=np.stack([e.ee[t] for e, t in idx]),
        gripper=np.stack([e.gripper[t] for e, t in idx]),
        actions=np.stack([e.actions[t] for e, t in idx]),
    )


def seed_from_lifelong(
    lifelong: EpisodeStore | Sequence[Episode],
    task: str,
    subgoals: Sequence[str],
    *,
    max_prefix: int | None = None,
    exclude_task: bool = True,
) -> list[Episode]:
    """Copies of lifelong episodes relabelled for a new task's sub-goals.

    Every stored episode whose frames show one of ``subgoals`` firing (judged
    when it was collected, for every caption of the vocabulary) yields a copy
    with the matching prefixes as labels, its ``task`` set to the new task and
    ``source_task`` to the old one. Episodes of ``task`` itself are skipped
    with ``exclude_task`` (they are already in its buffer).
    """
    seeded = []
    for episode in lifelong:
        if exclude_task and episode.task == task:
            continue
        wanted = [g for g in subgoals if g in episode.captions]
        if not wanted or episode.length == 0:
            continue
        labels = relabel(
            episode.detections,
            episode.captions,
            wanted,
            episode.rewards,
            task_label=None,
            max_prefix=max_prefix,
        )
        if labels:
            seeded.append(
                replace(
                    episode,
                    episode_id=f"seed-{task}-{episode.episode_id}",
                    task=task,
                    labels=labels,
                    source_task=episode.source_task or episode.task,
                )
            )
    return seeded


#: ``task`` of episode copies extracted for consolidation (consolidate.py).
CONSOLIDATED_TASK = "consolidated"


def extract_skills(
    episodes: Iterable[Episode],
    subgoals: Sequence[str],
    *,
    max_prefix: int | None = None,
    task: str = CONSOLIDATED_TASK,
    exclude_task: bool = False,
) -> list[Episode]:
    """Copies of ``episodes`` labelled with every one of ``subgoals`` that fired in them.

    The "extract every skill" step: unlike a plan (:func:`seed_from_lifelong` with
    a task's sub-goals), ``subgoals`` is usually the whole caption vocabulary, so a
    "green on red" that fired by chance in a "red on blue" episode is a
    demonstration too. The copies get ``task`` (ids ``seed-<task>-<original id>``)
    and ``source_task`` = the episode's task; ``exclude_task`` skips episodes of
    ``task`` itself. Raises ``ValueError`` for an empty ``subgoals`` or one that no
    episode was judged against.
    """
    subgoals = list(dict.fromkeys(subgoals))
    if not subgoals:
        raise ValueError("no sub-goals to extract")
    episodes = list(episodes)
    judged = {c for e in episodes for c in e.captions}
    unknown = [g for g in subgoals if g not in judged]
    if episodes and unknown:
        raise ValueError(f"sub-goal(s) not among the judged captions: {unknown}")
    return seed_from_lifelong(
        episodes, task, subgoals, max_prefix=max_prefix, exclude_task=exclude_task
    )

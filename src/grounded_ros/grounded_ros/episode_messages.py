"""Collect & Infer data as ROS messages: policy inputs, episodes and weights (MISSION B5).

Conversions between the core's objects and ``grounded_interfaces`` messages, so
that actors and the trainer exchange everything over topics (no shared
filesystem):

* **policy input** from an ``ObjectStates`` message (:func:`features_from_states`):
  object positions and the end effector relative to the table top, the gripper
  width in metres (``gripper_opening * 2 * finger_open``) and the holding flag
  (``held_object`` non-empty). :func:`state_vector` flattens it as
  ``[x, y, z] * n_objects + ee [x, y, z] + [gripper_width, holding]``.
* **episodes**: an episode of T primitives becomes an ``EpisodeRecord`` of
  T + 1 ``EpisodeStep`` entries, each describing what was observed *after* an
  action: step 0 is the reset (empty ``action``, empty ``goal``, reward 0),
  step k >= 1 holds action k-1 (the (x, y) in metres), the goal the policy was
  conditioned on for it, the reward it earned, and the state, caption scores
  (and optionally frames) observed after it. :func:`record_to_episode` turns a
  record back into a core :class:`~grounded_core.learning.buffers.Episode`
  (detections = scores above ``threshold``), validating every length and value.
* **caption scores**: simulator-truth captions score 1 or 0; the captioner's
  calibrated scores are re-centred on its per-caption threshold by
  :func:`threshold_centred` (monotone, [0, 1] -> [0, 1], threshold -> 0.5), so
  "detected" is always "score > 0.5" in a record.
* **weights**: :func:`blob_to_msg` / :func:`msg_to_blob` between
  ``grounded_core.policy.io.PolicyBlob`` and ``PolicyWeights`` (the receiver's
  ``from_bytes`` checks the SHA-256).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

from grounded_core.learning.buffers import Episode
from grounded_core.policy.io import PolicyBlob
from grounded_interfaces.msg import EpisodeRecord, EpisodeStep, ObjectStates, PolicyWeights

#: A caption counts as detected in a record when its score is above this.
DETECTION_THRESHOLD = 0.5


def features_from_states(
    msg: ObjectStates, object_names: Sequence[str], table_height: float, finger_open: float
) -> dict[str, np.ndarray]:
    """Policy input (``objects``, ``ee``, ``gripper``) of an ``ObjectStates`` message.

    Objects are taken in ``object_names`` order (the policy's slot order); a
    missing object or a non-finite value raises ``ValueError``.
    """
    by_name = {o.name: o for o in msg.objects}
    missing = [n for n in object_names if n not in by_name]
    if missing:
        raise ValueError(f"object_states lacks object(s) {missing} (has {sorted(by_name)})")
    objects = np.array(
        [
            [
                by_name[n].pose.position.x,
                by_name[n].pose.position.y,
                by_name[n].pose.position.z - table_height,
            ]
            for n in object_names
        ],
        dtype=np.float32,
    )
    ee = np.array(
        [msg.end_effector.x, msg.end_effector.y, msg.end_effector.z - table_height],
        dtype=np.float32,
    )
    gripper = np.array(
        [float(msg.gripper_opening) * 2.0 * finger_open, float(bool(msg.held_object))],
        dtype=np.float32,
    )
    if not (np.all(np.isfinite(objects)) and np.all(np.isfinite(ee)) and np.isfinite(gripper[0])):
        raise ValueError("object_states contains NaN or infinite values")
    return {"objects": objects, "ee": ee, "gripper": gripper}


def state_vector(features: dict[str, np.ndarray]) -> list[float]:
    """Flatten a feature dict (see the module docstring for the layout)."""
    return [
        *np.asarray(features["objects"], dtype=np.float32).reshape(-1).tolist(),
        *np.asarray(features["ee"], dtype=np.float32).tolist(),
        *np.asarray(features["gripper"], dtype=np.float32).tolist(),
    ]


def features_from_vector(vector: Sequence[float], n_objects: int) -> dict[str, np.ndarray]:
    """Inverse of :func:`state_vector`; ``ValueError`` for a wrong length or NaN."""
    values = np.asarray(vector, dtype=np.float32)
    expected = 3 * n_objects + 5
    if values.shape != (expected,):
        raise ValueError(
            f"state vector must have {expected} values ({n_objects} objects), got {values.size}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("state vector contains NaN or infinite values")
    n3 = 3 * n_objects
    return {
        "objects": values[:n3].reshape(n_objects, 3),
        "ee": values[n3 : n3 + 3],
        "gripper": values[n3 + 3 :],
    }


def threshold_centred(score: float, threshold: float) -> float:
    """Map a calibrated score so that its detection threshold lands on 0.5 (monotone)."""
    score = min(max(float(score), 0.0), 1.0)
    threshold = min(max(float(threshold), 1e-6), 1.0 - 1e-6)
    if score <= threshold:
        return 0.5 * score / threshold
    return 0.5 + 0.5 * (score - threshold) / (1.0 - threshold)


@dataclass
class EpisodeLog:
    """What an actor records while an episode runs (converted by :meth:`to_msg`)."""

    task: str
    instruction: str
    seed: int
    policy_version: int
    captions: list[str]
    features: list[dict] = field(default_factory=list)  # T + 1
    scores: list[list[float]] = field(default_factory=list)  # T + 1 rows of len(captions)
    stamps: list[Time] = field(default_factory=list)  # T + 1
    frames: list[list[Image]] = field(default_factory=list)  # T + 1 (may be empty lists)
    actions: list[tuple[float, float]] = field(default_factory=list)  # T
    goals: list[str] = field(default_factory=list)  # T
    rewards: list[float] = field(default_factory=list)  # T

    def observe(self, features: dict, scores: Sequence[float], stamp: Time, frames=()) -> None:
        if len(scores) != len(self.captions):
            raise ValueError(f"{len(scores)} caption scores for {len(self.captions)} captions")
        self.features.append(features)
        self.scores.append([float(s) for s in scores])
        self.stamps.append(stamp)
        self.frames.append(list(frames))

    def step(self, xy, goal: str, reward: float) -> None:
        self.actions.append((float(xy[0]), float(xy[1])))
        self.goals.append(goal)
        self.rewards.append(float(reward))

    @property
    def success(self) -> bool:
        return any(r > 0 for r in self.rewards)

    def to_msg(self, actor_id: str, episode_index: int, stamp: Time) -> EpisodeRecord:
        t = len(self.actions)
        if len(self.features) != t + 1 or len(self.goals) != t or len(self.rewards) != t:
            raise ValueError(
                f"inconsistent episode log: {len(self.features)} observations for {t} actions"
            )
        msg = EpisodeRecord(
            actor_id=actor_id,
            episode_index=int(episode_index),
            task=self.task,
            instruction=self.instruction,
            seed=int(self.seed),
            policy_version=int(self.policy_version),
            captions=list(self.captions),
            success=self.success,
        )
        msg.header.stamp = stamp
        for k in range(t + 1):
            step = EpisodeStep(
                stamp=self.stamps[k],
                state=state_vector(self.features[k]),
                caption_scores=self.scores[k],
                frames=self.frames[k],
            )
            if k > 0:
                step.action = list(self.actions[k - 1])
                step.goal = self.goals[k - 1]
                step.reward = self.rewards[k - 1]
            msg.steps.append(step)
        return msg


def record_to_episode(
    msg: EpisodeRecord, n_objects: int, episode_id: str, threshold: float = DETECTION_THRESHOLD
) -> Episode:
    """A core ``Episode`` (without labels) from a record; ``ValueError`` when malformed."""
    if len(msg.steps) < 2:
        raise ValueError(f"episode record has {len(msg.steps)} steps; at least 2 are needed")
    captions = list(msg.captions)
    if not captions or len(set(captions)) != len(captions):
        raise ValueError("episode record needs distinct caption names")
    features, rows, actions, goals, rewards = [], [], [], [], []
    for k, step in enumerate(msg.steps):
        features.append(features_from_vector(step.state, n_objects))
        scores = np.asarray(step.caption_scores, dtype=np.float32)
        if scores.shape != (len(captions),) or not np.all(np.isfinite(scores)):
            raise ValueError(
                f"step {k}: {scores.size} caption scores for {len(captions)} captions (or NaN)"
            )
        rows.append(scores > threshold)
        if k == 0:
            if len(step.action):
                raise ValueError("step 0 (the reset) must not carry an action")
            continue
        action = [float(v) for v in step.action]
        if len(action) != 2 or not all(math.isfinite(v) for v in action):
            raise ValueError(f"step {k}: action must be two finite numbers, got {action}")
        if not step.goal:
            raise ValueError(f"step {k}: the goal is empty")
        if not math.isfinite(step.reward):
            raise ValueError(f"step {k}: reward is not finite")
        actions.append(action)
        goals.append(step.goal)
        rewards.append(float(step.reward))
    return Episode(
        episode_id=episode_id,
        task=msg.task,
        instruction=msg.instruction,
        seed=int(msg.seed),
        policy_version=int(msg.policy_version),
        actor=_actor_number(msg.actor_id),
        objects=np.stack([f["objects"] for f in features]),
        ee=np.stack([f["ee"] for f in features]),
        gripper=np.stack([f["gripper"] for f in features]),
        actions=np.asarray(actions, dtype=np.float32),
        goals=goals,
        rewards=np.asarray(rewards, dtype=np.float32),
        captions=captions,
        detections=np.stack(rows),
        judge="ros",
    )


def _actor_number(actor_id: str) -> int:
    """The trailing number of an actor id ("/actor_3" -> 3; none -> 0)."""
    digits = ""
    for char in reversed(actor_id):
        if not char.isdigit():
            break
        digits = char + digits
    return int(digits) if digits else 0


def blob_to_msg(blob: PolicyBlob, stamp: Time | None = None) -> PolicyWeights:
    msg = PolicyWeights(
        version=int(blob.version),
        format=blob.format,
        config_json=blob.config_json,
        data=bytes(blob.data),
        sha256=blob.sha256,
    )
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def msg_to_blob(msg: PolicyWeights) -> PolicyBlob:
    return PolicyBlob(
        format=msg.format,
        config_json=msg.config_json,
        data=bytes(msg.data),
        sha256=msg.sha256,
        version=int(msg.version),
    )

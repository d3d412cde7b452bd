"""Hindsight relabelling of Collect & Infer episodes (MISSION B5).

After an episode the judge has checked every frame against every caption; an
episode of T primitives has T + 1 frames (frame 0 after reset, frame t + 1
after primitive t). The rules (``relabel``):

* a sub-goal *fires* at primitive t when it is detected in frame t + 1 and was
  not in frame t (a rising edge: the primitive made it true). Only its first
  firing per episode counts.
* each firing sub-goal g yields a :class:`Label` (g, start, t): the trajectory
  up to and including primitive t is a demonstration of "achieve g" from every
  state on it (self-imitation). ``max_prefix`` keeps only the last
  ``max_prefix`` primitives (``None``: the whole prefix, as in the paper).
* the environment reward at primitive t (the task succeeded) yields a label
  with the task's instruction as goal when ``task_label`` is given, keeping
  the last ``task_max_prefix`` primitives (default: ``max_prefix``).

Which label the paper meant ("labelled with the sub-goal that fired and/or the
task") is ambiguous; ours stores both by default and each is switchable
(``label_subgoals``, ``task_label=None``). A sub-goal already true at frame 0 is
never a demonstration (nothing was done to achieve it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Label:
    """Primitives ``start..end`` (inclusive) demonstrate how to achieve ``goal``."""

    goal: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"goal": self.goal, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, data: dict) -> Label:
        return cls(str(data["goal"]), int(data["start"]), int(data["end"]))


def first_firing(detections: np.ndarray) -> np.ndarray:
    """``[C]`` first primitive t whose frame t+1 rose to True per caption (-1: never).

    ``detections``: bool ``[T + 1, C]`` per frame.
    """
    det = np.asarray(detections, dtype=bool)
    if det.ndim != 2 or det.shape[0] < 1:
        raise ValueError(f"detections must be [T + 1, C], got shape {det.shape}")
    rising = det[1:] & ~det[:-1]  # [T, C]
    out = np.full(det.shape[1], -1, dtype=int)
    for c in range(det.shape[1]):
        hits = np.flatnonzero(rising[:, c])
        if len(hits):
            out[c] = int(hits[0])
    return out


def relabel(
    detections: np.ndarray,
    captions: Sequence[str],
    subgoals: Sequence[str],
    rewards: Sequence[float],
    *,
    task_label: str | None = None,
    label_subgoals: bool = True,
    max_prefix: int | None = None,
    task_max_prefix: int | str | None = "same",
) -> list[Label]:
    """Labels of one episode (see the module docstring).

    ``detections`` bool ``[T + 1, C]`` for ``captions``; ``subgoals`` the plan's
    sub-goals (each must be one of ``captions``); ``rewards`` ``[T]``.
    """
    det = np.asarray(detections, dtype=bool)
    rewards = np.asarray(rewards, dtype=float)
    n_steps = len(rewards)
    if det.shape != (n_steps + 1, len(captions)):
        raise ValueError(
            f"detections shape {det.shape} does not match {n_steps} steps and "
            f"{len(captions)} captions"
        )
    if task_max_prefix == "same":
        task_max_prefix = max_prefix
    for name, value in (("max_prefix", max_prefix), ("task_max_prefix", task_max_prefix)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be an integer >= 1 or None, got {value!r}")
    index = {c: i for i, c in enumerate(captions)}
    unknown = [g for g in subgoals if g not in index]
    if unknown:
        raise ValueError(f"sub-goal(s) not among the judged captions: {unknown}")

    def span(end: int, limit: int | None) -> tuple[int, int]:
        start = 0 if limit is None else max(0, end + 1 - limit)
        return start, end

    labels: list[Label] = []
    if label_subgoals and n_steps:
        firing = first_firing(det)
        for goal in dict.fromkeys(subgoals):  # plan order, no duplicates
            t = int(firing[index[goal]])
            if t >= 0:
                labels.append(Label(goal, *span(t, max_prefix)))
    if task_label is not None:
        hits = np.flatnonzero(rewards > 0)
        if len(hits):
            labels.append(Label(task_label, *span(int(hits[0]), task_max_prefix)))
    return labels

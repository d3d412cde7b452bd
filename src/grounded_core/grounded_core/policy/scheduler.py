"""Skill scheduling: run the policy sub-goal by sub-goal (MISSION B6 use 3).

An instruction becomes an ordered plan of sub-goals (a planner / PlanSource);
:class:`SkillScheduler` then, for each sub-goal in turn, runs the policy
conditioned on it, one pick/place primitive at a time, until the judge
detects the sub-goal, and moves on to the next one:

* **debounce**: a sub-goal counts as achieved only when it is detected in
  ``debounce`` consecutive observations; after a primitive the scheduler
  observes again (``observe_interval`` seconds of simulated/real time apart),
  so a stack that is about to topple, or one noisy frame, does not advance
  the plan;
* **step budget**: at most ``steps_per_subgoal`` primitives per sub-goal; the
  first attempt at a sub-goal uses the policy's mode, retries sample from it
  (``sample_on_retry``): a deterministic policy whose pick slipped would
  otherwise repeat the same action in the same state until the budget runs out;
* **failure report**: when a budget runs out the run stops with a
  :class:`ScheduleReport` naming the sub-goal that failed, after how many
  steps, and the captions the judge detected at the end (what the robot
  achieved instead), plus the per-sub-goal history.

The executor is anything with ``reset(seed) -> Observation``,
``act(xy) -> Observation``, ``wait(seconds)``, ``detect(observation,
captions) -> set[str]``, ``choose(goal, observation, greedy, rng) -> xy`` and
``vocabulary`` (:class:`grounded_core.learning.actor.Actor` is one; a ROS node
can provide the same over topics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class SubGoalResult:
    subgoal: str
    steps: int
    achieved: bool
    detected_captions: list[str]  # what the judge saw after the last primitive


@dataclass
class ScheduleReport:
    instruction: str
    plan: list[str]
    success: bool  # every sub-goal achieved
    env_success: bool | None  # the task's own success predicate, when a task was given
    total_steps: int
    subgoals: list[SubGoalResult] = field(default_factory=list)
    failed_subgoal: str | None = None
    failed_index: int | None = None
    reason: str = ""

    def summary(self) -> str:
        if self.success:
            return (
                f"'{self.instruction}': all {len(self.plan)} sub-goals achieved in "
                f"{self.total_steps} primitives"
            )
        last = self.subgoals[-1] if self.subgoals else None
        seen = ", ".join(last.detected_captions) if last and last.detected_captions else "nothing"
        return (
            f"'{self.instruction}': sub-goal {self.failed_index + 1}/{len(self.plan)} "
            f"'{self.failed_subgoal}' failed: {self.reason}; detected at the end: {seen}"
        )

    def to_dict(self) -> dict:
        return asdict(self)


class SkillScheduler:
    """Sub-goal by sub-goal execution with debounce, budgets and a failure report."""

    def __init__(
        self,
        executor,
        *,
        debounce: int = 2,
        steps_per_subgoal: int = 4,
        observe_interval: float = 0.1,
        greedy: bool = True,
        sample_on_retry: bool = True,
        seed: int = 0,
    ) -> None:
        if isinstance(debounce, bool) or not isinstance(debounce, int) or debounce < 1:
            raise ValueError(f"debounce must be a positive integer, got {debounce!r}")
        if (
            isinstance(steps_per_subgoal, bool)
            or not isinstance(steps_per_subgoal, int)
            or steps_per_subgoal < 1
        ):
            raise ValueError(
                f"steps_per_subgoal must be a positive integer, got {steps_per_subgoal!r}"
            )
        if observe_interval < 0:
            raise ValueError(f"observe_interval must be >= 0, got {observe_interval}")
        self.executor = executor
        self.debounce = debounce
        self.steps_per_subgoal = steps_per_subgoal
        self.observe_interval = float(observe_interval)
        self.greedy = greedy
        self.sample_on_retry = sample_on_retry
        self.rng = np.random.default_rng(seed)

    def _confirmed(self, subgoal: str, first) -> tuple[bool, set[str]]:
        """Debounce: ``subgoal`` detected in ``debounce`` consecutive observations."""
        detected = self.executor.detect(first, self.executor.vocabulary)
        if subgoal not in detected:
            return False, detected
        for _ in range(self.debounce - 1):
            self.executor.wait(self.observe_interval)
            detected = self.executor.detect(self.executor.observe(), self.executor.vocabulary)
            if subgoal not in detected:
                return False, detected
        return True, detected

    def run(
        self,
        plan: Sequence[str],
        *,
        seed: int | None = None,
        instruction: str = "",
        task=None,
    ) -> ScheduleReport:
        """Execute ``plan`` (from a reset with ``seed``, or from the current state)."""
        plan = list(plan)
        if not plan:
            raise ValueError("the plan is empty")
        unknown = [g for g in plan if g not in self.executor.vocabulary]
        if unknown:
            raise ValueError(f"sub-goal(s) outside the judge's vocabulary: {unknown}")
        observation = self.executor.reset(seed) if seed is not None else self.executor.observe()
        report = ScheduleReport(instruction or " -> ".join(plan), plan, False, None, 0)
        for index, subgoal in enumerate(plan):
            steps = 0
            achieved, detected = self._confirmed(subgoal, observation)
            while not achieved and steps < self.steps_per_subgoal:
                greedy = self.greedy and (steps == 0 or not self.sample_on_retry)
                xy = self.executor.choose(subgoal, observation, greedy, self.rng)
                observation = self.executor.act(xy)
                steps += 1
                achieved, detected = self._confirmed(subgoal, observation)
            report.total_steps += steps
            report.subgoals.append(SubGoalResult(subgoal, steps, achieved, sorted(detected)))
            if not achieved:
                report.failed_subgoal = subgoal
                report.failed_index = index
                report.reason = (
                    f"not detected ({self.debounce} consecutive observations) within "
                    f"{self.steps_per_subgoal} primitives"
                )
                break
            observation = self.executor.observe()
        else:
            report.success = True
        if task is not None:
            state = observation.state
            report.env_success = bool(task.is_success(state, self.executor.world.config.tolerances))
        return report

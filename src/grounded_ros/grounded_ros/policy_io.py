"""The policy node's view of the world over topics, and its hot-swappable weights.

:class:`WorldLink` turns the simulator's (or the arm bridge's) topics into the
executor interface of ``grounded_core.policy.scheduler.SkillScheduler``
(``reset``/``observe``/``act``/``wait``/``detect``/``choose``/``vocabulary``),
so the core scheduler and the Collect & Infer actor loop run unchanged over
ROS:

* ``act(xy)`` publishes an ``ArmCommand`` (AUTO primitive at (x, y)), waits
  for the ``ArmCommandResult`` with its id (a rejection raises
  :class:`WorldLinkError`), then waits for an observation stamped at or after
  the result (the simulator stamps results, states, task status and images with
  the same simulated clock, so nothing from before the primitive is mistaken
  for its outcome);
* an observation is the latest ``ObjectStates`` (the policy input, via
  ``episode_messages.features_from_states``) with the caption detections: from
  the captioner's ``captions`` topic (``caption_source: topic``; a frame at or
  after the state) or judged from the states themselves (``state``, see
  ``state_captions``). ``observe()`` waits for messages that arrived after the
  call, so the scheduler's debounce sees fresh observations;
* ``reward`` of the last primitive comes from ``task_status``.

:class:`PolicySlot` holds the current policy and its version; a new
``PolicyWeights`` message replaces it atomically when its version is newer and
its SHA-256 checks out (a bad message raises ``ValueError`` and the old policy
stays). Text encoders are cached per configuration so a new version does not
reload the sentence model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from builtin_interfaces.msg import Time

from grounded_core.policy.config import PolicyConfig
from grounded_core.policy.io import PolicyBlob, from_bytes
from grounded_core.policy.model import GoalPolicy
from grounded_core.policy.text import make_text_encoder
from grounded_interfaces.msg import (
    ArmCommand,
    ArmCommandResult,
    Captions,
    ObjectStates,
    TaskStatus,
)
from grounded_ros.episode_messages import (
    DETECTION_THRESHOLD,
    features_from_states,
    threshold_centred,
)
from grounded_ros.state_captions import state_detections

#: Wait before re-sending a command the world refused as busy (s).
BUSY_RETRY_S = 0.05


class WorldLinkError(RuntimeError):
    """The world did not answer in time, or refused a command."""


class Canceled(Exception):
    """Raised inside the executor when the running goal was canceled."""


def seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


@dataclass
class RosObservation:
    """The policy input and caption scores observed at ``stamp``."""

    features: dict
    scores: list[float]  # one per vocabulary caption, detected when > 0.5
    detected: set[str]
    stamp: Time
    states: ObjectStates
    frames: list = field(default_factory=list)


class PolicySlot:
    """The current policy, replaced atomically by newer versioned weights."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.policy: GoalPolicy | None = None
        self.version = -1  # no weights yet
        self._encoders: dict[tuple, object] = {}

    def _encoder(self, config: PolicyConfig):
        key = (config.text_encoder, config.text_dim, config.captioner_checkpoint)
        if key not in self._encoders:
            self._encoders[key] = make_text_encoder(config)
        return self._encoders[key]

    def offer(self, blob: PolicyBlob) -> bool:
        """Load ``blob`` if newer than the current version; ``ValueError`` if it is bad."""
        if blob.version <= self.version:
            return False
        config = PolicyConfig.from_json(blob.config_json)
        policy = from_bytes(blob, text_encoder=self._encoder(config))
        with self.lock:
            if blob.version <= self.version:
                return False
            self.policy, self.version = policy, int(blob.version)
        return True

    def set(self, policy: GoalPolicy, version: int) -> None:
        with self.lock:
            self.policy, self.version = policy, int(version)

    def current(self) -> tuple[GoalPolicy | None, int]:
        with self.lock:
            return self.policy, self.version


class WorldLink:
    """Executor of the skill scheduler and of actor episodes over topics (module docstring)."""

    def __init__(
        self,
        node,
        vocabulary: Sequence[str],
        object_names: Sequence[str],
        table_height: float,
        finger_open: float,
        tolerances,
        *,
        caption_source: str,
        command_pub,
        timeout_s: float,
        temperature: float = 1.0,
        epsilon: float = 0.0,
        frame_source: Callable[[Time], list] | None = None,
    ) -> None:
        self.node = node
        self.vocabulary = list(vocabulary)
        self.object_names = list(object_names)
        self.table_height = float(table_height)
        self.finger_open = float(finger_open)
        self.tolerances = tolerances
        self.caption_source = caption_source
        self.command_pub = command_pub
        self.timeout_s = float(timeout_s)
        self.temperature = float(temperature)
        self.epsilon = float(epsilon)
        self.frame_source = frame_source
        self.cond = threading.Condition()
        self.states: ObjectStates | None = None
        self.captions: Captions | None = None
        self.status: TaskStatus | None = None
        self.counts = {"states": 0, "captions": 0, "status": 0}
        self.results: dict[int, ArmCommandResult] = {}
        self.next_id = 1
        self.min_stamp = 0.0  # observations must be at least this new (sim seconds)
        self.policy: GoalPolicy | None = None  # the policy choose() uses
        #: Goals with demonstrations (sampling explores the others at random); None: all.
        self.trained_goals: frozenset[str] | None = None
        self.on_act: Callable[[str, RosObservation], None] | None = None
        self.should_stop: Callable[[], bool] = lambda: False
        self.last_goal = ""
        self.last_reward = 0.0

    # ------------------------------------------------------------------ message intake

    def on_states(self, msg: ObjectStates) -> None:
        with self.cond:
            self.states = msg
            self.counts["states"] += 1
            self.cond.notify_all()

    def on_captions(self, msg: Captions) -> None:
        with self.cond:
            self.captions = msg
            self.counts["captions"] += 1
            self.cond.notify_all()

    def on_status(self, msg: TaskStatus) -> None:
        with self.cond:
            self.status = msg
            self.counts["status"] += 1
            self.cond.notify_all()

    def on_result(self, msg: ArmCommandResult) -> None:
        with self.cond:
            self.results[int(msg.command_id)] = msg
            self.cond.notify_all()

    def _wait(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        with self.cond:
            while not predicate():
                if self.should_stop():
                    raise Canceled()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorldLinkError(f"timed out after {self.timeout_s:g} s waiting for {what}")
                self.cond.wait(min(left, 0.1))

    # ------------------------------------------------------------------ observations

    def _scores(self, states: ObjectStates) -> list[float]:
        if self.caption_source == "state":
            detected = state_detections(states, self.vocabulary, self.tolerances)
            return [1.0 if d else 0.0 for d in detected]
        by_text = {c.text: c for c in self.captions.captions}
        return [
            threshold_centred(by_text[c].score, by_text[c].threshold) if c in by_text else 0.0
            for c in self.vocabulary
        ]

    def observe(
        self, min_stamp: float | None = None, states: ObjectStates | None = None, fresh: int = 1
    ) -> RosObservation:
        """A fresh observation: ``fresh`` messages received after this call, stamped >= min_stamp.

        ``states`` (e.g. a reset reply) is used instead of waiting for the topic;
        captions from the topic are still awaited when ``caption_source`` is topic.
        """
        floor = self.min_stamp if min_stamp is None else min_stamp
        with self.cond:
            start = dict(self.counts)

        def ready() -> bool:
            if states is None:
                if self.counts["states"] < start["states"] + fresh or self.states is None:
                    return False
                if seconds(self.states.header.stamp) < floor - 1e-9:
                    return False
            if self.caption_source == "topic":
                if self.counts["captions"] < start["captions"] + fresh or self.captions is None:
                    return False
                return seconds(self.captions.header.stamp) >= floor - 1e-9
            return True

        topic = "captions" if states is not None else "object_states"
        if self.caption_source == "topic" and states is None:
            topic += " and captions"
        self._wait(ready, topic)
        with self.cond:
            states = states if states is not None else self.states
            scores = self._scores(states)
        features = features_from_states(
            states, self.object_names, self.table_height, self.finger_open
        )
        detected = {
            c for c, s in zip(self.vocabulary, scores, strict=True) if s > DETECTION_THRESHOLD
        }
        frames = self.frame_source(states.header.stamp) if self.frame_source else []
        return RosObservation(features, scores, detected, states.header.stamp, states, frames)

    def detect(
        self, observation: RosObservation, captions: Sequence[str] | None = None
    ) -> set[str]:
        wanted = set(captions) if captions is not None else set(self.vocabulary)
        return observation.detected & wanted

    def wait(self, seconds_: float) -> None:
        end = time.monotonic() + seconds_
        while time.monotonic() < end:
            if self.should_stop():
                raise Canceled()
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    # ------------------------------------------------------------------ acting

    def choose(
        self, goal: str, observation: RosObservation, greedy: bool, rng: np.random.Generator | None
    ) -> np.ndarray:
        if self.policy is None:
            raise WorldLinkError("no policy weights loaded")
        self.last_goal = goal
        # Goals without demonstrations are explored uniformly, as in the core Actor.
        return self.policy.act_for_goal(
            goal,
            observation.features,
            greedy=greedy,
            rng=rng,
            temperature=self.temperature,
            epsilon=self.epsilon,
            trained_goals=self.trained_goals,
        )

    def act(self, xy) -> RosObservation:
        """Run a primitive at ``xy`` and return what was observed after it."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            result = self._command(xy)
            if result.accepted:
                break
            # The simulator answers a primitive a moment before it takes the next
            # one ("busy"); anything else is a real refusal.
            if not result.message.startswith("busy") or time.monotonic() > deadline:
                raise WorldLinkError(f"arm command {result.command_id} rejected: {result.message}")
            time.sleep(BUSY_RETRY_S)
        self.min_stamp = seconds(result.header.stamp)
        observation = self.observe()
        floor = self.min_stamp
        self._wait(
            lambda: self.status is not None and seconds(self.status.header.stamp) >= floor - 1e-9,
            "task_status",
        )
        with self.cond:
            self.last_reward = float(self.status.reward)
        if self.on_act is not None:
            self.on_act(self.last_goal, observation)
        return observation

    def _command(self, xy) -> ArmCommandResult:
        if self.should_stop():
            raise Canceled()
        command = ArmCommand(command_id=self.next_id, primitive=ArmCommand.AUTO)
        self.next_id += 1
        command.header.stamp = self.node.get_clock().now().to_msg()
        command.header.frame_id = "world"
        command.target.x, command.target.y = float(xy[0]), float(xy[1])
        self.command_pub.publish(command)
        cid = command.command_id
        self._wait(lambda: cid in self.results, f"arm_command_result {cid}")
        with self.cond:
            return self.results.pop(cid)

    def reset_floor(self, stamp: Time) -> None:
        """After a world reset: observations from before ``stamp`` are stale."""
        self.min_stamp = seconds(stamp)

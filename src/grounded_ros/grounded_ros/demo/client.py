"""The demo's ROS side: waits for the nodes, plans, executes, prints and records.

One rclpy node in the driver process. It asks the planner (``make_plan``) for the
plan of the instruction and prints it, sends instruction + plan to the policy's
``execute_task`` action, prints every sub-goal change and every newly detected
caption (from the captioner's ``captions`` when it runs, else from the action's
feedback, which carries the captions the policy judged), and feeds the camera
frames of the episode to an :class:`EpisodeRecorder`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image

from grounded_interfaces.action import ExecuteTask
from grounded_interfaces.msg import Captions, TaskStatus
from grounded_interfaces.srv import MakePlan
from grounded_ros.image_conversions import image_to_numpy
from grounded_ros.qos import RELIABLE_FRAMES, STATE

from .recorder import EpisodeRecorder


class DemoError(RuntimeError):
    """The demo could not run (a node missing, a timeout); the message says which."""


@dataclass
class EpisodeOutcome:
    plan: list[str]
    success: bool = False  # the policy's execute_task result (every sub-goal detected)
    task_success: bool = False  # the simulator's own success test
    message: str = ""
    steps: int = 0
    failed_sub_goal: int = -1
    detections: list[tuple[float, str]] = field(default_factory=list)
    seconds: float = 0.0


class DemoClient:
    """Client of the demo graph (see the module docstring)."""

    def __init__(
        self,
        context,
        recorder: EpisodeRecorder,
        *,
        use_captioner: bool,
        alive: Callable[[], bool],
        say: Callable[[str], None] = print,
    ) -> None:
        self.node = Node("grounded_demo", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.recorder = recorder
        self.use_captioner = use_captioner
        self.alive = alive
        self.say = say
        self.action = ActionClient(self.node, ExecuteTask, "execute_task")
        self.planner = self.node.create_client(MakePlan, "make_plan")
        self.captions: Captions | None = None
        self.status: TaskStatus | None = None
        self.detected: set[str] = set()
        self.outcome: EpisodeOutcome | None = None
        self.start = time.monotonic()
        self.current_goal = ""
        if use_captioner:
            self.node.create_subscription(Captions, "captions", self._on_captions, STATE)
        self.node.create_subscription(TaskStatus, "task_status", self._on_status, STATE)
        for camera in recorder.cameras:
            self.node.create_subscription(
                Image,
                f"camera/{camera}/image_raw",
                lambda msg, c=camera: self._on_frame(c, msg),
                RELIABLE_FRAMES,
            )

    # ------------------------------------------------------------------ callbacks

    def _on_frame(self, camera: str, msg: Image) -> None:
        if self.recorder.recording:
            self._overlay()
        try:
            self.recorder.add(camera, image_to_numpy(msg))
        except ValueError as error:
            self.node.get_logger().warning(f"frame of {camera} ignored: {error}")

    def _on_status(self, msg: TaskStatus) -> None:
        self.status = msg

    def _on_captions(self, msg: Captions) -> None:
        self.captions = msg
        if self.outcome is not None:
            self._detections(
                [c.text for c in msg.captions if c.detected],
                {c.text: c.score for c in msg.captions},
            )

    def _detections(self, detected: list[str], scores: dict[str, float] | None = None) -> None:
        now = set(detected)
        elapsed = time.monotonic() - self.start
        for text in sorted(now - self.detected):
            score = f" (score {scores[text]:.2f})" if scores and text in scores else ""
            self.say(f"  [{elapsed:5.1f} s] detected: {text}{score}")
            self.outcome.detections.append((round(elapsed, 2), text))
        for text in sorted(self.detected - now):
            self.say(f"  [{elapsed:5.1f} s] no longer detected: {text}")
        self.detected = now
        self._overlay()

    def _overlay(self) -> None:
        seen = "; ".join(sorted(self.detected)) or "-"
        self.recorder.set_text(
            f"sub-goal: {self.current_goal}", f"detected: {seen}", f"t = {self._t():.1f} s"
        )

    def _t(self) -> float:
        return time.monotonic() - self.start

    # ------------------------------------------------------------------ waiting

    def spin_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if not self.alive():
                raise DemoError(f"the launch ended while waiting for {what}")
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.05)

    def wait_ready(self, timeout: float, need_planner: bool) -> None:
        """Wait for the simulator, the policy's action server, the planner and the captioner."""
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(deadline - time.monotonic(), 0.1)

        self.spin_until(lambda: self.status is not None, left(), "the simulator (task_status)")
        self.say("demo: simulator up")
        self.spin_until(self.action.server_is_ready, left(), "the policy's execute_task action")
        self.say("demo: policy up")
        if need_planner:
            self.spin_until(self.planner.service_is_ready, left(), "the planner's make_plan")
            self.say("demo: planner up")
        if self.use_captioner:
            self.spin_until(lambda: self.captions is not None, left(), "the captioner's captions")
            self.say(f"demo: captioner up ({self.captions.model})")

    # ------------------------------------------------------------------ the episode

    def make_plan(self, instruction: str, timeout: float) -> tuple[list[str], str]:
        """The planner's sub-goals and the model that planned (with its adapter, if any)."""
        future = self.planner.call_async(MakePlan.Request(instruction=instruction))
        self.spin_until(future.done, timeout, "the planner's answer")
        reply = future.result()
        if not reply.success:
            raise DemoError(f"the planner failed: {reply.message}")
        return list(reply.plan.sub_goals), reply.plan.model

    def execute(self, instruction: str, plan: list[str], steps: int, timeout: float):
        """Run execute_task; returns the EpisodeOutcome (also when the policy fails)."""
        self.start = time.monotonic()
        self.outcome = EpisodeOutcome(plan=list(plan))
        self.detected = set()
        self.current_goal = plan[0] if plan else ""
        self._overlay()
        self.recorder.recording = True
        goal = ExecuteTask.Goal(
            instruction=instruction, sub_goals=list(plan), max_steps_per_sub_goal=steps
        )
        sent = self.action.send_goal_async(goal, feedback_callback=self._on_feedback)
        self.spin_until(sent.done, 30.0, "the policy to accept the goal")
        handle = sent.result()
        if not handle.accepted:
            raise DemoError("the policy rejected the execute_task goal (already executing?)")
        result_future = handle.get_result_async()
        try:
            self.spin_until(result_future.done, timeout, "the end of the episode")
        except DemoError:
            handle.cancel_goal_async()
            raise
        result = result_future.result().result
        end = time.monotonic() + 1.0  # a last second of video and of task status
        self.spin_until(lambda: time.monotonic() > end, 5.0, "the last frames")
        out = self.outcome
        out.success = bool(result.success)
        out.message = result.message
        out.steps = int(result.steps)
        out.failed_sub_goal = int(result.failed_sub_goal)
        out.task_success = bool(self.status is not None and self.status.success)
        out.seconds = round(self._t(), 2)
        if not self.use_captioner:
            self._detections(list(result.detected_captions))
        return out

    def _on_feedback(self, message) -> None:
        feedback = message.feedback
        if feedback.current_sub_goal != self.current_goal:
            self.current_goal = feedback.current_sub_goal
            self.say(
                f"  [{self._t():5.1f} s] sub-goal {feedback.sub_goal_index + 1}: "
                f"{feedback.current_sub_goal}"
            )
        if not self.use_captioner:
            self._detections(list(feedback.detected_captions))
        else:
            self._overlay()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()

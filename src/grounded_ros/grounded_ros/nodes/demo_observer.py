"""demo_observer: a watched demonstration -> a sub-goal plan + a labelled dataset (B6.4).

Learning from observation (MISSION B6, use 4; Part C "rosbag replay"): a camera
(live, or a demo replayed from a rosbag) feeds the captioner node; this node reads
its detections and turns them, with ``grounded_core.vision.demo_observer``, into a
debounced, time-ordered list of sub-goals (rules in that module: debounce, release,
initial state, undone sub-goals, grasps kept when followed by "X on Y").

Decoupled by design: the node does not run CLIP itself. It subscribes to
``captions`` (grounded_interfaces/Captions, one message per captioned frame with a
``detected`` flag per caption, as the ``captioner`` node publishes), so the model,
its cameras and rate are configured once, in the captioner, and the observer also
works on Captions recorded in a bag.

Subscribes:
- ``captions`` (Captions): the detections; the header stamp orders them (stamps
  must not go backwards within a demo; an unstamped message gets the receive time);
- ``end_of_demo`` (std_msgs/Empty): end the demonstration now;
- ``image`` (sensor_msgs/Image rgb8/bgr8), only with ``record_frames``: the frames
  stored in the dataset, matched to each Captions message by stamp.

A demonstration also ends after ``silence_timeout_s`` without Captions (the bag or
the camera stopped), or ``idle_timeout_s`` after the last new sub-goal (0 = off).

Publishes ``demo_plan`` (grounded_interfaces/SubGoalPlan, latched: a scheduler that
starts later still gets it) at the end of every demonstration that had at least one
update (an empty ``sub_goals`` list means nothing was demonstrated); ``raw_output``
holds a JSON summary (dropped sub-goals and why, dataset folder). With
``output_dir`` the demo is written there (``demo_<time>/demo.npz`` + ``demo.json``:
stamps, per-caption detections and scores, the frames when recorded, the plan),
atomically. Then the observer starts a new demonstration.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Empty

from grounded_core.vision.demo_observer import (
    DemoObserver,
    DemoObserverError,
    DemoRecording,
    ObserverConfig,
    save_demo,
)
from grounded_interfaces.msg import Captions, SubGoalPlan
from grounded_ros.image_conversions import image_to_numpy
from grounded_ros.node_runtime import run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.qos import LATCHED, PROFILES, STATE

COLOUR_ENCODINGS = ("rgb8", "bgr8")
#: Recent frames kept for matching Captions stamps (record_frames).
FRAME_BUFFER = 30

PARAMS = (
    Param(
        "min_frames", 3, "Detections that confirm a sub-goal ...", min=1, max=1000, read_only=True
    ),
    Param(
        "window_frames",
        0,
        "... within this many latest updates (0 = min_frames: consecutive).",
        min=0,
        max=1000,
        read_only=True,
    ),
    Param(
        "min_duration_s",
        0.0,
        "Shortest detection run that confirms a sub-goal (s).",
        min=0.0,
        max=60.0,
        read_only=True,
    ),
    Param(
        "release_frames",
        2,
        "Consecutive misses that end a confirmed caption.",
        min=1,
        max=1000,
        read_only=True,
    ),
    Param(
        "ignore_initial",
        True,
        "Captions true from the first frame are the initial state.",
        read_only=True,
    ),
    Param("keep_undone", False, "Keep on-top sub-goals that were undone later.", read_only=True),
    Param("keep_unfollowed_grasps", False, "Keep grasps not followed by 'X on Y'.", read_only=True),
    Param(
        "silence_timeout_s",
        3.0,
        "End the demo after this long without Captions (0 = off).",
        min=0.0,
        max=3600.0,
    ),
    Param(
        "idle_timeout_s",
        0.0,
        "End the demo this long after the last new sub-goal (0 = off).",
        min=0.0,
        max=3600.0,
    ),
    Param("output_dir", "", "Folder for the labelled demos (empty = do not store)."),
    Param("record_frames", False, "Store the 'image' frames in the dataset.", read_only=True),
    Param(
        "frame_match_dt",
        0.05,
        "Largest stamp gap between Captions and its frame (s).",
        min=0.0,
        max=1.0,
    ),
    Param("instruction", "", "SubGoalPlan.instruction of the published plans."),
    Param(
        "image_qos", "reliable_frames", "QoS of 'image'.", choices=tuple(PROFILES), read_only=True
    ),
)


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class DemoObserverNode(Node):
    """Captions in; a SubGoalPlan (and a stored demo) out at the end of each demonstration."""

    def __init__(self) -> None:
        super().__init__("demo_observer")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        self.config = ObserverConfig(
            min_frames=p["min_frames"],
            window_frames=p["window_frames"],
            min_duration_s=p["min_duration_s"],
            release_frames=p["release_frames"],
            ignore_initial=p["ignore_initial"],
            keep_undone=p["keep_undone"],
            keep_unfollowed_grasps=p["keep_unfollowed_grasps"],
        )
        self.observer: DemoObserver | None = None
        self.recording: DemoRecording | None = None
        self.last_message_at: float | None = None
        self.last_event_at: float | None = None
        self.frames: deque[tuple[float, np.ndarray]] = deque(maxlen=FRAME_BUFFER)
        self.demos = 0
        self.plan_pub = self.create_publisher(SubGoalPlan, "demo_plan", LATCHED)
        self.create_subscription(Captions, "captions", self.on_captions, STATE)
        self.create_subscription(Empty, "end_of_demo", self.on_end_of_demo, STATE)
        if p["record_frames"]:
            self.create_subscription(Image, "image", self.on_image, PROFILES[p["image_qos"]])
        self.create_timer(0.1, self.check_timeouts)
        self.get_logger().info(
            f"observing demonstrations on {self.resolve_topic_name('captions')} "
            f"(debounce {p['min_frames']} frames); plans on "
            f"{self.resolve_topic_name('demo_plan')}"
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- inputs ------------------------------------------------------------------------

    @survive_bad_input
    def on_image(self, msg: Image) -> None:
        if msg.encoding not in COLOUR_ENCODINGS:
            raise ValueError(f"image encoding {msg.encoding!r} is not one of {COLOUR_ENCODINGS}")
        frame = image_to_numpy(msg)
        if msg.encoding == "bgr8":
            frame = np.ascontiguousarray(frame[:, :, ::-1])
        self.frames.append((_seconds(msg.header.stamp), frame))

    def _frame_for(self, stamp: float) -> np.ndarray | None:
        best = None
        for frame_stamp, frame in self.frames:
            gap = abs(frame_stamp - stamp)
            if gap <= self.get_parameter("frame_match_dt").value and (
                best is None or gap < best[0]
            ):
                best = (gap, frame)
        return None if best is None else best[1]

    @survive_bad_input
    def on_captions(self, msg: Captions) -> None:
        texts = [c.text for c in msg.captions]
        if not texts:
            raise DemoObserverError("Captions message without captions")
        if len(set(texts)) != len(texts):
            raise DemoObserverError(f"Captions message repeats a caption: {texts}")
        scores = [float(c.score) for c in msg.captions]
        detected = [c.text for c in msg.captions if c.detected]
        stamp = _seconds(msg.header.stamp) or self._now()
        if self.observer is None:
            self.observer = DemoObserver(self.config, vocabulary=texts)
            self.recording = DemoRecording(texts)
        if set(texts) != set(self.recording.captions):
            raise DemoObserverError(
                "the caption set changed within a demonstration "
                f"({len(texts)} captions, expected {len(self.recording.captions)})"
            )
        order = [texts.index(c) for c in self.recording.captions]
        recorded = self.observer.update(stamp, detected)
        frame = self._frame_for(stamp) if self.params["record_frames"] else None
        self.recording.add(stamp, detected, [scores[i] for i in order], frame)
        self.last_message_at = self._now()
        for caption in recorded:
            self.last_event_at = self.last_message_at
            self.get_logger().info(f"sub-goal {len(self.observer.events)}: {caption!r}")

    def on_end_of_demo(self, _msg: Empty) -> None:
        self.finish("end_of_demo received")

    def check_timeouts(self) -> None:
        if self.observer is None or self.last_message_at is None:
            return
        now = self._now()
        silence = self.get_parameter("silence_timeout_s").value
        idle = self.get_parameter("idle_timeout_s").value
        if silence > 0 and now - self.last_message_at >= silence:
            self.finish(f"no Captions for {silence:g} s")
        elif idle > 0 and self.last_event_at is not None and now - self.last_event_at >= idle:
            self.finish(f"no new sub-goal for {idle:g} s")

    # --- end of a demonstration --------------------------------------------------------

    def finish(self, reason: str) -> None:
        observer, recording = self.observer, self.recording
        self.observer, self.recording = None, None
        self.last_message_at = self.last_event_at = None
        if observer is None or observer.updates == 0:
            self.get_logger().warning(f"{reason}, but no demonstration was observed")
            return
        result = observer.finish()
        self.demos += 1
        summary = {
            "reason": reason,
            "updates": result.updates,
            "dropped": [list(d) for d in result.dropped],
            "dataset": "",
        }
        output_dir = self.get_parameter("output_dir").value
        if output_dir:
            try:
                path = save_demo(
                    output_dir,
                    recording,
                    result,
                    metadata={
                        "instruction": self.get_parameter("instruction").value,
                        "reason": reason,
                        "rules": asdict(self.config),
                    },
                )
                summary["dataset"] = str(path)
            except (OSError, ValueError) as error:
                self.get_logger().error(f"could not store the demonstration: {error}")
        msg = SubGoalPlan(
            instruction=self.get_parameter("instruction").value,
            sub_goals=list(result.plan),
            raw_output=json.dumps(summary),
            model="demo_observer",
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self.plan_pub.publish(msg)
        self.get_logger().info(
            f"demonstration {self.demos} ended ({reason}): {result.updates} updates, "
            f"plan {result.plan}"
            + (f", stored in {summary['dataset']}" if summary["dataset"] else "")
        )


def main(args: list[str] | None = None) -> int:
    return run_node(DemoObserverNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

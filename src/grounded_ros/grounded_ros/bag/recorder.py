"""Record live topics to a rosbag2 bag (``grounded-bag record``).

Generic subscriptions (``raw=True``: rclpy hands over the serialized CDR
bytes, exactly what rosbag2 stores) on the chosen topics, or on every topic
with ``--all``; topics that appear later are picked up by a periodic graph
check. Each topic is subscribed with QoS compatible with its publishers
(best effort if any publisher is, transient local if all are), and the
publishers' QoS is stored in the bag so playback offers the same.

The bag is written through :class:`grounded_core.data.bags.BagWriter`: it
appears under its name only when finalised, which happens on SIGINT, SIGTERM,
``--duration`` or ``--max-messages`` (``destroy_node`` closes it). A recorder
killed with SIGKILL leaves ``.<name>.partial-<pid>/`` whose flushed messages
``grounded-bag info``/``play`` can still read.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from grounded_core.data.bags import BagError, BagWriter, make_qos

from ..node_runtime import StoppableNode
from .message_types import message_class

#: Depth of the recording subscriptions (bursts of camera frames must not be dropped).
RECORD_DEPTH = 100
#: Topics never recorded with --all (ROS internals); --exclude adds to it.
DEFAULT_EXCLUDE = r"^/(rosout|parameter_events)$"


class BagRecorder(StoppableNode):
    """Subscribe to topics and write every message to a bag."""

    def __init__(
        self,
        output: Path,
        topics: list[str],
        record_all: bool = False,
        storage: str = "mcap",
        exclude: str | None = None,
        duration: float = 0.0,
        max_messages: int = 0,
        discovery_interval: float = 0.5,
    ) -> None:
        super().__init__("grounded_bag_recorder")
        if not topics and not record_all:
            raise ValueError("name topics to record, or use --all")
        self.wanted = [self._absolute(t) for t in topics]
        self.record_all = record_all
        try:
            self.exclude = re.compile(DEFAULT_EXCLUDE + (f"|{exclude}" if exclude else ""))
        except re.error as error:
            raise ValueError(f"bad --exclude regex: {error}") from None
        self.max_messages = int(max_messages)
        self.writer = BagWriter(output, storage=storage)
        self.subscriptions_by_topic: dict[str, object] = {}
        self.skipped: set[str] = set()
        self.count = 0
        self._closed = False
        self.create_timer(discovery_interval, self.discover)
        if duration > 0:
            self.create_timer(duration, lambda: self.stop(0))
        self.get_logger().info(
            f"recording {'all topics' if record_all else self.wanted} to {output} ({storage})"
        )
        self.discover()

    def _absolute(self, topic: str) -> str:
        return topic if topic.startswith("/") else f"/{topic}"

    def discover(self) -> None:
        """Subscribe to wanted topics that exist in the graph and are not recorded yet."""
        if self._closed:
            return
        for topic, types in self.get_topic_names_and_types():
            if topic in self.subscriptions_by_topic or topic in self.skipped:
                continue
            if self.record_all:
                if self.exclude.search(topic):
                    continue
            elif topic not in self.wanted:
                continue
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue  # only subscribers so far: wait for a publisher to learn its QoS
            if len(types) != 1:
                self.get_logger().warning(f"skipping {topic}: several types {types}")
                self.skipped.add(topic)
                continue
            self._subscribe(topic, types[0], publishers)

    def _subscribe(self, topic: str, type_name: str, publishers) -> None:
        try:
            msg_class = message_class(type_name)
        except ValueError as error:
            self.get_logger().warning(f"skipping {topic}: {error}")
            self.skipped.add(topic)
            return
        profiles = [info.qos_profile for info in publishers]
        reliable = all(p.reliability == ReliabilityPolicy.RELIABLE for p in profiles)
        latched = all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in profiles)
        try:
            self.writer.add_topic(
                topic,
                type_name,
                qos=[
                    make_qos(
                        p.reliability == ReliabilityPolicy.RELIABLE,
                        p.durability == DurabilityPolicy.TRANSIENT_LOCAL,
                        max(1, p.depth),
                    )
                    for p in profiles
                ],
            )
        except BagError as error:
            self.get_logger().warning(f"skipping {topic}: {error}")
            self.skipped.add(topic)
            return
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=RECORD_DEPTH,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        )
        self.subscriptions_by_topic[topic] = self.create_subscription(
            msg_class, topic, lambda data, t=topic: self.on_message(t, data), qos, raw=True
        )
        self.get_logger().info(f"recording {topic} ({type_name})")

    def on_message(self, topic: str, data: bytes) -> None:
        if self._closed:
            return
        self.writer.write(topic, self.get_clock().now().nanoseconds, data)
        self.count += 1
        if self.max_messages and self.count >= self.max_messages:
            self.stop(0)

    def finish(self) -> Path | None:
        """Finalise the bag (idempotent); returns its path."""
        if self._closed:
            return None
        self._closed = True
        for subscription in self.subscriptions_by_topic.values():
            # The context may already be shut down (SIGTERM): the bag matters more.
            with contextlib.suppress(Exception):
                self.destroy_subscription(subscription)
        path = self.writer.close()
        self.get_logger().info(f"wrote {self.count} messages to {path}")
        return path

    def destroy_node(self) -> None:
        # run_node calls this on every exit path (SIGINT, SIGTERM, stop()).
        try:
            self.finish()
        finally:
            super().destroy_node()

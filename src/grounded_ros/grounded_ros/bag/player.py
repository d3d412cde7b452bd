"""Play a rosbag2 bag onto live topics with its timing (``grounded-bag play``).

Messages are published as the serialized bytes stored in the bag (rclpy's
``Publisher.publish(bytes)``), so nothing is decoded on the way and any type
whose Python package is installed can be played. Message ``i`` goes out at
``start + (t_i - t_first) / rate`` on a monotonic clock, where ``t`` are the
bag's receive times (as ``ros2 bag play`` does); ``--start-offset`` skips the
first seconds of the bag, ``--loop`` repeats it, ``--remap`` renames topics,
``--clock`` publishes the bag time on ``/clock`` (rosgraph_msgs/Clock) for
nodes with ``use_sim_time``. Each topic is offered with the QoS recorded in
the bag (reliable when unknown).

A damaged bag (truncated file, missing metadata) is played as far as it can
be read, with a warning naming the damage. Playback runs in a thread; the
node stops (exit 0) when the bag is done, or on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from grounded_core.data.bags import Bag, BagError, BagMessage

from ..node_runtime import StoppableNode
from .message_types import message_class

#: Publisher queue depth (a reliable subscriber may lag behind a fast bag).
PLAY_DEPTH = 100
#: Longest wait for reliable subscribers to acknowledge the last messages.
ACK_TIMEOUT_S = 2.0


def parse_remaps(remaps: list[str]) -> dict[str, str]:
    """["/a:=/b", ...] -> {"/a": "/b"}."""
    result = {}
    for item in remaps:
        source, sep, target = item.partition(":=")
        if not sep or not source or not target:
            raise ValueError(f"bad remap {item!r}: expected FROM:=TO")
        result[_absolute(source)] = _absolute(target)
    return result


def _absolute(topic: str) -> str:
    return topic if topic.startswith("/") else f"/{topic}"


class BagPlayer(StoppableNode):
    """Publish the messages of a bag with the recorded timing."""

    def __init__(
        self,
        bag: Path,
        topics: list[str] | None = None,
        remap: dict[str, str] | None = None,
        rate: float = 1.0,
        loop: bool = False,
        start_offset: float = 0.0,
        clock_hz: float = 0.0,
        delay: float = 0.0,
        wait_for_subscribers: float = 0.0,
    ) -> None:
        super().__init__("grounded_bag_player")
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        if start_offset < 0 or delay < 0 or clock_hz < 0 or wait_for_subscribers < 0:
            raise ValueError("start offset, delay, clock rate and wait must be >= 0")
        self.bag = Bag(bag)  # BagError (a ValueError) -> exit 2 with the reason
        info = self.bag.info()
        if info.damage:
            self.get_logger().warning(f"bag is damaged: {info.damage}; playing what is readable")
        self.topics = [_absolute(t) for t in topics] if topics else info.topic_names
        unknown = sorted(set(self.topics) - set(info.topic_names))
        if unknown:
            raise ValueError(f"bag has no topic(s) {unknown}; topics: {info.topic_names}")
        self.remap = remap or {}
        self.rate, self.loop, self.clock_hz = float(rate), bool(loop), float(clock_hz)
        self.start_ns = info.start_ns + round(start_offset * 1e9)
        self.delay, self.wait_for_subscribers = float(delay), float(wait_for_subscribers)
        self.publishers_by_topic = {}
        for topic_info in info.topics:
            if topic_info.name not in self.topics:
                continue
            try:
                msg_class = message_class(topic_info.msgtype)
            except ValueError as error:
                self.get_logger().warning(f"not playing {topic_info.name}: {error}")
                continue
            reliable = topic_info.reliable is not False
            best_effort = ReliabilityPolicy.BEST_EFFORT
            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=PLAY_DEPTH,
                reliability=ReliabilityPolicy.RELIABLE if reliable else best_effort,
                durability=DurabilityPolicy.TRANSIENT_LOCAL
                if topic_info.transient_local
                else DurabilityPolicy.VOLATILE,
            )
            name = self.remap.get(topic_info.name, topic_info.name)
            self.publishers_by_topic[topic_info.name] = self.create_publisher(msg_class, name, qos)
        if not self.publishers_by_topic:
            raise ValueError("none of the selected topics can be played")
        self.clock_publisher = self.create_publisher(Clock, "/clock", 10) if clock_hz else None
        self.published = 0
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._play, name="bag_player", daemon=True)
        self.create_timer(0.1, lambda: None)  # keeps spin responsive to stop()
        self._thread.start()

    # ------------------------------------------------------------------ playback

    def _messages(self) -> Iterator[BagMessage]:
        return self.bag.messages(topics=list(self.publishers_by_topic), start_ns=self.start_ns)

    def _wait_for_subscribers(self) -> None:
        deadline = time.monotonic() + self.wait_for_subscribers
        while time.monotonic() < deadline and not self._halt.is_set():
            if all(p.get_subscription_count() > 0 for p in self.publishers_by_topic.values()):
                return
            self._halt.wait(0.05)
        missing = [
            t for t, p in self.publishers_by_topic.items() if p.get_subscription_count() == 0
        ]
        if missing:
            self.get_logger().warning(f"no subscriber on {missing}; playing anyway")

    def _publish_clock(self, bag_ns: int) -> None:
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(int(bag_ns), 1_000_000_000)
        self.clock_publisher.publish(msg)

    def _sleep_until(self, wall: float, clock_base: tuple[float, int] | None) -> bool:
        """Sleep until monotonic time ``wall``, publishing /clock meanwhile; False if halted."""
        while True:
            now = time.monotonic()
            if now >= wall:
                return not self._halt.is_set()
            step = wall - now
            if clock_base is not None:
                step = min(step, 1.0 / self.clock_hz)
            if self._halt.wait(step):
                return False
            if clock_base is not None:
                start_wall, start_ns = clock_base
                self._publish_clock(
                    start_ns + round((time.monotonic() - start_wall) * self.rate * 1e9)
                )

    def _play(self) -> None:
        exit_code = 0
        try:
            if self.wait_for_subscribers:
                self._wait_for_subscribers()
            if self.delay and self._halt.wait(self.delay):
                return
            while not self._halt.is_set():
                # Read the first message before starting the clock: opening a large
                # bag takes a while and would make message 0 late and the next ones bunch up.
                messages = self._messages()
                first = next(messages, None)
                if first is None:
                    self.get_logger().warning("no message to play (after the start offset)")
                    break
                start_wall = time.monotonic()
                clock_base = (start_wall, self.start_ns) if self.clock_publisher else None
                if clock_base:
                    self._publish_clock(self.start_ns)
                for message in itertools.chain([first], messages):
                    due = start_wall + (message.timestamp - self.start_ns) / 1e9 / self.rate
                    if not self._sleep_until(due, clock_base):
                        return
                    self.publishers_by_topic[message.topic].publish(message.data)
                    self.published += 1
                if not self.loop:
                    break
            for publisher in self.publishers_by_topic.values():
                publisher.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
            self.get_logger().info(f"played {self.published} messages")
        except BagError as error:
            self.get_logger().error(f"playback stopped: {error}")
            exit_code = 1
        except Exception as error:  # context shut down under us (SIGTERM) or a bad bag
            if not self._halt.is_set():
                self.get_logger().error(f"playback failed: {error!r}")
                exit_code = 1
        finally:
            self.stop(exit_code)

    def destroy_node(self) -> None:
        self._halt.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self.bag.close()
        super().destroy_node()

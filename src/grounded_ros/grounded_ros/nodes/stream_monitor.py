"""stream_monitor: measures and reports the rate and latency of an image stream.

Subscribes to ``image``, converts every frame to numpy (so malformed frames are
caught and logged exactly as a real consumer would), and every report period
logs and publishes the received rate, latency percentiles (receive time minus
header stamp; both clocks are the same machine's) and the number of rejected
frames on ``~/metrics`` (grounded_interfaces/Metrics). With ``duration_s`` > 0
it stops after that long (counted from the first frame), writes a JSON summary
to ``summary_file`` if set, and exits 0 - or 1 if fewer than ``min_frames``
arrived, so a launch that marks it required fails loudly.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from sensor_msgs.msg import Image

from grounded_interfaces.msg import Metrics
from grounded_ros.image_conversions import image_to_numpy
from grounded_ros.node_runtime import StoppableNode, run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.qos import PROFILES

PARAMS = (
    Param("qos", "reliable_frames", "QoS profile name.", choices=tuple(PROFILES), read_only=True),
    Param("report_period_s", 1.0, "Seconds between reports.", min=0.05, max=3600.0),
    Param(
        "duration_s",
        0.0,
        "Stop after this many seconds from the first frame (0 = never).",
        min=0.0,
        max=1e6,
        read_only=True,
    ),
    Param(
        "warmup_frames",
        0,
        "Frames ignored before measuring (discovery transients).",
        min=0,
        max=10**6,
        read_only=True,
    ),
    Param("min_frames", 1, "Frames that must arrive for a successful exit.", min=0, max=10**9),
    Param("summary_file", "", "JSON file written at the end (empty = none)."),
)


def latency_percentiles(latencies_ms: list[float]) -> dict[str, float]:
    """p50/p90/p99/max of latencies in milliseconds (NaN when empty)."""
    if not latencies_ms:
        return {k: float("nan") for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}
    values = np.asarray(latencies_ms)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p90_ms": float(np.percentile(values, 90)),
        "p99_ms": float(np.percentile(values, 99)),
        "max_ms": float(values.max()),
    }


class StreamMonitor(StoppableNode):
    """Counts frames, measures latency, reports, optionally stops after a duration."""

    def __init__(self) -> None:
        super().__init__("stream_monitor")
        self.params = declare_parameters(self, PARAMS)
        self.subscription = self.create_subscription(
            Image, "image", self.on_image, PROFILES[self.params["qos"]]
        )
        self.metrics_pub = self.create_publisher(Metrics, "~/metrics", 10)
        self.seen = 0
        self.received = 0
        self.rejected = 0
        self.latencies_ms: list[float] = []
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.window_start_count = 0
        self.report_timer = self.create_timer(self.params["report_period_s"], self.report)

    @survive_bad_input
    def on_image(self, msg: Image) -> None:
        now_ns = self.get_clock().now().nanoseconds
        try:
            image_to_numpy(msg)
        except ValueError:
            self.rejected += 1
            raise
        self.seen += 1
        if self.seen <= self.params["warmup_frames"]:
            return
        wall = time.monotonic()
        if self.first_time is None:
            self.first_time = wall
        self.last_time = wall
        self.received += 1
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.latencies_ms.append((now_ns - stamp_ns) / 1e6)
        duration = self.params["duration_s"]
        if duration > 0 and wall - self.first_time >= duration:
            self.finish()

    def summary(self) -> dict:
        span = (self.last_time - self.first_time) if self.first_time is not None else 0.0
        # n frames span n-1 intervals.
        rate = (self.received - 1) / span if span > 0 else 0.0
        return {
            "topic": self.subscription.topic_name,
            "received": self.received,
            "rejected": self.rejected,
            "rate_hz": rate,
            **latency_percentiles(self.latencies_ms),
        }

    def report(self) -> None:
        s = self.summary()
        self.get_logger().info(
            f"{s['received']} frames, {s['rate_hz']:.1f} Hz, latency p50 {s['p50_ms']:.2f} ms "
            f"p99 {s['p99_ms']:.2f} ms, rejected {s['rejected']}"
        )
        msg = Metrics()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.step = s["received"]
        names = ["rate_hz", "p50_ms", "p90_ms", "p99_ms", "max_ms", "received", "rejected"]
        msg.names = names
        msg.values = [float(s[n]) for n in names]
        self.metrics_pub.publish(msg)

    def finish(self) -> None:
        self.report()
        summary = self.summary()
        path = self.params["summary_file"]
        if path:
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=2)
            os.replace(tmp, path)
        ok = summary["received"] >= self.get_parameter("min_frames").value
        self.stop(0 if ok else 1)


def main(args: list[str] | None = None) -> int:
    return run_node(StreamMonitor, args)


if __name__ == "__main__":
    raise SystemExit(main())

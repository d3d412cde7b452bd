"""image_source: publishes synthetic camera frames at a fixed rate.

The smallest producer of camera-sized data in the stack: a moving colour
gradient in any supported encoding, stamped with the publish time, so the
transport path (DDS profile, QoS, image conversion) can be exercised and
measured without a camera or a simulator. Used by the README's first demo and
by bench/ros_transport.py.

Publishes: ``image`` (sensor_msgs/Image).
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

from grounded_ros.image_conversions import ENCODINGS, numpy_to_image
from grounded_ros.node_runtime import StoppableNode, run_node
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.qos import PROFILES

PARAMS = (
    Param("width", 640, "Frame width in pixels.", min=1, max=8192, read_only=True),
    Param("height", 480, "Frame height in pixels.", min=1, max=8192, read_only=True),
    Param("encoding", "rgb8", "Image encoding.", choices=tuple(ENCODINGS), read_only=True),
    Param("rate_hz", 30.0, "Publish rate.", min=0.1, max=1000.0, read_only=True),
    Param("frame_id", "camera", "frame_id of the published images."),
    Param("qos", "reliable_frames", "QoS profile name.", choices=tuple(PROFILES), read_only=True),
    Param(
        "max_frames", 0, "Stop after this many frames (0 = run until shut down).", min=0, max=10**9
    ),
)

# A few distinct frames are cycled rather than drawn each tick, so the
# publisher's own CPU use does not distort transport measurements.
_N_PATTERNS = 8


def make_patterns(width: int, height: int, encoding: str, count: int = _N_PATTERNS) -> list:
    """Return count frames of a colour gradient shifted a little each frame."""
    spec = ENCODINGS[encoding]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    frames = []
    for k in range(count):
        phase = k / count
        base = (xs + ys + phase) % 1.0
        if spec.dtype == np.uint8:
            channel = (base * 255).astype(np.uint8)
            if spec.channels == 3:
                frame = np.stack([channel, channel[:, ::-1], channel[::-1, :]], axis=2)
            else:
                frame = channel
        elif spec.dtype == np.uint16:
            frame = (500 + base * 1500).astype(np.uint16)  # depth 0.5-2 m in mm
        else:
            frame = (0.5 + base * 1.5).astype(np.float32)  # depth 0.5-2 m
        frames.append(np.ascontiguousarray(frame))
    return frames


class ImageSource(StoppableNode):
    """Publishes a cycling synthetic image stream."""

    def __init__(self) -> None:
        super().__init__("image_source")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        self.frames = make_patterns(p["width"], p["height"], p["encoding"])
        self.publisher = self.create_publisher(Image, "image", PROFILES[p["qos"]])
        self.count = 0
        self.timer = self.create_timer(1.0 / p["rate_hz"], self.publish_frame)
        self.get_logger().info(
            f"publishing {p['width']}x{p['height']} {p['encoding']} at {p['rate_hz']} Hz "
            f"on {self.publisher.topic_name}"
        )

    def publish_frame(self) -> None:
        frame = self.frames[self.count % len(self.frames)]
        msg = numpy_to_image(
            frame,
            self.params["encoding"],
            frame_id=self.get_parameter("frame_id").value,
            stamp=self.get_clock().now().to_msg(),
        )
        self.publisher.publish(msg)
        self.count += 1
        max_frames = self.get_parameter("max_frames").value
        if max_frames and self.count >= max_frames:
            self.get_logger().info(f"published {self.count} frames, stopping")
            self.stop(0)


def main(args: list[str] | None = None) -> int:
    return run_node(ImageSource, args)


if __name__ == "__main__":
    raise SystemExit(main())

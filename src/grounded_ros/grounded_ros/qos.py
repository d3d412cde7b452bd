"""Named QoS profiles so every node uses the same choices for the same kind of data.

- ``CAMERA_STREAM``: live camera frames where dropping one is fine (sensor-data
  style, best effort, depth 1) - use only with the shipped DDS profile
  (config/fastdds_large_data.xml), because without it best effort loses almost
  every camera-sized frame on these wheels (PLATFORM.md).
- ``RELIABLE_FRAMES``: frames that matter (training data, recordings): reliable,
  small queue.
- ``STATE``: states and commands: reliable, keep last 10.
- ``LATCHED``: plans and weights that late joiners must still get: reliable,
  transient local, depth 1.
"""

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

CAMERA_STREAM = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT
)
RELIABLE_FRAMES = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE
)
STATE = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

PROFILES = {
    "camera_stream": CAMERA_STREAM,
    "reliable_frames": RELIABLE_FRAMES,
    "state": STATE,
    "latched": LATCHED,
}

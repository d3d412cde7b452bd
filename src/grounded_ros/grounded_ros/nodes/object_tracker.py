"""object_tracker: 3-D positions of the coloured objects from an RGB-D camera (issue 8).

Wraps ``grounded_core.vision.object_tracker.ObjectTracker`` (colour segmentation,
depth back-projection, cube fit; config/object_tracker.yaml). Topics are relative,
so remap them onto a camera, e.g. tabletop_sim's
``image:=camera/front_left/image_raw depth:=camera/front_left/depth
camera_info:=camera/front_left/camera_info``.

Subscribes:
- ``image`` (sensor_msgs/Image, rgb8 or bgr8);
- ``depth`` (sensor_msgs/Image, 32FC1 metres or 16UC1 millimetres, registered to
  the colour image: same size);
- ``camera_info`` (sensor_msgs/CameraInfo): K and the image size (the latest one
  is used; ``cy_offset_px`` corrects a simulator whose K uses another pixel
  convention).

Colour and depth are paired by stamp (closest within ``max_pair_dt`` seconds).

Publishes ``tracked_objects`` (grounded_interfaces/ObjectStates), one message per
paired frame, stamped with the image stamp: a pose (centre, and the yaw of the
fitted cube as a quaternion) and the size for every *visible* object. Objects that
are not visible are left out: ObjectState has no visibility field, so absence is
the signal. ``held``, ``end_effector``, ``gripper_opening`` and ``held_object``
are not observed by a camera and stay at their defaults.

Frames: the camera's pose (extrinsics) comes from ``camera_pose`` ("x y z qx qy qz
qw" of the optical frame in the world) or, when that is empty, from camera
``camera`` of world file ``world`` (the simulator's cameras; no TF is read: tf2_ros
is not in the pip ROS wheels). ``output_frame: world`` publishes world positions
with ``frame_id`` as the header frame and needs the pose; ``output_frame: camera``
publishes optical-frame positions with the image's frame_id and works without a
pose (then with the less accurate ``ray`` estimator; see the core module).

Bad input (unsupported encoding, mismatched sizes, an invalid K, frames while no
camera_info has arrived) is logged as one error line and the node keeps running.
The latest frame that arrived before the first camera_info is processed when it
comes (drivers often publish camera_info just after the images).
"""

from __future__ import annotations

import math

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from grounded_core.tabletop import load_world_config
from grounded_core.tabletop.cameras import Camera
from grounded_core.vision.object_tracker import (
    METHODS,
    CameraModel,
    ObjectTracker,
    TrackerInputError,
    load_tracker_config,
)
from grounded_core.vision.stamp_pairing import StampPairer
from grounded_interfaces.msg import ObjectState, ObjectStates
from grounded_ros.image_conversions import image_to_numpy
from grounded_ros.node_runtime import run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.qos import PROFILES, STATE

COLOUR_ENCODINGS = ("rgb8", "bgr8")
DEPTH_ENCODINGS = ("32FC1", "16UC1")


def _pose_problem(text: str) -> str | None:
    if not text.strip():
        return None
    try:
        parse_pose(text)
    except ValueError as error:
        return str(error)
    return None


PARAMS = (
    Param("config", "", "Tracker YAML (empty = config/object_tracker.yaml).", read_only=True),
    Param(
        "method",
        "",
        "Centre estimator (empty = the config file's).",
        choices=("", *METHODS),
        read_only=True,
    ),
    Param(
        "output_frame",
        "world",
        "world: world-frame positions (needs the camera pose); camera: optical frame.",
        choices=("world", "camera"),
        read_only=True,
    ),
    Param("frame_id", "world", "Header frame_id when output_frame is world.", read_only=True),
    Param(
        "camera_pose",
        "",
        "Optical-frame pose in the world, 'x y z qx qy qz qw' (empty: from world/camera).",
        read_only=True,
        check=_pose_problem,
    ),
    Param("world", "tabletop", "World file whose camera pose is used.", read_only=True),
    Param("camera", "", "Camera of the world file giving the pose (empty: none).", read_only=True),
    Param(
        "cy_offset_px",
        0.0,
        "Rows subtracted from camera_info's cy (1.0 for pybullet's tiny renderer, "
        "whose K puts row i at v = i + 1).",
        min=-10.0,
        max=10.0,
        read_only=True,
    ),
    Param("max_pair_dt", 0.02, "Largest stamp gap of a colour/depth pair (s).", min=0.0, max=1.0),
    Param(
        "qos",
        "reliable_frames",
        "QoS of the camera topics.",
        choices=tuple(PROFILES),
        read_only=True,
    ),
)


def parse_pose(text: str) -> np.ndarray | None:
    """'x y z qx qy qz qw' (spaces or commas) -> 4x4 pose; None for an empty string."""
    parts = text.replace(",", " ").split()
    if not parts:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"camera_pose must be 7 numbers 'x y z qx qy qz qw', got {text!r}"
        ) from None
    if len(values) != 7 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"camera_pose must be 7 finite numbers 'x y z qx qy qz qw', got {text!r}")
    x, y, z, qx, qy, qz, qw = values
    norm = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    if norm < 1e-9:
        raise ValueError("camera_pose quaternion is zero")
    qx, qy, qz, qw = (v / norm for v in (qx, qy, qz, qw))
    pose = np.eye(4)
    pose[:3, :3] = [
        [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
        [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
        [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)],
    ]
    pose[:3, 3] = (x, y, z)
    return pose


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class ObjectTrackerNode(Node):
    """Colour + depth + camera_info in, ObjectStates out."""

    def __init__(self) -> None:
        super().__init__("object_tracker")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        overrides = {"method": p["method"]} if p["method"] else None
        self.tracker = ObjectTracker(load_tracker_config(p["config"] or None, overrides))
        self.sizes = {o.name: o.size for o in self.tracker.config.objects}
        self.world_from_camera = parse_pose(p["camera_pose"])
        if self.world_from_camera is None and p["camera"]:
            config = load_world_config(p["world"])
            self.world_from_camera = Camera(config.camera(p["camera"])).world_from_camera
        if p["output_frame"] == "world" and self.world_from_camera is None:
            raise ValueError(
                "output_frame 'world' needs the camera pose: set camera_pose or camera "
                "(a camera of the world file)"
            )
        self.camera_info: CameraInfo | None = None
        self.pending: tuple[Image, Image] | None = None
        self.pairer = StampPairer(max_dt=p["max_pair_dt"])
        qos = PROFILES[p["qos"]]
        self.publisher = self.create_publisher(ObjectStates, "tracked_objects", STATE)
        self.create_subscription(Image, "image", self.on_image, qos)
        self.create_subscription(Image, "depth", self.on_depth, qos)
        self.create_subscription(CameraInfo, "camera_info", self.on_camera_info, qos)
        self.frames = 0
        self.get_logger().info(
            f"tracking {list(self.sizes)} ({self.tracker.config.method}), output frame "
            f"{p['output_frame']!r}"
            + (f" via camera {p['camera']!r} of world {p['world']!r}" if p["camera"] else "")
        )

    # --- inputs ------------------------------------------------------------------------

    @survive_bad_input
    def on_camera_info(self, msg: CameraInfo) -> None:
        if msg.width == 0 or msg.height == 0:
            raise TrackerInputError(f"camera_info has no image size ({msg.width}x{msg.height})")
        self._camera_model(msg)  # validates K now rather than at the next frame
        self.camera_info = msg
        if self.pending is not None:  # the frame that arrived just before the first info
            image, depth = self.pending
            self.pending = None
            self.process(image, depth)

    @survive_bad_input
    def on_image(self, msg: Image) -> None:
        if msg.encoding not in COLOUR_ENCODINGS:
            raise TrackerInputError(
                f"image encoding {msg.encoding!r} is not a colour encoding {COLOUR_ENCODINGS}"
            )
        self._offer("a", msg)

    @survive_bad_input
    def on_depth(self, msg: Image) -> None:
        if msg.encoding not in DEPTH_ENCODINGS:
            raise TrackerInputError(
                f"depth encoding {msg.encoding!r} is not a depth encoding {DEPTH_ENCODINGS}"
            )
        self._offer("b", msg)

    def _offer(self, stream: str, msg: Image) -> None:
        self.pairer.max_dt = self.get_parameter("max_pair_dt").value
        pair = self.pairer.add(stream, _seconds(msg.header.stamp), msg)
        if pair is None:
            return
        _, image, depth = pair
        if self.camera_info is None:
            # A camera driver may publish camera_info just after the images: keep the
            # latest pair for it; a second pair without camera_info is an error.
            waiting, self.pending = self.pending, (image, depth)
            if waiting is not None:
                raise TrackerInputError(
                    "no camera_info received yet: cannot back-project the frame (check the "
                    "camera_info topic remapping)"
                )
            return
        self.process(image, depth)

    # --- work --------------------------------------------------------------------------

    def _camera_model(self, info: CameraInfo) -> CameraModel:
        K = np.array(info.k, dtype=float).reshape(3, 3)
        K[1, 2] -= self.params["cy_offset_px"]
        return CameraModel(
            K=K, width=int(info.width), height=int(info.height), world_from_camera=None
        )

    def process(self, image: Image, depth: Image) -> None:
        rgb = image_to_numpy(image)
        if image.encoding == "bgr8":
            rgb = np.ascontiguousarray(rgb[:, :, ::-1])
        depth_array = image_to_numpy(depth)
        model = self._camera_model(self.camera_info)
        if self.world_from_camera is not None:
            model = CameraModel(model.K, model.width, model.height, self.world_from_camera)
        # position_camera is always set for visible objects; position_world needs the pose.
        tracked = self.tracker.locate(rgb, depth_array, model)
        world = self.params["output_frame"] == "world"
        msg = ObjectStates()
        msg.header.stamp = image.header.stamp
        msg.header.frame_id = self.params["frame_id"] if world else image.header.frame_id
        for name, obj in tracked.items():
            if not obj.visible:
                continue
            x, y, z = (float(v) for v in (obj.position_world if world else obj.position_camera))
            yaw = obj.yaw if (world and obj.yaw is not None) else 0.0
            size = self.sizes[name]
            msg.objects.append(
                ObjectState(
                    name=name,
                    pose=Pose(
                        position=Point(x=x, y=y, z=z),
                        orientation=Quaternion(z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0)),
                    ),
                    size=Vector3(x=size, y=size, z=size),
                    held=False,
                )
            )
        self.publisher.publish(msg)
        self.frames += 1


def main(args: list[str] | None = None) -> int:
    return run_node(ObjectTrackerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

"""object_tracker over DDS from a separate process: the test renders tabletop frames
with the core world, publishes colour (rgb8), depth (32FC1 and 16UC1) and
camera_info itself, and compares the tracked positions with the simulator's truth.
Bad frames (wrong encoding, mismatched sizes, frames before any camera_info) are
logged and the node keeps running."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image

from grounded_core.tabletop import TabletopWorld
from grounded_interfaces.msg import ObjectStates
from grounded_ros.image_conversions import numpy_to_image
from grounded_ros.nodes.tabletop_sim import camera_info_msg
from grounded_ros.qos import RELIABLE_FRAMES, STATE
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

CAMERA = "front_left"


@pytest.fixture(scope="module")
def world():
    with TabletopWorld("tabletop", seed=0) as w:
        yield w


def _start(tmp_path_factory, name: str, *params: str) -> NodeProcess:
    log = tmp_path_factory.mktemp(name) / "tracker.log"
    args = []
    for p in params:
        args += ["-p", p]
    return NodeProcess(node_command("object_tracker", *args, "-r", f"__ns:=/{name}"), log)


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    # Camera.K of the simulator puts row i at v = i + 1: cy_offset_px 1 (see the core module)
    process = _start(tmp_path_factory, "tracked", f"camera:={CAMERA}", "cy_offset_px:=1.0")
    yield process
    process.stop()


class Feed:
    """Publishes frames to one tracker namespace and collects its ObjectStates."""

    def __init__(self, client: ClientNode, ns: str) -> None:
        node = client.node
        self.client = client
        self.image = node.create_publisher(Image, f"/{ns}/image", RELIABLE_FRAMES)
        self.depth = node.create_publisher(Image, f"/{ns}/depth", RELIABLE_FRAMES)
        self.info = node.create_publisher(CameraInfo, f"/{ns}/camera_info", RELIABLE_FRAMES)
        self.states: list[ObjectStates] = []
        node.create_subscription(ObjectStates, f"/{ns}/tracked_objects", self.states.append, STATE)
        pubs = (self.image, self.depth, self.info)
        assert client.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs), 30.0)
        self.sec = 100

    def send(self, world, *, depth_mm=False, info=True, image_encoding="rgb8", depth=None):
        """Publish one frame; return its stamp (seconds) for matching the output."""
        self.sec += 1
        stamp = Time(sec=self.sec, nanosec=0)
        frame = world.render(CAMERA)
        frame_id = f"{CAMERA}_optical_frame"
        if info:
            msg = camera_info_msg(world.cameras[CAMERA], 128, 128, frame_id)
            msg.header.stamp = stamp
            self.info.publish(msg)
            self.client.spin_until(lambda: False, 0.2)  # let camera_info arrive first
        rgb = frame.rgb if image_encoding != "bgr8" else np.ascontiguousarray(frame.rgb[:, :, ::-1])
        if image_encoding == "mono8":
            self.image.publish(numpy_to_image(frame.rgb[:, :, 0].copy(), "mono8", frame_id, stamp))
        else:
            self.image.publish(numpy_to_image(rgb, image_encoding, frame_id, stamp))
        if depth is None:
            if depth_mm:
                depth = numpy_to_image(
                    np.round(frame.depth * 1000).astype(np.uint16), "16UC1", frame_id, stamp
                )
            else:
                depth = numpy_to_image(frame.depth.astype(np.float32), "32FC1", frame_id, stamp)
        depth.header.stamp = stamp
        self.depth.publish(depth)
        return self.sec

    def result(self, sec: int, timeout: float = 20.0) -> ObjectStates | None:
        def found():
            return next((s for s in self.states if s.header.stamp.sec == sec), None)

        self.client.spin_until(lambda: found() is not None, timeout)
        return found()


def _check(msg: ObjectStates, state, tol: float) -> None:
    assert msg.header.frame_id == "world"
    names = [o.name for o in msg.objects]
    assert sorted(names) == sorted(state.object_names), names
    for o in msg.objects:
        p = o.pose.position
        error = np.linalg.norm(np.array([p.x, p.y, p.z]) - state.position(o.name))
        assert error < tol, f"{o.name}: {error * 1000:.1f} mm"
        assert o.size.x == pytest.approx(0.05)


def test_tracks_objects_in_world_frame(tracker, world):
    with ClientNode("tracker_client") as client:
        feed = Feed(client, "tracked")
        for seed, depth_mm, encoding in ((1, False, "rgb8"), (2, True, "bgr8")):
            state = world.reset(seed=seed)
            sec = feed.send(world, depth_mm=depth_mm, image_encoding=encoding)
            msg = feed.result(sec)
            assert msg is not None, f"no tracked_objects for seed {seed}:\n{tracker.output()}"
            _check(msg, state, tol=0.003)
        # a stack: both cubes found at their heights
        state = world.reset(layout={"red": "blue", "blue": (0.5, 0.0), "green": (0.6, 0.1)})
        msg = feed.result(feed.send(world))
        assert msg is not None
        _check(msg, state, tol=0.005)
    assert tracker.proc.poll() is None


def test_bad_frames_are_logged_and_the_node_survives(tracker, world):
    with ClientNode("tracker_bad_client") as client:
        feed = Feed(client, "tracked")
        state = world.reset(seed=7)
        assert feed.result(feed.send(world, image_encoding="mono8"), timeout=2.0) is None
        small = numpy_to_image(np.ones((64, 64), np.float32), "32FC1", "x")
        assert feed.result(feed.send(world, depth=small), timeout=2.0) is None
        bad_info = CameraInfo(width=128, height=128)  # K all zeros: uncalibrated
        feed.info.publish(bad_info)
        # still alive and still tracking good frames
        msg = feed.result(feed.send(world))
        assert msg is not None
        _check(msg, state, tol=0.003)
    assert tracker.proc.poll() is None
    log = tracker.output()
    assert "is not a colour encoding" in log
    assert "they must be registered (same size)" in log
    assert "no calibration" in log


def test_frames_before_camera_info_are_refused(tmp_path_factory, world):
    process = _start(tmp_path_factory, "uncalibrated", f"camera:={CAMERA}", "cy_offset_px:=1.0")
    try:
        with ClientNode("tracker_nocal_client") as client:
            feed = Feed(client, "uncalibrated")
            state = world.reset(seed=3)
            first = feed.send(world, info=False)
            second = feed.send(world, info=False)  # a second frame without camera_info: error
            assert feed.result(second, timeout=3.0) is None
            third = feed.send(world, info=True)
            # the latest frame waiting for camera_info is processed when it arrives
            for sec in (second, third):
                msg = feed.result(sec)
                assert msg is not None
                _check(msg, state, tol=0.003)
            assert all(s.header.stamp.sec != first for s in feed.states)
        assert process.proc.poll() is None
    finally:
        process.stop()
    assert "no camera_info received yet" in process.output()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (("output_frame:=world",), "needs the camera pose"),
        (("camera_pose:=1 2 3",), "camera_pose must be 7 finite numbers"),
        (("camera:=top_down",), "no camera named 'top_down'"),
    ],
)
def test_bad_configuration_exits_with_a_clear_error(tmp_path_factory, params, message):
    process = _start(tmp_path_factory, "misconfigured", *params)
    try:
        process.proc.wait(timeout=30)
    finally:
        process.stop()
    assert process.proc.returncode == 2, process.output()
    assert message in process.output()


def test_camera_frame_output_without_a_pose(tmp_path_factory, world):
    process = _start(tmp_path_factory, "optical", "output_frame:=camera", "cy_offset_px:=1.0")
    try:
        with ClientNode("tracker_optical_client") as client:
            feed = Feed(client, "optical")
            state = world.reset(seed=6)
            msg = feed.result(feed.send(world))
            assert msg is not None, process.output()
            assert msg.header.frame_id == f"{CAMERA}_optical_frame"
            camera_from_world = np.linalg.inv(world.cameras[CAMERA].world_from_camera)
            assert sorted(o.name for o in msg.objects) == sorted(state.object_names)
            for o in msg.objects:
                truth = (
                    camera_from_world[:3, :3] @ state.position(o.name) + camera_from_world[:3, 3]
                )
                p = o.pose.position
                # the ray estimator (no pose): ~1 cm, see bench/results/object_tracker.md
                assert np.linalg.norm(np.array([p.x, p.y, p.z]) - truth) < 0.02
        assert process.proc.poll() is None
    finally:
        process.stop()


def test_tracks_the_tabletop_sim_cameras(tmp_path_factory):
    """End to end with the simulator node: its image, depth and camera_info topics."""
    root = tmp_path_factory.mktemp("simtrack")
    ns = "simtrack"
    sim = NodeProcess(
        node_command(
            "tabletop_sim",
            "-p",
            "seed:=4",
            "-p",
            "camera_rate_hz:=4.0",
            "-p",
            "cameras:=front_right",
            "-r",
            f"__ns:=/{ns}",
        ),
        root / "sim.log",
    )
    base = "camera/front_right"
    tracker = NodeProcess(
        node_command(
            "object_tracker",
            "-p",
            "camera:=front_right",
            "-p",
            "cy_offset_px:=1.0",
            "-r",
            f"__ns:=/{ns}",
            "-r",
            f"image:={base}/image_raw",
            "-r",
            f"depth:={base}/depth",
            "-r",
            f"camera_info:={base}/camera_info",
        ),
        root / "tracker.log",
    )
    try:
        with ClientNode("simtrack_client") as client:
            truth, tracked = [], []
            node = client.node
            node.create_subscription(ObjectStates, f"/{ns}/object_states", truth.append, STATE)
            node.create_subscription(ObjectStates, f"/{ns}/tracked_objects", tracked.append, STATE)
            assert client.spin_until(lambda: len(tracked) >= 2 and truth, 60.0), (
                sim.output() + tracker.output()
            )
            reference = {o.name: o.pose.position for o in truth[-1].objects}
            assert sorted(o.name for o in tracked[-1].objects) == sorted(reference)
            for o in tracked[-1].objects:
                p, r = o.pose.position, reference[o.name]
                assert np.linalg.norm([p.x - r.x, p.y - r.y, p.z - r.z]) < 0.003, o.name
        assert sim.proc.poll() is None and tracker.proc.poll() is None
    finally:
        tracker.stop()
        sim.stop()
    assert "rejected input" not in tracker.output()

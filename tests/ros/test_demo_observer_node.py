"""demo_observer over DDS from a separate process: the test publishes Captions (as the
captioner node would) and frames, ends the demonstration with end_of_demo or by
silence, and receives the plan; the labelled demo is stored atomically; bad messages
are logged and the node keeps running."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Empty

from grounded_core.tabletop import caption_list, grasp_caption, on_top_caption
from grounded_interfaces.msg import Caption, Captions, SubGoalPlan
from grounded_ros.image_conversions import numpy_to_image
from grounded_ros.qos import LATCHED, RELIABLE_FRAMES, STATE
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

VOCAB = caption_list(("red", "green", "blue"))
GRASP_RED = grasp_caption("red")
RED_ON_BLUE = on_top_caption("red", "blue")
RED_ON_GREEN = on_top_caption("red", "green")


def _captions(sec: int, nanosec: int, detected: tuple[str, ...]) -> Captions:
    msg = Captions(model="test")
    msg.header.stamp = Time(sec=sec, nanosec=nanosec)
    for text in VOCAB:
        on = text in detected
        msg.captions.append(
            Caption(text=text, score=0.95 if on else 0.05, threshold=0.8, detected=on)
        )
    return msg


def _segments(*segments, start: int = 10):
    """(detected captions, n frames) -> stamped Captions at 10 Hz."""
    out, k = [], 0
    for detected, n in segments:
        for _ in range(n):
            out.append(_captions(start + k // 10, (k % 10) * 100_000_000, detected))
            k += 1
    return out


@pytest.fixture(scope="module")
def observer(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_observer")
    process = NodeProcess(
        node_command(
            "demo_observer",
            "-p",
            "min_frames:=3",
            "-p",
            "silence_timeout_s:=1.5",
            "-p",
            f"output_dir:={root / 'demos'}",
            "-p",
            "record_frames:=true",
            "-p",
            "instruction:=demonstration",
        ),
        root / "observer.log",
    )
    process.demos = root / "demos"
    yield process
    process.stop()


class Client:
    def __init__(self, c: ClientNode) -> None:
        self.c = c
        node = c.node
        self.plans: list[SubGoalPlan] = []
        node.create_subscription(SubGoalPlan, "demo_plan", self.plans.append, LATCHED)
        self.captions = node.create_publisher(Captions, "captions", STATE)
        self.end = node.create_publisher(Empty, "end_of_demo", STATE)
        self.image = node.create_publisher(Image, "image", RELIABLE_FRAMES)
        pubs = (self.captions, self.end, self.image)
        assert c.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs), 30.0)
        # a latched plan of an earlier test arrives first: wait for it to settle
        c.spin_until(lambda: False, 0.5)
        self.seen = len(self.plans)

    def play(self, messages, frames: bool = False) -> None:
        for msg in messages:
            if frames:
                colour = np.full((16, 16, 3), msg.header.stamp.nanosec // 10_000_000, np.uint8)
                self.image.publish(numpy_to_image(colour, "rgb8", "camera", msg.header.stamp))
                self.c.spin_until(lambda: False, 0.01)
            self.captions.publish(msg)
            self.c.spin_until(lambda: False, 0.01)

    def next_plan(self, timeout: float = 15.0) -> SubGoalPlan:
        assert self.c.spin_until(lambda: len(self.plans) > self.seen, timeout), "no plan"
        self.seen += 1
        return self.plans[self.seen - 1]


def test_end_of_demo_publishes_the_plan_and_stores_the_demo(observer):
    with ClientNode("demo_client") as c:
        client = Client(c)
        demo = _segments(
            ((), 3),
            ((GRASP_RED,), 2),  # flicker: too short
            ((), 1),
            ((GRASP_RED,), 5),
            ((RED_ON_GREEN,), 4),  # a mistake, undone below
            ((GRASP_RED,), 4),
            ((RED_ON_BLUE,), 5),
        )
        client.play(demo, frames=True)
        c.spin_until(lambda: False, 0.3)
        client.end.publish(Empty())
        plan = client.next_plan()
        assert list(plan.sub_goals) == [GRASP_RED, RED_ON_BLUE]
        assert plan.instruction == "demonstration" and plan.model == "demo_observer"
        summary = json.loads(plan.raw_output)
        assert summary["reason"] == "end_of_demo received" and summary["updates"] == len(demo)
        assert [d[0] for d in summary["dropped"]][:1] == [RED_ON_GREEN]
        folder = Path(summary["dataset"])
        assert folder.parent == observer.demos
        info = json.loads((folder / "demo.json").read_text())
        assert info["plan"] == [GRASP_RED, RED_ON_BLUE] and info["captions"] == VOCAB
        with np.load(folder / "demo.npz") as data:
            assert data["detected"].shape == (len(demo), len(VOCAB))
            assert data["frames"].shape[1:] == (16, 16, 3)
            assert len(data["frames"]) >= len(demo) - 2  # frames matched by stamp
            assert data["scores"][-1, VOCAB.index(RED_ON_BLUE)] == pytest.approx(0.95)
    assert observer.proc.poll() is None


def test_silence_ends_the_demo_and_bad_messages_are_survived(observer):
    with ClientNode("demo_client_2") as c:
        client = Client(c)
        client.captions.publish(Captions())  # no captions at all
        bad_image = Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(5))
        client.image.publish(bad_image)
        client.play(_segments(((), 2), ((GRASP_RED,), 4), start=50))
        client.play([_captions(40, 0, ())])  # older than the previous message
        client.play(_segments(((RED_ON_BLUE,), 4), start=51))
        plan = client.next_plan(timeout=20.0)  # silence_timeout_s = 1.5
        assert list(plan.sub_goals) == [GRASP_RED, RED_ON_BLUE]
        assert json.loads(plan.raw_output)["reason"] == "no Captions for 1.5 s"
    assert observer.proc.poll() is None
    log = observer.output()
    assert "Captions message without captions" in log
    assert "does not match height*step" in log
    assert "is older than the previous update" in log


def test_idle_timeout_ends_the_demo_without_storing(tmp_path):
    process = NodeProcess(
        node_command(
            "demo_observer",
            "-p",
            "silence_timeout_s:=0.0",
            "-p",
            "idle_timeout_s:=1.0",
            "-p",
            "window_frames:=5",
            "-r",
            "__ns:=/idle",
        ),
        tmp_path / "idle.log",
    )
    try:
        with ClientNode("demo_idle_client") as c:
            plans: list[SubGoalPlan] = []
            c.node.create_subscription(SubGoalPlan, "/idle/demo_plan", plans.append, LATCHED)
            captions = c.node.create_publisher(Captions, "/idle/captions", STATE)
            assert c.spin_until(lambda: captions.get_subscription_count() > 0, 30.0)
            # 3 of 5 frames: grasp red flickers but is confirmed with window_frames 5
            demo = _segments(
                ((), 2),
                ((GRASP_RED,), 2),
                ((), 1),
                ((GRASP_RED,), 1),
                ((RED_ON_BLUE,), 4),
            )
            for msg in demo:
                captions.publish(msg)
                c.spin_until(lambda: False, 0.01)
            # the captions keep coming (a still scene): only the idle timeout can end it
            for k in range(40):
                if plans:
                    break
                captions.publish(_captions(20, k * 25_000_000, (RED_ON_BLUE,)))
                c.spin_until(lambda: False, 0.05)
            assert c.spin_until(lambda: bool(plans), 10.0), process.output()
            assert list(plans[0].sub_goals) == [GRASP_RED, RED_ON_BLUE]
            summary = json.loads(plans[0].raw_output)
            assert summary["reason"] == "no new sub-goal for 1 s" and summary["dataset"] == ""
        assert process.proc.poll() is None
    finally:
        process.stop()

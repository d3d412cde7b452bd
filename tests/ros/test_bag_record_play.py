"""grounded-bag over real DDS: a publisher process -> ``grounded-bag record`` -> bag
(finalised on SIGINT / SIGTERM) -> ``grounded-bag play`` -> this test's subscribers get
identical messages in order with the recorded relative timing; topic selection,
remapping and rate; a damaged bag plays what is readable."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from grounded_core.data.bags import Bag, BagError
from grounded_interfaces.msg import Captions
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

COUNT = 12
#: Publication schedule (s after the start): irregular gaps, so timing is really checked.
SCHEDULE = [0.0, 0.05, 0.2, 0.25, 0.3, 0.5, 0.55, 0.7, 0.9, 0.95, 1.0, 1.2]
TOPICS = {"/bagtest/image": Image, "/bagtest/captions": Captions, "/bagtest/text": String}
QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)

PUBLISHER = """
import sys, time
import rclpy
from rclpy.qos import QoSProfile, HistoryPolicy, ReliabilityPolicy
from tests.ros.test_bag_record_play import make_messages, SCHEDULE
from sensor_msgs.msg import Image
from std_msgs.msg import String
from grounded_interfaces.msg import Captions
rclpy.init()
node = rclpy.create_node("bag_test_publisher")
qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
pubs = {t: node.create_publisher(c, t, qos) for t, c in
        (("/bagtest/image", Image), ("/bagtest/captions", Captions), ("/bagtest/text", String))}
deadline = time.monotonic() + 30
while any(p.get_subscription_count() == 0 for p in pubs.values()) and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(1.0)  # the recorder subscribed to all three topics
start = time.monotonic()
for k, (topic, msg) in enumerate(make_messages()):
    time.sleep(max(0.0, start + SCHEDULE[k] - time.monotonic()))
    pubs[topic].publish(msg)
print("published", flush=True)
from rclpy.duration import Duration
for p in pubs.values():
    p.wait_for_all_acked(Duration(seconds=2))
time.sleep(30)
"""


def make_messages() -> list[tuple[str, object]]:
    """The COUNT messages the publisher sends, deterministic (topic, rclpy message)."""
    from grounded_interfaces.msg import Caption

    messages = []
    for k in range(COUNT):
        kind = k % 3
        if kind == 0:
            msg = Image(height=6, width=8, encoding="rgb8", step=24)
            msg.header.stamp.sec, msg.header.stamp.nanosec = 100 + k, 7 * k
            msg.header.frame_id = "cam"
            msg.data = (np.arange(6 * 8 * 3, dtype=np.uint8) + k).tobytes()
            messages.append(("/bagtest/image", msg))
        elif kind == 1:
            msg = Captions(model=f"model{k}")
            msg.header.frame_id = "cam"
            msg.captions = [
                Caption(
                    text=f"The red object is on top of the blue object {k}",
                    score=0.25 * (k % 4),
                    threshold=0.5,
                    detected=bool(k % 2),
                )
            ]
            messages.append(("/bagtest/captions", msg))
        else:
            messages.append(("/bagtest/text", String(data=f"message {k}")))
    return messages


def _equal(a, b) -> bool:
    if isinstance(a, Image):
        return (
            a.header == b.header
            and a.height == b.height
            and a.width == b.width
            and a.encoding == b.encoding
            and bytes(a.data) == bytes(b.data)
        )
    return a == b


def _record(tmp_path, name: str, extra: list[str], stop_signal) -> tuple:
    bag = tmp_path / name
    recorder = NodeProcess(
        [*node_command("grounded-bag"), "record", "-o", str(bag), *extra, *TOPICS],
        tmp_path / f"{name}_record.log",
    )
    publisher = NodeProcess([sys.executable, "-c", PUBLISHER], tmp_path / f"{name}_pub.log")
    try:
        deadline = time.monotonic() + 60
        while "published" not in publisher.output() and time.monotonic() < deadline:
            assert publisher.proc.poll() is None, publisher.output()
            time.sleep(0.1)
        assert "published" in publisher.output(), publisher.output()
        time.sleep(1.0)  # let the last messages arrive
        assert not bag.exists(), "the bag appeared before the recorder finished"
        recorder.send_signal(stop_signal)
        recorder.proc.wait(timeout=20)
        code = recorder.stop()
    finally:
        publisher.stop()
        recorder.stop()
    return bag, code, recorder.output()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    import signal

    tmp = tmp_path_factory.mktemp("bags")
    bag, code, log = _record(tmp, "rec_mcap", [], signal.SIGINT)
    assert code == 0, log
    return bag


def test_record_writes_every_message_with_the_publication_timing(recorded):
    assert (recorded / "metadata.yaml").is_file(), "SIGINT must finalise the bag"
    assert not list(recorded.parent.glob(".rec_mcap.partial-*"))
    with Bag(recorded) as bag:
        assert bag.damage is None
        info = bag.info()
        assert info.storage == "mcap"
        assert {t.name: t.msgtype for t in info.topics} == {
            "/bagtest/image": "sensor_msgs/msg/Image",
            "/bagtest/captions": "grounded_interfaces/msg/Captions",
            "/bagtest/text": "std_msgs/msg/String",
        }
        messages = list(bag.messages())
        decoded = [bag.decode(m) for m in messages]
    expected = make_messages()
    assert [m.topic for m in messages] == [t for t, _ in expected]
    # Decoded by rosbags without ROS: the same values rclpy published.
    for (topic, sent), got in zip(expected, decoded, strict=True):
        if topic == "/bagtest/image":
            assert (got.header.stamp.sec, got.header.stamp.nanosec) == (
                sent.header.stamp.sec,
                sent.header.stamp.nanosec,
            )
            assert bytes(got.data) == bytes(sent.data) and got.encoding == "rgb8"
        elif topic == "/bagtest/captions":
            assert got.model == sent.model and got.captions[0].text == sent.captions[0].text
            assert got.captions[0].detected == sent.captions[0].detected
        else:
            assert got.data == sent.data
    times = np.array([m.timestamp for m in messages]) / 1e9
    gaps = np.diff(times - times[0])
    assert np.allclose(gaps, np.diff(SCHEDULE), atol=0.06), gaps


def test_record_all_sigterm_sqlite3_and_a_killed_recorder(tmp_path):
    """Three recorders of one publisher: --all (minus an excluded topic) with --max-messages
    ends on its own with a complete bag; an sqlite3 one stopped with SIGTERM finalises its
    bag; one killed with SIGKILL leaves only its hidden partial directory."""
    import signal

    auto, killed, termed = tmp_path / "auto", tmp_path / "killed", tmp_path / "termed"
    command = node_command("grounded-bag")
    rec_all = NodeProcess(
        [*command, "record", "--all", "--exclude", "^/bagtest/image$", "--max-messages", "8",
         "-o", str(auto)],
        tmp_path / "all.log",
    )  # fmt: skip
    rec_kill = NodeProcess(
        [*command, "record", "-o", str(killed), "/bagtest/image", "/bagtest/text"],
        tmp_path / "kill.log",
    )
    rec_term = NodeProcess(
        [*command, "record", "-o", str(termed), "--storage", "sqlite3", *TOPICS],
        tmp_path / "term.log",
    )
    publisher = NodeProcess([sys.executable, "-c", PUBLISHER], tmp_path / "pub.log")
    try:
        rec_all.proc.wait(timeout=60)
        assert rec_all.stop() == 0, rec_all.output()
        time.sleep(0.5)  # the last messages reach the other recorders
        rec_kill.send_signal(signal.SIGKILL)
        rec_term.send_signal(signal.SIGTERM)
        rec_kill.proc.wait(timeout=10)
        rec_term.proc.wait(timeout=20)
        assert rec_term.stop() == 0, rec_term.output()
    finally:
        publisher.stop()
        for recorder in (rec_all, rec_kill, rec_term):
            recorder.stop()
    with Bag(termed) as bag:
        assert bag.info().storage == "sqlite3" and bag.info().message_count == COUNT
    with Bag(auto) as bag:
        info = bag.info()
    assert bag.damage is None
    assert {t.name: t.message_count for t in info.topics} == {
        "/bagtest/captions": 4,
        "/bagtest/text": 4,
    }
    assert not killed.exists()
    (partial,) = tmp_path.glob(".killed.partial-*")
    # Small messages stay in the writer's memory chunk, so nothing is readable: a clear error.
    with pytest.raises(BagError, match=r"cannot read bag|not a bag"):
        Bag(partial / "killed")


class Receiver:
    def __init__(self, client: ClientNode, topics: dict[str, type]) -> None:
        self.got: list[tuple[str, float, object]] = []
        for topic, cls in topics.items():
            client.node.create_subscription(
                cls, topic, lambda m, t=topic: self.got.append((t, time.monotonic(), m)), QOS
            )


def _play(client: ClientNode, bag, receiver: Receiver, expected: int, *args: str) -> NodeProcess:
    """Play ``bag`` until ``expected`` messages of the played topics (not /clock) arrived."""
    player = NodeProcess(
        [*node_command("grounded-bag"), "play", str(bag), "--wait-for-subscribers", "20", *args],
        bag.parent / f"play_{time.monotonic_ns()}.log",
    )

    def count() -> int:
        return sum(topic != "/clock" for topic, _, _ in receiver.got)

    assert client.spin_until(lambda: count() >= expected, 40.0), (
        f"got {count()} of {expected}\n{player.output()}"
    )
    player.proc.wait(timeout=20)
    assert player.stop() == 0, player.output()
    return player


def test_play_gives_identical_messages_in_order_with_timing(recorded):
    expected = make_messages()
    with ClientNode("bag_play_test") as client:
        receiver = Receiver(client, TOPICS)
        _play(client, recorded, receiver, COUNT)
        client.spin_until(lambda: False, 0.3)
    assert len(receiver.got) == COUNT
    assert [t for t, _, _ in receiver.got] == [t for t, _ in expected]
    for (_, _, got), (_, sent) in zip(receiver.got, expected, strict=True):
        assert _equal(got, sent)
    with Bag(recorded) as bag:
        bag_times = np.array([m.timestamp for m in bag.messages()]) / 1e9
    arrivals = np.array([t for _, t, _ in receiver.got])
    assert np.allclose(np.diff(arrivals), np.diff(bag_times), atol=0.06), np.diff(arrivals)


def test_play_selected_topic_remapped_at_double_rate_with_offset_and_clock(recorded):
    from rosgraph_msgs.msg import Clock

    with Bag(recorded) as bag:
        start = bag.info().start_ns
        text = [
            m for m in bag.messages(topics=["/bagtest/text"]) if m.timestamp >= start + 400_000_000
        ]
    with ClientNode("bag_play_remap") as client:
        receiver = Receiver(client, {"/renamed": String, "/clock": Clock})
        _play(
            client,
            recorded,
            receiver,
            3,
            "--topics",
            "/bagtest/text",
            "--remap",
            "/bagtest/text:=/renamed",
            "--rate",
            "2",
            "--start-offset",
            "0.4",
            "--clock",
            "50",
        )
        client.spin_until(lambda: False, 0.3)
    texts = [(t, m) for topic, t, m in receiver.got if topic == "/renamed"]
    clocks = [
        m.clock.sec * 10**9 + m.clock.nanosec for topic, _, m in receiver.got if topic == "/clock"
    ]
    # --start-offset 0.4 skips the text published at 0.2 s; the rest arrive at double speed.
    assert [m.data for _, m in texts] == [f"message {k}" for k in (5, 8, 11)]
    arrivals = np.array([t for t, _ in texts])
    bag_times = np.array([m.timestamp for m in text]) / 1e9
    assert np.allclose(np.diff(arrivals), np.diff(bag_times) / 2, atol=0.06), np.diff(arrivals)
    # /clock carries bag time from the offset on, never backwards.
    assert len(clocks) >= 5, clocks
    assert clocks[0] >= start + 400_000_000 and clocks == sorted(clocks)
    assert clocks[-1] <= text[-1].timestamp + 200_000_000


def test_loop_repeats_the_bag_until_stopped(recorded):
    import signal

    with ClientNode("bag_play_loop") as client:
        receiver = Receiver(client, {"/bagtest/text": String})
        player = NodeProcess(
            [*node_command("grounded-bag"), "play", str(recorded), "--loop", "--rate", "4",
             "--topics", "/bagtest/text", "--wait-for-subscribers", "20"],
            recorded.parent / "loop.log",
        )  # fmt: skip
        try:
            assert client.spin_until(lambda: len(receiver.got) >= 9, 40.0), player.output()
            assert player.proc.poll() is None  # still looping
            player.send_signal(signal.SIGINT)
            player.proc.wait(timeout=20)
        finally:
            code = player.stop()
    assert code == 0, player.output()
    texts = [m.data for _, _, m in receiver.got]
    assert texts[:9] == [f"message {k}" for k in (2, 5, 8, 11) * 2] + ["message 2"]


def test_damaged_bag_plays_what_is_readable(recorded, tmp_path):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(recorded, damaged)
    (damaged / "metadata.yaml").unlink()  # as a killed recorder leaves it
    with ClientNode("bag_play_damaged") as client:
        receiver = Receiver(client, {"/bagtest/text": String})
        player = _play(client, damaged, receiver, 4, "--topics", "/bagtest/text")
    assert "damaged" in player.output()
    assert [m.data for _, _, m in receiver.got] == [f"message {k}" for k in (2, 5, 8, 11)]


def test_bad_bag_path_exits_with_a_clear_error(tmp_path):
    player = NodeProcess(
        [*node_command("grounded-bag"), "play", str(tmp_path / "nope")], tmp_path / "bad.log"
    )
    player.proc.wait(timeout=30)
    assert player.stop() == 2
    assert "no bag at" in player.output()

"""rosbag2 bags without ROS (grounded_core.data.bags): write -> read gives identical
decoded messages (sensor_msgs/Image, a grounded_interfaces message, std_msgs) in
mcap and sqlite3; writing is atomic; damaged bags give clear errors and what can be
read is read."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from grounded_core.data.bags import Bag, BagError, BagWriter, make_qos, read_info
from grounded_core.data.image_messages import (
    ImageMessageError,
    header,
    message_to_rgb,
    rgb_to_compressed,
    rgb_to_image,
)
from grounded_core.data.typestore import default_typestore, normalise_type_name

N = 40
#: Each image is ~0.1 MB, so an mcap bag spans several 1 MiB chunks.
SIZE = (120, 160)


def _messages(store):
    """N triples (topic, timestamp ns, message): images, captions and strings interleaved."""
    types = store.types
    rng = np.random.default_rng(0)
    out = []
    for i in range(N):
        stamp = 1_700_000_000_000_000_000 + i * 33_000_000
        rgb = rng.integers(0, 256, size=(*SIZE, 3), dtype=np.uint8)
        out.append(("/camera/image_raw", stamp, rgb_to_image(store, rgb, stamp, "front_left")))
        caption = types["grounded_interfaces/msg/Caption"](
            text="The robot is grasping the red object",
            score=i / N,
            threshold=0.5,
            detected=i / N > 0.5,
        )
        captions = types["grounded_interfaces/msg/Captions"](
            header=header(store, stamp, "front_left"), model="clip-test", captions=[caption]
        )
        out.append(("/captions", stamp + 1, captions))
        out.append(("/note", stamp + 2, types["std_msgs/msg/String"](data=f"note {i}")))
    return out


TYPES = {
    "/camera/image_raw": "sensor_msgs/msg/Image",
    "/captions": "grounded_interfaces/msg/Captions",
    "/note": "std_msgs/msg/String",
}


def _write(path, storage):
    store = default_typestore()
    messages = _messages(store)
    with BagWriter(path, storage=storage) as writer:
        for topic, msgtype in TYPES.items():
            writer.add_topic(topic, msgtype, qos=[make_qos(reliable=topic != "/note")])
        for topic, stamp, message in messages:
            writer.write(topic, stamp, message)
        writer.set_custom_data("grounded.test", "yes")
        assert not path.exists(), "the bag must not appear before it is complete"
    return messages


def _same(a, b) -> bool:
    """Field-by-field equality of two rosbags message objects."""
    if hasattr(a, "__msgtype__"):
        return a.__msgtype__ == b.__msgtype__ and all(
            _same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__
        )
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return np.float32(a) == np.float32(b)
    return a == b


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def written(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / "bag"
    return path, request.param, _write(path, request.param)


def test_write_then_read_gives_identical_decoded_messages(written):
    path, _storage, sent = written
    with Bag(path) as bag:
        assert bag.damage is None
        messages = list(bag.messages())
        assert [(m.topic, m.timestamp) for m in messages] == [(t, s) for t, s, _ in sent]
        for message, (_, _, original) in zip(messages, sent, strict=True):
            assert message.msgtype == TYPES[message.topic]
            assert _same(bag.decode(message), original)
        image = bag.decode(messages[0])
        assert np.array_equal(
            message_to_rgb(image, "sensor_msgs/msg/Image"),
            np.asarray(sent[0][2].data).reshape(*SIZE, 3),
        )


def test_info_summarises_the_bag(written):
    path, storage, sent = written
    info = read_info(path)
    assert info.storage == storage
    assert info.message_count == len(sent)
    assert info.start_ns == sent[0][1] and info.end_ns == sent[-1][1]
    assert {t.name: (t.msgtype, t.message_count) for t in info.topics} == {
        topic: (msgtype, N) for topic, msgtype in TYPES.items()
    }
    assert info.topic("/camera/image_raw").reliable is True
    assert info.topic("/note").reliable is False
    assert info.custom_data == {"grounded.test": "yes"}
    text = info.format()
    assert "/captions" in text and "grounded_interfaces/msg/Captions" in text
    with pytest.raises(BagError, match="no topic"):
        info.topic("/missing")


def test_topic_and_time_filters(written):
    path, _, sent = written
    with Bag(path) as bag:
        start = sent[3 * 10][1]
        picked = list(bag.messages(topics=["/note"], start_ns=start))
        assert [bag.decode(m).data for m in picked] == [f"note {i}" for i in range(10, N)]
        with pytest.raises(BagError, match="no topic"):
            list(bag.messages(topics=["/nope"]))


def test_single_storage_file_is_readable(written):
    path, _storage, sent = written
    (storage_file,) = [p for p in path.iterdir() if p.suffix in (".mcap", ".db3")]
    with Bag(storage_file) as bag:
        assert bag.info().message_count == len(sent)


def test_truncated_mcap_reports_damage_and_reads_the_complete_chunks(tmp_path):
    path = tmp_path / "bag"
    sent = _write(path, "mcap")
    (storage,) = path.glob("*.mcap")
    data = storage.read_bytes()
    storage.write_bytes(data[: int(len(data) * 0.7)])
    with Bag(path) as bag:
        assert bag.damage is not None and "truncated" in bag.damage
        messages = list(bag.messages())
    assert 0 < len(messages) < len(sent)
    # What was read is a prefix of what was written, byte for byte.
    store = default_typestore()
    for message, (topic, stamp, original) in zip(messages, sent, strict=False):
        assert (message.topic, message.timestamp) == (topic, stamp)
        assert message.data == bytes(store.serialize_cdr(original, TYPES[topic]))


def test_bag_without_metadata_is_read_from_its_storage_file(tmp_path):
    """What a recorder killed with SIGKILL leaves: storage file, no metadata.yaml."""
    path = tmp_path / "bag"
    sent = _write(path, "mcap")
    (path / "metadata.yaml").unlink()
    with Bag(path) as bag:
        assert "metadata.yaml" in bag.damage
        assert len(list(bag.messages())) == len(sent)
        assert bag.info().message_count == len(sent)


def test_corrupted_and_missing_bags_give_clear_errors(tmp_path):
    with pytest.raises(BagError, match="no bag at"):
        Bag(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="not a bag"):
        Bag(tmp_path / "empty")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "garbage.mcap").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(BagError, match="not an mcap file"):
        Bag(garbage)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagError, match="neither a bag directory"):
        Bag(tmp_path / "notes.txt")
    broken = tmp_path / "broken_sqlite"
    _write(broken, "sqlite3")
    (db,) = broken.glob("*.db3")
    db.write_bytes(db.read_bytes()[:4096])
    with pytest.raises(BagError, match="sqlite"):
        Bag(broken)


def test_writer_is_atomic_and_refuses_bad_input(tmp_path):
    path = tmp_path / "bag"
    writer = BagWriter(path)
    writer.add_topic("/note", "std_msgs/String")  # short type names are accepted
    writer.write("/note", 5, default_typestore().types["std_msgs/msg/String"](data="x"))
    with pytest.raises(BagError, match="was not added"):
        writer.write("/other", 5, b"")
    with pytest.raises(BagError, match="non-negative"):
        writer.write("/note", -1, b"")
    with pytest.raises(BagError, match="unknown message type"):
        writer.add_topic("/x", "nobody/msg/Nothing")
    with pytest.raises(BagError, match="was added as"):
        writer.add_topic("/note", "std_msgs/msg/Int32")
    assert not path.exists()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BagError, match="closed"):
        writer.write("/note", 6, b"")
    # An exception inside the context aborts: nothing half-written remains.
    with pytest.raises(RuntimeError), BagWriter(path) as failing:
        failing.add_topic("/note", "std_msgs/msg/String")
        raise RuntimeError("recorder crashed")
    assert list(tmp_path.iterdir()) == []
    path.mkdir()
    with pytest.raises(BagError, match="exists already"):
        BagWriter(path)
    with pytest.raises(BagError, match="storage must be"):
        BagWriter(tmp_path / "other", storage="rosbag1")


def test_custom_type_is_registered_from_its_definition_and_read_back(tmp_path):
    path = tmp_path / "bag"
    definition = "string label\nfloat64[] values\n"
    with BagWriter(path) as writer:
        writer.add_topic("/custom", "demo_pkg/msg/Labelled", msgdef=definition)
        cls = writer.typestore.types["demo_pkg/msg/Labelled"]
        writer.write("/custom", 1, cls(label="a", values=np.array([1.0, 2.5])))
    # A reader that never saw the type learns it from the bag.
    with Bag(path) as bag:
        (message,) = bag.messages()
        decoded = bag.decode(message)
    assert decoded.label == "a" and list(decoded.values) == [1.0, 2.5]


def test_image_conversions(tmp_path):
    store = default_typestore()
    rgb = np.random.default_rng(1).integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = rgb_to_image(store, rgb, 1_500_000_000, "cam")
    assert (image.header.stamp.sec, image.header.stamp.nanosec) == (1, 500_000_000)
    assert np.array_equal(message_to_rgb(image, "sensor_msgs/msg/Image"), rgb)
    bgr = store.types["sensor_msgs/msg/Image"](
        header=image.header,
        height=6,
        width=8,
        encoding="bgr8",
        is_bigendian=0,
        step=8 * 3 + 4,  # padded rows
        data=np.pad(rgb[:, :, ::-1].reshape(6, 24), ((0, 0), (0, 4))).reshape(-1),
    )
    assert np.array_equal(message_to_rgb(bgr, "sensor_msgs/msg/Image"), rgb)
    png = rgb_to_compressed(store, rgb, 0, fmt="png")
    assert np.array_equal(message_to_rgb(png, "sensor_msgs/msg/CompressedImage"), rgb)
    depth = store.types["sensor_msgs/msg/Image"](
        header=image.header, height=1, width=1, encoding="32FC1", is_bigendian=0, step=4,
        data=np.zeros(4, np.uint8),
    )  # fmt: skip
    with pytest.raises(ImageMessageError, match="not a colour image"):
        message_to_rgb(depth, "sensor_msgs/msg/Image")
    short = store.types["sensor_msgs/msg/Image"](
        header=image.header, height=6, width=8, encoding="rgb8", is_bigendian=0, step=24,
        data=np.zeros(10, np.uint8),
    )  # fmt: skip
    with pytest.raises(ImageMessageError, match="inconsistent"):
        message_to_rgb(short, "sensor_msgs/msg/Image")


def test_type_names():
    assert normalise_type_name("std_msgs/String") == "std_msgs/msg/String"
    assert normalise_type_name("std_msgs/msg/String") == "std_msgs/msg/String"
    with pytest.raises(ValueError, match="not a message type"):
        normalise_type_name("String")


def test_partial_directory_of_a_killed_writer_is_readable(tmp_path):
    """A writer that never closes (SIGKILL) leaves only its hidden partial directory."""
    store = default_typestore()
    writer = BagWriter(tmp_path / "bag")
    writer.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
    for topic, stamp, message in _messages(store)[::3]:
        writer.write(topic, stamp, message)  # ~4 MB: rosbags flushes 1 MiB chunks
    assert not (tmp_path / "bag").exists()
    inner = writer.partial_dir / "bag"
    copy = tmp_path / "copy"
    shutil.copytree(inner, copy)  # the files as they are on disk right now
    writer.abort()
    with Bag(copy) as bag:
        assert bag.damage is not None
        count = len(list(bag.messages()))
    assert 0 < count < N

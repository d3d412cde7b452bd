"""captioner node over DDS from separate processes (MISSION B2, issue 6).

A tiny captioner is trained here in seconds (two steps on synthetic frames): the
node's plumbing is under test, not the model's quality (that is bench/captioner.py).
The node captions the frames of a real tabletop_sim node, serves batch scoring in the
requested caption order, rejects frames of the wrong encoding or size with a clear
error and keeps running, and refuses to start (instead of training for minutes) when
the default captioner is not trained yet.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sensor_msgs.msg import Image

from grounded_interfaces.msg import Captions
from grounded_interfaces.srv import ScoreFrames
from grounded_ros.image_conversions import image_to_numpy, numpy_to_image
from grounded_ros.qos import RELIABLE_FRAMES, STATE
from tests.ros.harness import REPO_ROOT, ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

CAMERAS = ("front_left", "front_right")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """(checkpoint, frames) of a captioner trained for two steps on 16 synthetic frames."""
    from grounded_core.vision.config import CaptionerConfig, default_captions
    from grounded_core.vision.data import FrameSet
    from grounded_core.vision.train import train_captioner

    rng = np.random.default_rng(0)
    captions = default_captions()

    def frames(n: int) -> FrameSet:
        return FrameSet(
            rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8),
            rng.random((n, len(captions))) < 0.3,
            np.arange(n) // 2,
            np.array(list(CAMERAS) * (n // 2)),
            np.array(["random"] * n),
            captions,
        )

    config = CaptionerConfig(
        n_train=8,
        n_val=4,
        epochs=1,
        batch_size=8,
        warmup_steps=1,
        checkpoint_every=10,
        train_seed=21,
        val_seed=22,
    )
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        val = frames(8)
        result = train_captioner(
            config,
            tmp_path_factory.mktemp("captioner") / "run",
            train_data=frames(16),
            val_data=val,
            progress=False,
            log=print,
        )
    finally:
        torch.set_num_threads(previous)
    return result.checkpoint, val


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """A tabletop_sim node (root namespace), started while the tiny model trains."""
    process = NodeProcess(
        node_command(
            "tabletop_sim",
            "-p",
            "task:=stack_red_on_blue",
            "-p",
            "seed:=4",
            "-p",
            "camera_rate_hz:=2.0",
            "-p",
            "publish_depth:=false",
        ),
        tmp_path_factory.mktemp("sim") / "sim.log",
    )
    yield process
    try:
        assert process.proc.poll() is None, f"tabletop_sim died:\n{process.output()}"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def graph(sim, tiny_model, tmp_path_factory):
    """The tabletop_sim node and a captioner node on its cameras."""
    checkpoint, _ = tiny_model
    logs = tmp_path_factory.mktemp("captioner_logs")
    captioner = NodeProcess(
        node_command(
            "captioner",
            "--params-file",
            str(REPO_ROOT / "config" / "captioner_node.yaml"),
            "-p",
            f"model:={checkpoint}",
            "-p",
            "rate_hz:=4.0",
            "-p",
            "cameras:=" + ",".join(CAMERAS),
        ),
        logs / "captioner.log",
    )
    yield sim, captioner
    try:
        assert captioner.proc.poll() is None, f"captioner died:\n{captioner.output()}"
    finally:
        captioner.stop()


@pytest.fixture(scope="module")
def local(tiny_model):
    from grounded_core.vision.captioner import Captioner

    torch.set_num_threads(1)
    return Captioner.from_pretrained(tiny_model[0])


@pytest.fixture
def client(graph):
    with ClientNode("captioner_client") as c:
        c.captions = []
        c.frames = {cam: [] for cam in CAMERAS}
        c.node.create_subscription(Captions, "captions", c.captions.append, STATE)
        for cam in CAMERAS:
            c.node.create_subscription(
                Image, f"camera/{cam}/image_raw", c.frames[cam].append, RELIABLE_FRAMES
            )
        c.score = c.node.create_client(ScoreFrames, "score_frames")
        assert c.score.wait_for_service(timeout_sec=45.0), graph[1].output()
        yield c


def test_captions_of_the_simulator_cameras(client, local, graph):
    assert client.spin_until(lambda: len(client.captions) >= 2, 45.0), graph[1].output()
    assert all(client.frames.values()), "the test saw no camera frames"
    msg = client.captions[-1]
    assert [c.text for c in msg.captions] == local.captions  # caption-file order
    scores = np.array([c.score for c in msg.captions])
    thresholds = np.array([c.threshold for c in msg.captions])
    assert ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(thresholds, local.thresholds, rtol=1e-6)
    assert [c.detected for c in msg.captions] == list(scores >= thresholds)
    assert msg.model.endswith(local.metadata["checkpoint"].split("/")[-1])
    assert msg.header.frame_id in {client.frames[c][-1].header.frame_id for c in CAMERAS}
    # Nothing moves in the world, so the latest frames are the ones captioned: the
    # published scores are the two cameras' scores fused by the mean.
    views = np.stack([image_to_numpy(client.frames[c][-1]) for c in CAMERAS])
    expected = local.score(views).mean(axis=0)
    np.testing.assert_allclose(scores, expected, atol=2e-3)


def test_score_frames_follows_the_requested_caption_order(client, local, tiny_model):
    _, frames = tiny_model
    images = frames.images[:3]
    request = ScoreFrames.Request(
        frames=[numpy_to_image(im, "rgb8") for im in images[:2]]
        + [numpy_to_image(np.ascontiguousarray(images[2][:, :, ::-1]), "bgr8")]
    )
    reply = client.wait_future(client.score.call_async(request), 30.0)
    assert reply.success, reply.message
    assert list(reply.captions) == local.captions
    scores = np.array(reply.scores).reshape(3, len(local.captions))
    np.testing.assert_allclose(scores, local.score(images), atol=1e-5)
    np.testing.assert_allclose(reply.thresholds, local.thresholds, rtol=1e-6)
    detected = np.array(reply.detected).reshape(scores.shape)
    assert (detected == (scores >= np.array(reply.thresholds)[None])).all()

    order = [local.captions[4], local.captions[0], "The robot is grasping the purple object"]
    request = ScoreFrames.Request(frames=request.frames[:1], captions=order)
    reply = client.wait_future(client.score.call_async(request), 30.0)
    assert reply.success, reply.message
    assert list(reply.captions) == order
    np.testing.assert_allclose(reply.scores, local.score(images[:1], order)[0], atol=1e-5)
    # the unknown caption falls back to gamma, the known ones keep their thresholds
    assert reply.thresholds[0] == pytest.approx(local.thresholds[4])
    assert reply.thresholds[2] == pytest.approx(local.gamma)


def test_bad_frames_are_rejected_and_the_node_keeps_running(client, local, tiny_model, graph):
    _, frames = tiny_model
    good = numpy_to_image(frames.images[0], "rgb8")
    mono = numpy_to_image(frames.images[0][:, :, 0].copy(), "mono8")
    small = numpy_to_image(np.ascontiguousarray(frames.images[0][::2, ::2]), "rgb8")
    reply = client.wait_future(
        client.score.call_async(ScoreFrames.Request(frames=[good, mono])), 30.0
    )
    assert not reply.success
    assert "frame 1" in reply.message and "mono8" in reply.message
    reply = client.wait_future(client.score.call_async(ScoreFrames.Request(frames=[small])), 30.0)
    assert not reply.success and "64x64" in reply.message and "128x128" in reply.message

    # the live path: wrong frames on a camera topic are logged and dropped
    publisher = client.node.create_publisher(Image, "camera/front_left/image_raw", RELIABLE_FRAMES)
    assert client.spin_until(lambda: publisher.get_subscription_count() >= 2, 20.0)
    for msg in (mono, small):
        publisher.publish(msg)
    captioner = graph[1]

    def rejected() -> list[str]:
        lines = captioner.output().splitlines()
        return [line for line in lines if "on_image: rejected input" in line]

    assert client.spin_until(lambda: len(rejected()) >= 2, 20.0), captioner.output()
    assert "'mono8'" in rejected()[0] and "64x64" in rejected()[1]
    seen = len(client.captions)
    assert client.spin_until(lambda: len(client.captions) >= seen + 2, 30.0)
    assert captioner.proc.poll() is None
    reply = client.wait_future(client.score.call_async(ScoreFrames.Request(frames=[good])), 30.0)
    assert reply.success, reply.message


def test_untrained_default_is_a_clear_error_not_minutes_of_training(tmp_path):
    process = NodeProcess(
        node_command("captioner", "-p", "model:=default"),
        tmp_path / "default.log",
        env={"GROUNDED_CACHE_DIR": str(tmp_path / "cache"), "GROUNDED_CAPTIONER": ""},
    )
    deadline = time.monotonic() + 60.0
    while process.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    code = process.stop()
    assert code == 2, process.output()
    assert "no trained default captioner" in process.output()
    assert "train_if_missing" in process.output() or "grounded-clip train" in process.output()
    assert not (tmp_path / "cache" / "captioner").exists() or not any(
        (tmp_path / "cache" / "captioner").glob("*/checkpoints")
    )

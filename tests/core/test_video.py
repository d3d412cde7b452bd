"""Video files <-> image topics of bags (grounded_core.data.video): import keeps the
video's timestamps, Image and CompressedImage; unreadable videos give clear errors;
export to PNG files (+ frames.csv) and to a video; the grounded-bag CLI wraps them."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from grounded_core.data.bags import Bag, read_info
from grounded_core.data.image_messages import message_to_rgb, stamp_ns
from grounded_core.data.video import (
    SIDECAR_KEY,
    VideoError,
    export_frames,
    import_video,
    read_video,
    sidecar_of,
    video_properties,
)

FPS = 12.5
FRAMES = 10
W, H = 64, 48
START = 1_000_000_000_000


def _colour(i: int) -> tuple[int, int, int]:
    """RGB of frame i: large flat areas survive lossy codecs within a few levels."""
    return (20 * i, 200 - 15 * i, 128)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "demo.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    assert writer.isOpened()
    for i in range(FRAMES):
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[:] = _colour(i)
        writer.write(rgb[:, :, ::-1].copy())
    writer.release()
    (path.with_suffix(".json")).write_text(json.dumps({"task": "stack_red_on_blue"}))
    return path


def _close(rgb: np.ndarray, i: int, tol: int = 12) -> bool:
    return bool(np.all(np.abs(rgb.reshape(-1, 3).mean(0) - _colour(i)) < tol))


def test_read_video_yields_frames_with_their_times(video):
    frames = list(read_video(video))
    assert [f.index for f in frames] == list(range(FRAMES))
    assert np.allclose([f.time_s for f in frames], np.arange(FRAMES) / FPS, atol=1e-3)
    assert all(_close(f.rgb, f.index) for f in frames)
    assert [f.index for f in read_video(video, stride=3, max_frames=3)] == [0, 3, 6]
    props = video_properties(video)
    assert (props.width, props.height, props.frame_count) == (W, H, FRAMES)


@pytest.mark.parametrize("compressed", [False, True])
def test_import_video_stamps_frames_with_the_video_time(video, tmp_path, compressed):
    summary = import_video(video, tmp_path / "bag", "/demo/image", compressed=compressed,
                           start_ns=START, frame_id="demo_cam")  # fmt: skip
    assert summary.frames == FRAMES == summary.expected_frames
    info = read_info(tmp_path / "bag")
    expected_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    assert info.topic("/demo/image").msgtype == expected_type
    assert json.loads(info.custom_data[SIDECAR_KEY]) == {"task": "stack_red_on_blue"}
    assert sidecar_of(tmp_path / "bag") == {"task": "stack_red_on_blue"}
    with Bag(tmp_path / "bag") as bag:
        for i, message in enumerate(bag.messages()):
            decoded = bag.decode(message)
            expected = START + round(i / FPS * 1e9)
            assert abs(message.timestamp - expected) < 1_000_000
            assert stamp_ns(decoded) == message.timestamp
            assert decoded.header.frame_id == "demo_cam"
            assert _close(message_to_rgb(decoded, message.msgtype), i)


def test_unreadable_videos_give_clear_errors(tmp_path, video):
    with pytest.raises(VideoError, match="no video file"):
        import_video(tmp_path / "missing.mp4", tmp_path / "bag")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    with pytest.raises(VideoError, match="cannot open"):
        import_video(text, tmp_path / "bag")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[:200])  # the header only: no frame decodes
    with pytest.raises(VideoError):
        import_video(cut, tmp_path / "bag")
    assert not (tmp_path / "bag").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bag")]


def test_export_frames_to_png_and_video(video, tmp_path):
    import_video(video, tmp_path / "bag", start_ns=START)
    summary = export_frames(tmp_path / "bag", tmp_path / "frames")
    assert summary.frames == FRAMES and summary.skipped == 0
    with open(tmp_path / "frames" / "frames.csv", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    assert [r["file"] for r in rows] == [f"frame_{i:06d}.png" for i in range(FRAMES)]
    assert int(rows[1]["bag_time_ns"]) - int(rows[0]["bag_time_ns"]) == pytest.approx(
        1e9 / FPS, abs=1e6
    )
    for i, row in enumerate(rows):
        png = cv2.imread(str(tmp_path / "frames" / row["file"]))[:, :, ::-1]
        assert _close(png, i)
    out = export_frames(tmp_path / "bag", tmp_path / "clip.mp4", every=2)
    assert out.frames == FRAMES // 2 and out.fps == pytest.approx(FPS / 2, rel=1e-3)
    frames = list(read_video(tmp_path / "clip.mp4"))
    assert len(frames) == FRAMES // 2
    assert _close(frames[1].rgb, 2, tol=20)
    with pytest.raises(VideoError, match="exists already"):
        export_frames(tmp_path / "bag", tmp_path / "frames")
    with pytest.raises(VideoError, match="not an image topic"):
        export_frames(tmp_path / "bag", tmp_path / "other", topic="/nope")


def test_cli_import_info_export(video, tmp_path, capsys):
    from grounded_ros.bag.cli import main

    bag = tmp_path / "bag"
    assert main(["import-video", str(video), str(bag), "--start-time", "5", "-s", "sqlite3"]) == 0
    assert main(["info", str(bag)]) == 0
    out = capsys.readouterr().out
    assert "sqlite3" in out and "/camera/image_raw" in out and f"{FRAMES} msgs" in out
    assert main(["export-frames", str(bag), str(tmp_path / "pngs"), "--max-frames", "3"]) == 0
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 3
    assert main(["info", str(tmp_path / "missing")]) == 1
    assert "no bag at" in capsys.readouterr().err

"""Video files <-> image topics of rosbag2 bags, with OpenCV (MISSION C, rosbag replay).

* :func:`read_video` yields the frames of a video file with their presentation
  times (OpenCV's ``CAP_PROP_POS_MSEC``, falling back to index / fps when a
  container gives none).
* :func:`import_video` writes them into a bag as ``sensor_msgs/Image`` (rgb8)
  or ``sensor_msgs/CompressedImage`` (JPEG/PNG), stamped (header and bag
  receive time) with ``start + video time``, so a human demonstration video
  replays with its own timing. A sidecar ``<video>.json`` (demo_videos.py
  writes one) is stored in the bag's ``custom_data`` under ``grounded.sidecar``.
* :func:`export_frames` writes the frames of an image topic to numbered PNG
  files plus ``frames.csv`` (index, bag time, header stamp), or to a video file.

Unreadable videos and bags without image frames raise :class:`VideoError` with
the reason; outputs appear atomically (a temporary name, then a rename).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .bags import DEFAULT_STORAGE, Bag, BagError, BagWriter, make_qos
from .image_messages import (
    COMPRESSED_TYPE,
    IMAGE_TYPE,
    ImageMessageError,
    message_to_rgb,
    rgb_to_compressed,
    rgb_to_image,
    stamp_ns,
)

SIDECAR_KEY = "grounded.sidecar"
VIDEO_SUFFIXES = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}
DEFAULT_TOPIC = "/camera/image_raw"


class VideoError(ValueError):
    """A video that cannot be read or written, or a bag without frames to export."""


@dataclass(frozen=True)
class VideoFrame:
    index: int
    time_s: float  # presentation time from the start of the video
    rgb: np.ndarray  # (H, W, 3) uint8


@dataclass(frozen=True)
class VideoProperties:
    fps: float
    frame_count: int  # as the container reports it (may be approximate)
    width: int
    height: int


def _open(path: str | Path) -> cv2.VideoCapture:
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"no video file at {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoError(
            f"cannot open {path} as a video (not a video file, or a codec OpenCV lacks)"
        )
    return capture


def video_properties(path: str | Path) -> VideoProperties:
    capture = _open(path)
    try:
        return VideoProperties(
            fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
            frame_count=int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        capture.release()


def read_video(
    path: str | Path, stride: int = 1, max_frames: int | None = None
) -> Iterator[VideoFrame]:
    """Frames of a video (every ``stride``-th, at most ``max_frames``) with their times."""
    if stride < 1:
        raise VideoError(f"stride must be >= 1, got {stride}")
    capture = _open(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        index, emitted, last_time = 0, 0, -1.0
        while max_frames is None or emitted < max_frames:
            ok, bgr = capture.read()
            if not ok or bgr is None:
                break
            position = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if not math.isfinite(position) or position < 0 or position <= last_time:
                # No usable timestamp from the container: derive it from the frame rate.
                position = index / fps if fps > 0 else last_time + 1.0 / 30.0
            last_time = position
            if index % stride == 0:
                if bgr.ndim == 2:
                    bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
                yield VideoFrame(index, position, np.ascontiguousarray(bgr[:, :, 2::-1]))
                emitted += 1
            index += 1
        if index == 0:
            raise VideoError(f"{path}: no frame could be decoded (empty, truncated or not a video)")
    finally:
        capture.release()


@dataclass(frozen=True)
class ImportSummary:
    bag: Path
    topic: str
    frames: int
    first_ns: int
    last_ns: int
    expected_frames: int  # what the container announced (after stride)


def import_video(
    video: str | Path,
    bag: str | Path,
    topic: str = DEFAULT_TOPIC,
    *,
    compressed: bool = False,
    compressed_format: str = "jpeg",
    quality: int = 90,
    frame_id: str = "camera",
    start_ns: int | None = None,
    storage: str = DEFAULT_STORAGE,
    stride: int = 1,
    max_frames: int | None = None,
    progress: bool = False,
) -> ImportSummary:
    """Write the frames of ``video`` into a new bag on ``topic``; see the module docstring.

    ``start_ns``: ROS time of the first frame (default: now). A video that
    ends early (truncated file) imports the frames that decode.
    """
    video = Path(video)
    props = video_properties(video)
    start = time.time_ns() if start_ns is None else int(start_ns)
    if start < 0:
        raise VideoError(f"start time must be >= 0 ns, got {start}")
    expected = len(range(0, props.frame_count, stride)) if props.frame_count > 0 else 0
    if max_frames is not None:
        expected = min(expected, max_frames)
    msgtype = COMPRESSED_TYPE if compressed else IMAGE_TYPE
    writer = BagWriter(bag, storage=storage)
    frames, first, last = 0, None, 0
    try:
        writer.add_topic(topic, msgtype, qos=[make_qos(reliable=True, depth=10)])
        writer.set_custom_data("grounded.source_video", str(video.resolve()))
        writer.set_custom_data("grounded.source_fps", f"{props.fps:g}")
        sidecar = video.with_suffix(".json")
        if sidecar.is_file():
            writer.set_custom_data(SIDECAR_KEY, sidecar.read_text(encoding="utf-8"))
        store = writer.typestore
        bar = tqdm(
            total=expected or None, desc=f"import {video.name}", unit="frame", disable=not progress
        )
        for frame in read_video(video, stride=stride, max_frames=max_frames):
            stamp = start + round(frame.time_s * 1e9)
            if compressed:
                message = rgb_to_compressed(
                    store, frame.rgb, stamp, frame_id, compressed_format, quality
                )
            else:
                message = rgb_to_image(store, frame.rgb, stamp, frame_id)
            writer.write(topic, stamp, message)
            first = stamp if first is None else first
            last = stamp
            frames += 1
            bar.update(1)
        bar.close()
    except BaseException:
        writer.abort()
        raise
    path = writer.close()
    return ImportSummary(path, topic, frames, first or start, last, expected)


@dataclass(frozen=True)
class ExportSummary:
    output: Path
    topic: str
    frames: int
    skipped: int  # messages that did not decode to a colour frame
    fps: float | None  # frame rate of a video output


def image_topics(bag: Bag) -> list[str]:
    return [t.name for t in bag.info().topics if t.msgtype in (IMAGE_TYPE, COMPRESSED_TYPE)]


def _pick_topic(bag: Bag, topic: str | None) -> str:
    topics = image_topics(bag)
    if topic is None:
        if len(topics) != 1:
            raise VideoError(
                f"bag {bag.path} has {len(topics)} image topics {topics}; choose one with --topic"
            )
        return topics[0]
    if topic not in topics:
        raise VideoError(f"{topic!r} is not an image topic of {bag.path}; image topics: {topics}")
    return topic


def _frames(bag: Bag, topic: str, every: int, max_frames: int | None, skipped: list[str]):
    count = 0
    for index, message in enumerate(bag.messages(topics=[topic])):
        if index % every:
            continue
        if max_frames is not None and count >= max_frames:
            return
        try:
            decoded = bag.decode(message)
            rgb = message_to_rgb(decoded, message.msgtype)
        except (BagError, ImageMessageError) as error:
            skipped.append(f"{message.timestamp}: {error}")
            continue
        count += 1
        yield message.timestamp, stamp_ns(decoded), rgb


def export_frames(
    bag_path: str | Path,
    output: str | Path,
    topic: str | None = None,
    *,
    fps: float | None = None,
    every: int = 1,
    max_frames: int | None = None,
    progress: bool = False,
) -> ExportSummary:
    """Frames of an image topic to PNGs (``output`` a new directory) or a video file.

    ``output`` ending in .mp4/.avi/.mkv/.mov writes a video at ``fps`` (default:
    from the median gap between frames); anything else is a directory of
    ``frame_000000.png`` ... and ``frames.csv``.
    """
    if every < 1:
        raise VideoError(f"every must be >= 1, got {every}")
    output = Path(output).absolute()
    if output.exists():
        raise VideoError(f"{output} exists already")
    with Bag(bag_path) as bag:
        topic = _pick_topic(bag, topic)
        total = bag.info().topic(topic).message_count
        skipped: list[str] = []
        frames = _frames(bag, topic, every, max_frames, skipped)
        bar = tqdm(total=total // every, desc=f"export {topic}", unit="frame", disable=not progress)
        if output.suffix.lower() in VIDEO_SUFFIXES:
            count, rate = _write_video(frames, output, fps, bar)
        else:
            count, rate = _write_pngs(frames, output, bar), None
        bar.close()
    return ExportSummary(output, topic, count, len(skipped), rate)


def _write_pngs(frames, output: Path, bar) -> int:
    partial = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    count = 0
    try:
        with open(partial / "frames.csv", "w", newline="", encoding="utf-8") as table:
            rows = csv.writer(table)
            rows.writerow(["index", "file", "bag_time_ns", "header_stamp_ns"])
            for bag_time, stamp, rgb in frames:
                name = f"frame_{count:06d}.png"
                if not cv2.imwrite(str(partial / name), rgb[:, :, ::-1]):
                    raise VideoError(f"could not write {partial / name}")
                rows.writerow([count, name, bag_time, stamp])
                count += 1
                bar.update(1)
        if count == 0:
            raise VideoError("no frame of the topic decoded; nothing exported")
        os.rename(partial, output)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return count


def _write_video(frames, output: Path, fps: float | None, bar) -> tuple[int, float]:
    # Frames are buffered to know the rate before opening the writer; exports are
    # demonstration clips (seconds to minutes), so memory stays moderate.
    buffered = list(frames)
    if not buffered:
        raise VideoError("no frame of the topic decoded; nothing exported")
    if fps is None:
        gaps = np.diff([t for t, _, _ in buffered])
        gaps = gaps[gaps > 0]
        fps = float(1e9 / np.median(gaps)) if gaps.size else 30.0
    if not (math.isfinite(fps) and fps > 0):
        raise VideoError(f"fps must be positive, got {fps}")
    write_video([rgb for _, _, rgb in buffered], output, fps, bar)
    return len(buffered), fps


def write_video(frames, output: str | Path, fps: float, bar=None) -> Path:
    """Write RGB frames (all the same size) to a video file atomically; return its path."""
    output = Path(output).absolute()
    codec = VIDEO_SUFFIXES.get(output.suffix.lower())
    if codec is None:
        raise VideoError(f"video output must end in one of {sorted(VIDEO_SUFFIXES)}: {output}")
    partial = output.parent / f".{output.stem}.partial-{os.getpid()}{output.suffix}"
    writer = None
    size = None
    try:
        for rgb in frames:
            if writer is None:
                size = (rgb.shape[1], rgb.shape[0])
                writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*codec), fps, size)
                if not writer.isOpened():
                    raise VideoError(f"OpenCV cannot write {output.suffix} ({codec}) videos here")
            if (rgb.shape[1], rgb.shape[0]) != size:
                raise VideoError(f"frame size changed from {size} to {rgb.shape[1::-1]}")
            writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
            if bar is not None:
                bar.update(1)
        if writer is None:
            raise VideoError("no frames to write")
        writer.release()
        writer = None
        os.replace(partial, output)
    finally:
        if writer is not None:
            writer.release()
        if partial.exists():
            partial.unlink()
    return output


def sidecar_of(bag_path: str | Path) -> dict | None:
    """The demo sidecar JSON stored in a bag by :func:`import_video`, if any."""
    with Bag(bag_path) as bag:
        text = bag.info().custom_data.get(SIDECAR_KEY)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BagError(f"the sidecar stored in {bag_path} is not JSON: {error}") from None

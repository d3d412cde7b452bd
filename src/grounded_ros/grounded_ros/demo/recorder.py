"""The episode video: camera frames side by side, upscaled, with the plan state overlaid.

Frames arrive from the simulator's camera topics; each frame of the first camera
becomes one video frame, composed with the latest frame of every other camera.
The video is written to a temporary file and renamed when closed (atomic); a
recording without frames leaves no file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
BANNER_LINES = 3


class EpisodeRecorder:
    """Compose and write frames (RGB uint8 arrays) to an mp4 file."""

    def __init__(self, path: Path, cameras: list[str], fps: float, scale: int = 3) -> None:
        if not cameras:
            raise ValueError("at least one camera is needed")
        self.path = Path(path)
        self.cameras = list(cameras)
        self.fps = float(fps)
        self.scale = int(scale)
        self.latest: dict[str, np.ndarray] = {}
        self.lines: list[str] = []
        self.recording = False
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._tmp = self.path.with_name(f".{self.path.stem}-{os.getpid()}.tmp{self.path.suffix}")
        self._lock = threading.Lock()

    def set_text(self, *lines: str) -> None:
        """Overlay text (the instruction, the current sub-goal, detected captions...)."""
        self.lines = [line for line in lines if line][:BANNER_LINES]

    def add(self, camera: str, rgb: np.ndarray) -> None:
        """A new frame of ``camera``; the first camera's frames drive the video."""
        if camera not in self.cameras or rgb.ndim != 3 or rgb.shape[2] != 3:
            return
        with self._lock:
            self.latest[camera] = rgb
            if self.recording and camera == self.cameras[0]:
                self._write(self._compose())

    def _compose(self) -> np.ndarray:
        first = self.latest[self.cameras[0]]
        h, w = first.shape[:2]
        tiles = [
            self.latest.get(c, np.zeros_like(first))
            if self.latest.get(c, first).shape == first.shape
            else cv2.resize(self.latest[c], (w, h))
            for c in self.cameras
        ]
        image = np.concatenate(tiles, axis=1)
        image = cv2.resize(
            image, (image.shape[1] * self.scale, h * self.scale), interpolation=cv2.INTER_NEAREST
        )
        banner = np.full((22 * BANNER_LINES + 8, image.shape[1], 3), 255, np.uint8)
        for i, line in enumerate(self.lines):
            cv2.putText(banner, line, (6, 20 + 22 * i), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        return np.concatenate([banner, image], axis=0)

    def _write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            size = (rgb.shape[1], rgb.shape[0])
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, size)
            if not self._writer.isOpened():
                raise OSError(f"cannot open a video writer for {self._tmp}")
            self._size = size
        if (rgb.shape[1], rgb.shape[0]) != self._size:
            rgb = cv2.resize(rgb, self._size)
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file; returns its path, or None when no frame was recorded."""
        with self._lock:
            self.recording = False
            if self._writer is None:
                return None
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)
            return self.path


def video_info(path: Path) -> tuple[int, int, int]:
    """(frames, width, height) of a video file as OpenCV reads it back."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return 0, 0, 0
        frames = 0
        width = height = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames += 1
            height, width = frame.shape[:2]
        return frames, width, height
    finally:
        capture.release()

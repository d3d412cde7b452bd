"""Live captioning: latest-frame semantics, a rate limit and debounced detections.

A camera publishes faster than the captioner scores on a CPU, so queuing every frame
would only add latency. :class:`StreamingCaptioner` keeps the *latest* frame of each
camera (:meth:`submit` overwrites older, unscored ones, counting them as dropped) and
scores at most once per ``min_interval_s`` (:meth:`poll`). When several cameras are
fed, a poll scores each camera's latest frame not older than ``max_age_s`` and fuses
them like the batch API. Detections can be debounced: a caption is reported only
after it was detected in ``debounce`` consecutive scored updates, and dropped at the
first update that misses it (precision first, as in MISSION B2).

The caller owns the clock (``now`` arguments default to ``time.monotonic()``), so a
ROS node calls :meth:`submit` from its image callback and :meth:`poll` from a timer;
:meth:`run` does both from a background thread for plain Python users.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .captioner import Captioner, fuse_scores

__all__ = ["Detection", "StreamingCaptioner"]


@dataclass(frozen=True)
class Detection:
    """One scored update.

    ``scores``: fused calibrated scores ``[C]``; ``raw``: score >= threshold this update;
    ``detected``: after debouncing; ``captions``: the detected caption texts.
    """

    stamp: float
    scores: np.ndarray
    raw: np.ndarray
    detected: np.ndarray
    captions: list[str]
    cameras: list[str]
    frame_stamps: dict[str, float]


class StreamingCaptioner:
    """Score live frames (see the module docstring).

    Args:
        captioner: the batch captioner doing the work.
        min_interval_s: shortest time between two scored updates (0: every poll).
        debounce: consecutive raw detections needed before a caption is reported (>= 1).
        max_age_s: frames older than this (relative to the newest) are not fused.
        captions: captions to score (default: the captioner's).
    """

    def __init__(
        self,
        captioner: Captioner,
        *,
        min_interval_s: float = 0.0,
        debounce: int = 1,
        max_age_s: float = 1.0,
        captions: Sequence[str] | None = None,
    ):
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        if isinstance(debounce, bool) or not isinstance(debounce, int) or debounce < 1:
            raise ValueError(f"debounce must be an integer >= 1, got {debounce!r}")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self.captioner = captioner
        self.min_interval_s = float(min_interval_s)
        self.debounce = debounce
        self.max_age_s = float(max_age_s)
        self.captions = list(captions or captioner.captions)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[np.ndarray, float]] = {}
        self._fresh = False
        self._last_scored: float | None = None
        self._history: deque[np.ndarray] = deque(maxlen=debounce)
        self.submitted = 0
        self.dropped = 0
        self.scored = 0
        self.last: Detection | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def reset(self) -> None:
        """Forget frames and detection history (e.g. at an episode boundary)."""
        with self._lock:
            self._pending.clear()
            self._fresh = False
            self._history.clear()
            self.last = None

    def submit(self, frame: np.ndarray, camera: str = "camera", stamp: float | None = None) -> None:
        """Offer a frame (uint8 ``[H, W, 3]`` RGB); it replaces the camera's unscored one."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 [H, W, 3] RGB, got {frame.dtype} {frame.shape}")
        stamp = time.monotonic() if stamp is None else float(stamp)
        with self._lock:
            if self._fresh and camera in self._pending:
                self.dropped += 1
            self._pending[camera] = (frame, stamp)
            self._fresh = True
            self.submitted += 1

    def ready(self, now: float | None = None) -> bool:
        """True when a new frame waits and the rate limit allows scoring."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self._fresh:
                return False
            return self._last_scored is None or now - self._last_scored >= self.min_interval_s

    def poll(self, now: float | None = None) -> Detection | None:
        """Score the latest frames if allowed; ``None`` when nothing was scored."""
        now = time.monotonic() if now is None else now
        if not self.ready(now):
            return None
        with self._lock:
            newest = max(s for _, s in self._pending.values())
            views = {
                cam: (frame, s)
                for cam, (frame, s) in self._pending.items()
                if newest - s <= self.max_age_s
            }
            self._fresh = False
            self._last_scored = now
        cameras = sorted(views)
        frames = [views[c][0] for c in cameras]
        if len({f.shape for f in frames}) == 1:
            scores = self.captioner.score(np.stack(frames), self.captions)
        else:  # cameras of different sizes: score one by one
            scores = np.concatenate([self.captioner.score(f, self.captions) for f in frames])
        fused = fuse_scores(scores, self.captioner.fusion, axis=0) if len(frames) > 1 else scores[0]
        thresholds = self.captioner.thresholds_for(self.captions)
        raw = fused >= thresholds
        self._history.append(raw)
        if len(self._history) < self.debounce:
            detected = np.zeros_like(raw)
        else:
            detected = np.logical_and.reduce(np.stack(self._history))
        self.scored += 1
        detection = Detection(
            stamp=newest,
            scores=fused,
            raw=raw,
            detected=detected,
            captions=[c for c, d in zip(self.captions, detected) if d],
            cameras=cameras,
            frame_stamps={c: views[c][1] for c in cameras},
        )
        self.last = detection
        return detection

    def update(
        self,
        frame: np.ndarray,
        camera: str = "camera",
        stamp: float | None = None,
        now: float | None = None,
    ) -> Detection | None:
        """``submit`` then ``poll`` (synchronous use: one call per frame)."""
        self.submit(frame, camera, stamp)
        return self.poll(now)

    # ------------------------------------------------------------------ background thread

    def run(self, callback: Callable[[Detection], None], period_s: float = 0.01) -> None:
        """Score in a background thread, calling ``callback`` with each detection."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("already running")
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                detection = self.poll()
                if detection is not None:
                    callback(detection)
                else:
                    self._stop.wait(period_s)

        self._thread = threading.Thread(target=loop, name="streaming-captioner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> StreamingCaptioner:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

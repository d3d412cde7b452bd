"""Live captioning: latest-frame semantics, rate limit, debounce, camera fusion, thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from grounded_core.vision.streaming import StreamingCaptioner
from tests.core.test_vision_support import one_torch_thread  # noqa: F401  (fixture)

CAPTIONS = ["A", "B"]


class FakeCaptioner:
    """Scores a frame by its first pixel: channel 0 -> caption A, channel 1 -> caption B."""

    captions = CAPTIONS
    fusion = "mean"
    gamma = 0.8

    def __init__(self):
        self.calls = []

    def threshold_map(self):
        return {"A": 0.5, "B": 0.5}

    def thresholds_for(self, captions=None):
        return np.array([self.threshold_map().get(c, self.gamma) for c in captions or CAPTIONS])

    def score(self, images, captions=None):
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        self.calls.append(len(images))
        return images[:, 0, 0, :2].astype(np.float32) / 255.0


def frame(a: float, b: float) -> np.ndarray:
    image = np.zeros((8, 8, 3), np.uint8)
    image[0, 0, :2] = (round(a * 255), round(b * 255))
    return image


def test_latest_frame_wins_and_rate_limit_applies():
    fake = FakeCaptioner()
    stream = StreamingCaptioner(fake, min_interval_s=1.0)
    stream.submit(frame(0.9, 0.0), stamp=0.0)
    stream.submit(frame(0.0, 0.9), stamp=0.1)  # replaces the unscored first frame
    detection = stream.poll(now=0.2)
    assert detection.captions == ["B"] and stream.dropped == 1
    assert detection.frame_stamps == {"camera": 0.1}
    assert stream.poll(now=0.3) is None  # nothing new
    stream.submit(frame(0.9, 0.0), stamp=0.5)
    assert stream.poll(now=0.6) is None  # rate limit: 1 s since the last scoring
    assert stream.poll(now=1.3).captions == ["A"]
    assert fake.calls == [1, 1] and stream.scored == 2


def test_debounce_needs_consecutive_detections_and_drops_at_first_miss():
    stream = StreamingCaptioner(FakeCaptioner(), debounce=3)
    seen = []
    for t, a in enumerate([0.9, 0.9, 0.9, 0.9, 0.1, 0.9]):
        seen.append(stream.update(frame(a, 0.0), stamp=t, now=t).captions)
    assert seen == [[], [], ["A"], ["A"], [], []]
    stream.reset()
    assert stream.update(frame(0.9, 0.0), stamp=9, now=9).captions == []


def test_cameras_are_fused_and_stale_views_ignored():
    stream = StreamingCaptioner(FakeCaptioner(), max_age_s=0.5)
    stream.submit(frame(0.9, 0.0), "left", stamp=1.0)
    stream.submit(frame(0.3, 0.0), "right", stamp=1.1)
    detection = stream.poll(now=1.2)
    assert detection.cameras == ["left", "right"]
    assert detection.scores[0] == pytest.approx((0.9 + 0.3) / 2, abs=0.01)
    assert detection.captions == ["A"]  # mean 0.6 >= 0.5
    stream.submit(frame(0.2, 0.0), "left", stamp=3.0)  # right is now 1.9 s old
    detection = stream.poll(now=3.1)
    assert detection.cameras == ["left"] and detection.captions == []


def test_background_thread_delivers_detections():
    stream = StreamingCaptioner(FakeCaptioner())
    got, event = [], threading.Event()

    def callback(detection):
        got.append(detection.captions)
        event.set()

    with stream:
        stream.run(callback, period_s=0.001)
        stream.submit(frame(0.0, 0.95))
        assert event.wait(5.0)
    assert got[0] == ["B"]


def test_validation():
    with pytest.raises(ValueError, match="debounce"):
        StreamingCaptioner(FakeCaptioner(), debounce=0)
    with pytest.raises(ValueError, match="min_interval_s"):
        StreamingCaptioner(FakeCaptioner(), min_interval_s=-1)
    with pytest.raises(ValueError, match="uint8"):
        StreamingCaptioner(FakeCaptioner()).submit(np.zeros((8, 8, 3), np.float32))

"""The batch captioner API: scores, detections, camera fusion, score/cosine mapping."""

from __future__ import annotations

import numpy as np
import pytest

from grounded_core.vision.captioner import Captioner, fuse_scores
from grounded_core.vision.data import load_frames
from tests.core.test_vision_support import (  # noqa: F401  (fixture)
    fake_frames,
    one_torch_thread,
    tiny_data,
    tiny_run,
)


@pytest.fixture(scope="module")
def captioner() -> Captioner:
    return Captioner.from_pretrained(tiny_run())


def test_scores_are_per_caption_probabilities(captioner):
    frames = fake_frames(5)
    scores = captioner.score(frames)
    assert scores.shape == (5, 9) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()
    detected = captioner.detect(frames)
    assert detected.dtype == bool
    assert (detected == (scores >= captioner.thresholds)).all()  # per caption, not argmax
    assert captioner.score(frames[0]).shape == (1, 9)  # one [H, W, 3] frame
    subset = captioner.captions[3:5]
    assert np.allclose(captioner.score(frames, subset), scores[:, 3:5], atol=1e-6)


def test_batch_size_does_not_change_scores(captioner):
    frames = fake_frames(7, seed=1)
    small = Captioner.from_pretrained(tiny_run(), batch_size=3)
    assert np.allclose(small.score(frames), captioner.score(frames), atol=1e-5)


def test_score_is_the_sigmoid_of_the_scaled_cosine(captioner):
    frames = fake_frames(4, seed=2)
    cosine = captioner.cosine(frames)
    scale, bias = captioner.logit_scale_bias()
    assert ((cosine >= -1.0001) & (cosine <= 1.0001)).all()
    assert np.allclose(
        captioner.score(frames), 1 / (1 + np.exp(-(scale * cosine + bias))), atol=1e-6
    )
    # The threshold on the score, expressed on the cosine, gives the same decisions.
    cos_t = captioner.cosine_thresholds()
    scores = captioner.score(frames)
    near = np.abs(cosine - cos_t) < 1e-6
    assert ((scores >= captioner.thresholds) == (cosine >= cos_t))[~near].all()


def test_thresholds_come_from_the_checkpoint_and_can_be_overridden(captioner):
    from grounded_core.data import read_manifest

    stored = read_manifest(tiny_run())["captioner"]["thresholds"]
    assert np.allclose(captioner.thresholds, stored)
    other = Captioner.from_pretrained(tiny_run(), thresholds=0.9)
    assert (other.thresholds == 0.9).all()
    other.captions = [*other.captions, "The robot is grasping the yellow object"]
    assert other.thresholds[-1] == other.gamma == 0.8  # a new caption falls back to gamma
    with pytest.raises(ValueError, match="thresholds for"):
        other.set_thresholds([0.5, 0.5])


def test_multi_camera_fusion(captioner):
    _, val_dir = tiny_data()
    frames = load_frames(val_dir, max_states=3)
    left = frames.images[frames.camera == "front_left"]
    right = frames.images[frames.camera == "front_right"]
    s_left, s_right = captioner.score(left), captioner.score(right)
    for fusion, expected in (
        ("mean", (s_left + s_right) / 2),
        ("max", np.maximum(s_left, s_right)),
        ("min", np.minimum(s_left, s_right)),
    ):
        fused = captioner.score_views({"front_left": left, "front_right": right}, fusion=fusion)
        assert np.allclose(fused, expected, atol=1e-6), fusion
    stacked = np.stack([left, right], axis=1)  # [N, V, H, W, 3]
    assert np.allclose(captioner.score_views(stacked), (s_left + s_right) / 2, atol=1e-6)
    assert captioner.detect_views([left, right]).shape == (3, 9)
    assert len(captioner.caption({"a": left, "b": right})) == 3
    with pytest.raises(ValueError, match="differ in shape"):
        captioner.score_views([left, right[:2]])


def test_fuse_scores_and_input_validation(captioner):
    scores = np.array([[0.2, 0.9], [0.6, 0.7]])
    assert np.allclose(fuse_scores(scores, "mean"), [0.4, 0.8])
    assert np.allclose(fuse_scores(scores, "none"), [0.2, 0.9])
    with pytest.raises(ValueError, match="fusion"):
        fuse_scores(scores, "median")
    with pytest.raises(ValueError, match="uint8"):
        captioner.score(np.zeros((1, 128, 128, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        captioner.score(np.zeros((1, 128, 128), np.uint8))


def test_untrained_architecture_and_missing_checkpoint():
    from grounded_core.vision.models import ModelLoadError

    fresh = Captioner.from_pretrained("grounded-clip-tiny")
    assert fresh.score_mode == "sigmoid" and len(fresh.captions) == 9
    assert (fresh.thresholds == 0.8).all()
    with pytest.raises(ModelLoadError):
        Captioner.from_pretrained("/no/such/checkpoint.pt")


def test_first_detections_for_hindsight_relabelling(captioner):
    _, val_dir = tiny_data()
    frames = load_frames(val_dir, max_states=4)
    views = {c: frames.images[frames.camera == c] for c in frames.cameras}
    first = captioner.first_detections(views)
    detected = captioner.detect_views(views)
    assert set(first) == set(captioner.captions)
    for j, caption in enumerate(captioner.captions):
        hits = np.flatnonzero(detected[:, j])
        assert first[caption] == (int(hits[0]) if len(hits) else None)
    single = captioner.first_detections(views["front_left"], captioner.captions[:2])
    assert list(single) == captioner.captions[:2]

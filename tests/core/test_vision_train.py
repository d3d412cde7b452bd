"""Captioner training (MISSION B2): loss, threshold calibration, checkpoints and resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from grounded_core.data import read_manifest
from grounded_core.vision import train as train_module
from grounded_core.vision.checkpoint import find_checkpoint
from grounded_core.vision.data import load_frames
from grounded_core.vision.train import (
    TrainingError,
    calibrate_thresholds,
    pairwise_sigmoid_loss,
    train_captioner,
)
from tests.core.test_vision_support import (  # noqa: F401  (fixture)
    one_torch_thread,
    tiny_config,
    tiny_data,
    tiny_run,
    work_dir,
)


def test_pairwise_sigmoid_loss_matches_hand_computation():
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    labels = torch.tensor([[1, 1, 0], [0, 0, 1]])  # frame 0 has two true captions
    scale, bias = torch.tensor(math.log(10.0)), torch.tensor(-2.0)
    loss = pairwise_sigmoid_loss(image, text, labels, scale, bias)

    def nll(z, y):
        p = 1 / (1 + math.exp(-z))
        return -math.log(p) if y else -math.log(1 - p)

    cos = [[1.0, 0.6, 0.0], [0.0, 0.8, 1.0]]
    expected = (
        sum(nll(10 * cos[i][j] - 2, int(labels[i, j])) for i in range(2) for j in range(3)) / 2
    )
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    # Without a bias (a plain CLIP), the bias term is simply absent.
    no_bias = pairwise_sigmoid_loss(image, text, labels, scale, None)
    assert float(no_bias) != pytest.approx(float(loss))


def _logit_mid(a: float, b: float) -> float:
    def logit(p):
        return math.log(p / (1 - p))

    return 1 / (1 + math.exp(-(logit(a) + logit(b)) / 2))


def test_calibration_picks_the_lowest_stable_threshold_with_a_margin():
    scores = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.55, 0.3])[:, None]
    labels = np.array([1, 1, 1, 0, 1, 1, 0, 0], bool)[:, None]
    # Precision of "score >= t" at the positives' scores, from the top:
    # 0.95: 1, 0.9: 1, 0.85: 1, 0.7: 4/5, 0.6: 5/6. The chosen score is then lowered
    # halfway (logit space) to the next lower score: same validation decisions, a margin.
    t, info = calibrate_thresholds(scores, labels, target_precision=0.85, min_threshold=0.5)
    assert t[0] == pytest.approx(_logit_mid(0.85, 0.8)) and 0.8 < t[0] < 0.85
    assert info[0]["reached_target"] and info[0]["val_precision"] == 1.0
    assert info[0]["val_recall"] == pytest.approx(3 / 5)
    t, _ = calibrate_thresholds(scores, labels, target_precision=0.8, min_threshold=0.5)
    assert t[0] == pytest.approx(_logit_mid(0.6, 0.55))
    # 0.6 alone would reach 0.82, but 0.7 above it does not: the dip stops the search.
    t, _ = calibrate_thresholds(scores, labels, target_precision=0.82, min_threshold=0.5)
    assert t[0] == pytest.approx(_logit_mid(0.85, 0.8))
    t, _ = calibrate_thresholds(scores, labels, target_precision=0.8, min_threshold=0.68)
    assert t[0] == pytest.approx(0.68)  # the margin never goes below the floor
    # No positives (or an unreachable target): the fallback gamma, flagged.
    t, info = calibrate_thresholds(scores, np.zeros_like(labels), fallback=0.8)
    assert t[0] == 0.8 and not info[0]["reached_target"] and info[0]["val_recall"] is None


def test_calibration_ignores_precision_dips_above_too_few_detections():
    # One negative scores highest (a near-miss stack), then 40 positives, then negatives.
    positives = np.linspace(0.99, 0.9, 40)
    scores = np.concatenate([[0.995], positives, [0.85, 0.4, 0.2]])[:, None]
    labels = np.array([0] + [1] * 40 + [0, 0, 0], bool)[:, None]
    # Checked down to one detection, the top negative alone fails precision 0.95 (1/2 at
    # the first positive): no threshold reaches the target and gamma is the fallback.
    t, info = calibrate_thresholds(scores, labels, target_precision=0.95, min_threshold=0.8)
    assert t[0] == 0.8 and not info[0]["reached_target"]
    # Checked only where >= 20 states score above (1/(1-0.95): one negative among fewer
    # already fails 0.95), the top dip is noise: the threshold keeps all 40 positives.
    t, info = calibrate_thresholds(
        scores, labels, target_precision=0.95, min_threshold=0.8, min_detections=20
    )
    assert t[0] == pytest.approx(_logit_mid(0.9, 0.85)) and info[0]["reached_target"]
    assert info[0]["val_recall"] == 1.0 and info[0]["val_precision"] == pytest.approx(40 / 41)
    # A dip at >= min_detections detections still stops the search: 4 negatives among the
    # top 24 states give precision 20/24 < 0.95 there.
    scores = np.concatenate([[0.995, 0.994, 0.993, 0.992], positives, [0.6]])[:, None]
    labels = np.array([0] * 4 + [1] * 40 + [0], bool)[:, None]
    t, info = calibrate_thresholds(
        scores, labels, target_precision=0.95, min_threshold=0.8, min_detections=20
    )
    assert t[0] == 0.8 and not info[0]["reached_target"]


def test_training_writes_a_complete_self_describing_checkpoint():
    checkpoint = tiny_run()
    manifest = read_manifest(checkpoint)
    info = manifest["captioner"]
    assert manifest["kind"] == "grounded_clip_captioner" and info["complete"]
    assert len(info["captions"]) == 9 and len(info["thresholds"]) == 9
    assert all(0.5 <= t < 1 for t in info["thresholds"])
    assert info["cameras"] == ["front_left", "front_right"] and info["train_states"] == 20
    assert info["model_cfg"]["vision_cfg"]["image_size"] == 64
    assert manifest["config"]["fingerprint"] == tiny_config().fingerprint()
    assert {"torch", "open_clip_torch"} <= set(manifest["versions"])
    assert "val_metrics" in info and "calibration" in info["val_metrics"]
    files = set(manifest["files"])
    assert {"open_clip_model.safetensors", "open_clip_config.json"} <= files
    # A finished run is a cache hit: no training the second time.
    train, val = tiny_data()
    again = train_captioner(
        tiny_config(), work_dir() / "run", train_data=train, val_data=val, progress=False
    )
    assert not again.trained_now and again.checkpoint == checkpoint


def test_checkpoint_loads_in_plain_open_clip():
    import open_clip

    checkpoint = tiny_run()
    config = json.loads((checkpoint / "open_clip_config.json").read_text())
    assert config["model_cfg"]["embed_dim"] == 128
    model = open_clip.create_model(f"local-dir:{checkpoint}")
    ours = find_checkpoint(checkpoint.parent.parent)  # a run folder resolves to LATEST
    assert ours == checkpoint
    assert model.visual.image_size == (64, 64) or model.visual.image_size == 64


def test_recalibration_rewrites_thresholds_only(tmp_path):
    import shutil

    from grounded_core.vision.captioner import Captioner
    from grounded_core.vision.train import calibrate_checkpoint

    run = tmp_path / "run"
    shutil.copytree(tiny_run().parent.parent, run)
    before = Captioner.from_pretrained(run)
    _, val = tiny_data()
    result = calibrate_checkpoint(run, val, threshold_mode="global", gamma=0.9)
    after = Captioner.from_pretrained(run)
    assert np.allclose(after.thresholds, 0.9) and list(result.thresholds.values()) == [0.9] * 9
    frames = np.zeros((2, 128, 128, 3), np.uint8)
    assert np.allclose(before.score(frames), after.score(frames))  # same weights
    manifest = read_manifest(find_checkpoint(run))
    assert manifest["captioner"]["calibrated_with"]["threshold_mode"] == "global"
    assert manifest["step"] == read_manifest(tiny_run())["step"]


def test_changed_calibration_settings_recalibrate_without_retraining(tmp_path):
    import shutil

    shutil.copytree(tiny_run().parent.parent, tmp_path / "run")
    train, val = tiny_data()
    result = train_captioner(
        tiny_config(threshold_mode="global", gamma=0.85),
        tmp_path / "run",
        train_data=train,
        val_data=val,
        progress=False,
    )
    assert not result.trained_now and set(result.thresholds.values()) == {0.85}
    manifest = read_manifest(result.checkpoint)
    assert manifest["config"]["threshold_mode"] == "global"


def test_another_config_in_the_same_run_folder_is_refused():
    tiny_run()
    train, val = tiny_data()
    with pytest.raises(TrainingError, match="another configuration"):
        train_captioner(
            tiny_config(lr=1e-4), work_dir() / "run", train_data=train, val_data=val, progress=False
        )


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    train_dir, val_dir = tiny_data()
    train = load_frames(train_dir).first_states(12)  # 24 frames: 3 steps per epoch at 8
    val = load_frames(val_dir)
    config = tiny_config(epochs=2, batch_size=8, checkpoint_every=2)

    straight = train_captioner(
        config,
        tmp_path / "straight",
        train_data=train,
        val_data=val,
        progress=False,
        log=lambda _m: None,
    )

    calls = {"n": 0}
    real_loss = train_module.pairwise_sigmoid_loss

    def crash_on_step_4(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of epoch 2
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_module, "pairwise_sigmoid_loss", crash_on_step_4)
    with pytest.raises(KeyboardInterrupt):
        train_captioner(
            config,
            tmp_path / "resumed",
            train_data=train,
            val_data=val,
            progress=False,
            log=lambda _m: None,
        )
    partial = find_checkpoint(tmp_path / "resumed")
    assert read_manifest(partial)["step"] == 3  # end of epoch 1 (steps 2 and 3 were saved)
    assert not read_manifest(partial)["captioner"]["complete"]
    monkeypatch.setattr(train_module, "pairwise_sigmoid_loss", real_loss)
    messages = []
    resumed = train_captioner(
        config,
        tmp_path / "resumed",
        train_data=train,
        val_data=val,
        progress=False,
        log=messages.append,
    )
    assert resumed.steps == straight.steps == 6 and "resuming" in messages[0]
    a = straight.load().model.state_dict()
    b = resumed.load().model.state_dict()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key

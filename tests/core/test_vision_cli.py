"""``grounded-clip`` CLI and ``default_captioner()`` (cache, train on first use)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from grounded_core.vision.cli import main
from tests.core.test_vision_support import (  # noqa: F401  (fixture)
    one_torch_thread,
    tiny_config,
    tiny_data,
    tiny_run,
)


def test_render_train_evaluate_info(tmp_path, capsys):
    assert (
        main(["render", "--out", str(tmp_path / "d"), "--n", "3", "--seed", "21", "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert "3 states" in out and "The robot is grasping the red object" in out

    train, val = tiny_data()
    run = tmp_path / "run"
    args = [
        "train",
        "--run-dir",
        str(run),
        "--train-data",
        str(train),
        "--val-data",
        str(val),
        "--set",
        "epochs=1",
        "--set",
        "batch_size=32",
        "--set",
        "n_train=20",
        "--no-progress",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "checkpoint:" in out and "thresholds:" in out
    assert main(args) == 0  # a finished run is not trained again
    assert "already trained" in capsys.readouterr().out

    assert (
        main(
            [
                "calibrate",
                "--model",
                str(run),
                "--val-data",
                str(val),
                "--set",
                "target_precision=0.99",
            ]
        )
        == 0
    )
    assert "recalibrated" in capsys.readouterr().out

    report = tmp_path / "report.json"
    assert main(["evaluate", "--model", str(run), "--data", str(val), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "per state (cameras fused)" in out and "camera front_left" in out
    data = json.loads(report.read_text())
    assert data["n_states"] == 10 and len(data["states"]) == 9

    assert main(["info", "--model", str(run)]) == 0
    out = capsys.readouterr().out
    assert "equivalent cosine" in out and "sigmoid(" in out


def test_caption_images_and_a_video(tmp_path, capsys):
    _, val = tiny_data()
    record = json.loads((val / "labels.jsonl").read_text().splitlines()[0])
    image = val / record["images"]["front_left"]
    assert main(["caption", "--model", str(tiny_run()), str(image), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["captions"]) == 9 and len(data["results"][0]["scores"]) == 9

    video = tmp_path / "demo.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 128))
    frame = cv2.imread(str(image))
    for _ in range(6):
        writer.write(frame)
    writer.release()
    assert main(["caption", "--model", str(tiny_run()), str(video), "--every", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert [f["frame"] for f in result["frames"]] == [0, 2, 4]
    assert isinstance(result["sequence"], list)
    assert main(["caption", "--model", str(tiny_run()), str(tmp_path / "nope.png")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["train", "--run-dir", str(tmp_path), "--set", "epochs=0"]) == 2
    assert "epochs" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tiny_run()), "--data", str(tmp_path)]) == 2
    assert "not a captioner dataset" in capsys.readouterr().err
    assert main(["train", "--set", "epochs=1"]) == 2


def test_default_captioner_trains_once_then_loads_from_cache(tmp_path, monkeypatch, capsys):
    from grounded_core.vision import default as default_module
    from grounded_core.vision.default import default_captioner, default_run_dir

    monkeypatch.setenv("GROUNDED_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GROUNDED_CAPTIONER", raising=False)
    config = tiny_config(n_train=4, n_val=3, train_seed=31, val_seed=32)
    with pytest.raises(FileNotFoundError, match="no trained default captioner"):
        default_captioner(config, train_if_missing=False)
    first = default_captioner(config, progress=False)
    assert "takes about" in capsys.readouterr().err  # says what is happening and how long
    assert default_run_dir(config).is_relative_to(tmp_path / "captioner")

    def no_training(*args, **kwargs):
        raise AssertionError("trained again despite a cached model")

    monkeypatch.setattr("grounded_core.vision.train.train_captioner", no_training)
    second = default_captioner(config)
    assert second.metadata["checkpoint"] == first.metadata["checkpoint"]
    frames = np.zeros((1, 128, 128, 3), np.uint8)
    assert np.allclose(first.score(frames), second.score(frames))
    # Other threshold settings (same fingerprint): the cached weights are recalibrated.
    strict = config.with_overrides(target_precision=1.0, min_threshold=0.9)
    assert default_run_dir(strict) == default_run_dir(config)
    third = default_captioner(strict)
    assert third.metadata["config"]["target_precision"] == 1.0
    assert (third.thresholds >= 0.9).all()
    assert np.allclose(first.score(frames), third.score(frames))
    # $GROUNDED_CAPTIONER points at any checkpoint instead.
    monkeypatch.setenv(default_module.CHECKPOINT_ENV, str(tiny_run()))
    assert default_captioner().metadata["checkpoint"] == str(tiny_run())

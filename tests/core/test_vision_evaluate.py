"""Per-caption precision/recall tables, confusion summary and the quality targets."""

from __future__ import annotations

import numpy as np
import pytest

from grounded_core.vision.captioner import Captioner
from grounded_core.vision.data import load_frames
from grounded_core.vision.evaluate import (
    average_precision,
    confusion_summary,
    evaluate,
    format_table,
    meets_targets,
    per_caption_metrics,
)
from tests.core.test_vision_support import (  # noqa: F401  (fixture)
    one_torch_thread,
    tiny_data,
    tiny_run,
)

CAPTIONS = ["red on blue", "blue on red"]


def test_per_caption_metrics_by_hand():
    scores = np.array([[0.9, 0.1], [0.85, 0.95], [0.2, 0.7], [0.6, 0.3]])
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 0]], bool)
    table = per_caption_metrics(scores, labels, [0.5, 0.8], CAPTIONS)
    red = table["red on blue"]  # detected in frames 0, 1, 3; true in 0, 2
    assert (red["tp"], red["fp"], red["fn"], red["tn"]) == (1, 2, 1, 0)
    assert red["precision"] == pytest.approx(1 / 3) and red["recall"] == pytest.approx(0.5)
    assert red["f1"] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    blue = table["blue on red"]  # detected in frame 1 only (0.7 < 0.8)
    assert (blue["precision"], blue["recall"], blue["support"]) == (1.0, 1.0, 1)
    assert meets_targets(table) == {"red on blue": False, "blue on red": True}
    assert "| red on blue | 0.500 | 2 | 1 | 2 | 1 | 0.333 | 0.500 | NO |" in format_table(table)
    nothing = per_caption_metrics(np.zeros((2, 1)), np.zeros((2, 1), bool), [0.5], ["x"])
    assert nothing["x"]["precision"] is None and nothing["x"]["recall"] is None


def test_confusion_summary_names_what_was_true_instead():
    predicted = np.array([[1, 0], [1, 0], [0, 0]], bool)
    labels = np.array([[0, 1], [0, 0], [0, 1]], bool)
    summary = confusion_summary(predicted, labels, CAPTIONS)
    assert summary["red on blue"]["false_positives"] == 2
    assert summary["red on blue"]["true_instead"] == {"blue on red": 1, "(no caption true)": 1}
    assert summary["blue on red"]["misses"] == 2
    assert summary["blue on red"]["fired_instead"] == {"red on blue": 1}


def test_average_precision():
    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0], bool)) == 1.0
    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([0, 1, 1], bool)) == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )
    assert average_precision(np.array([0.5]), np.array([False])) is None


def test_evaluate_reports_frames_per_camera_and_fused_states():
    captioner = Captioner.from_pretrained(tiny_run())
    _, val_dir = tiny_data()
    frames = load_frames(val_dir)
    report = evaluate(captioner, frames)
    assert report.n_frames == 20 and report.n_states == 10
    assert set(report.frames) == {"all", "front_left", "front_right"}
    assert set(report.states) == set(captioner.captions)
    assert report.thresholds == pytest.approx(list(captioner.thresholds))
    support = {c: r["support"] for c, r in report.states.items()}
    assert support == {c: int(n) // 2 for c, n in frames.positives().items()}
    data = report.to_dict()
    assert data["fusion"] == "mean" and 0.0 <= data["exact_match_states"] <= 1.0
    # Thresholds of 1.01 detect nothing: no false positives anywhere.
    strict = evaluate(captioner, frames, thresholds=[1.01] * 9)
    assert all(r["fp"] == 0 and r["tp"] == 0 for r in strict.states.values())

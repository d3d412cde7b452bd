"""Relation-rich captioner data (stack-then-clutter episodes) and its use in training.

The recipe of issue 6 adds these states to the default captioner's train and
validation splits; here a few states are rendered and a tiny run trains on them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.core.test_vision_support import (  # noqa: F401  (fixture)
    one_torch_thread,
    tiny_config,
    work_dir,
)


@pytest.fixture(scope="module")
def relations():
    from grounded_core.vision.relations import render_relation_dataset

    return render_relation_dataset(
        work_dir() / "relations", 14, seed=5, clutter_steps=3, progress=False
    )


def test_relation_episodes_build_a_stack_then_clutter_it(relations):
    from grounded_core.vision.data import load_frames
    from grounded_core.vision.relations import relations_complete

    meta = json.loads((relations / "meta.json").read_text())
    assert meta["n_states"] == 14 and meta["settings"]["kind"] == "relations"
    assert meta["counts"]["expert"] > 0 and meta["counts"]["clutter"] > 0
    records = [json.loads(line) for line in (relations / "labels.jsonl").read_text().splitlines()]
    first = records[0]
    # an episode: expert steps until its stacking task holds, then clutter steps
    episode = [r for r in records if r["episode"] == first["episode"]]
    sources = [r["source"] for r in episode]
    assert sources[0] == "expert" and sources == sorted(sources, key=["expert", "clutter"].index)
    on_top = [c for c in first["captions"] if "on top" in c]
    assert any(r["captions"][c] for r in records for c in on_top)  # stacks are positives
    frames = load_frames(relations)
    assert len(frames) == 2 * 14 and frames.cameras == ["front_left", "front_right"]
    assert relations_complete(relations, 14, 5, 3)
    assert not relations_complete(relations, 14, 5, 4)


def test_render_relations_reuses_and_validates(relations, tmp_path):
    from grounded_core.vision.relations import render_relation_dataset

    stamp = (relations / "labels.jsonl").stat().st_mtime_ns
    render_relation_dataset(relations, 14, seed=5, clutter_steps=3, progress=False)
    assert (relations / "labels.jsonl").stat().st_mtime_ns == stamp
    for kwargs, match in (
        ({"n": 0}, "positive integer"),
        ({"n": 2, "clutter_steps": -1}, "clutter_steps"),
        ({"n": 2, "object_bias": 1.5}, "object_bias"),
    ):
        n = kwargs.pop("n")
        with pytest.raises(ValueError, match=match):
            render_relation_dataset(tmp_path / "x", n, seed=1, progress=False, **kwargs)


def test_concat_frames_keeps_states_apart(relations):
    from grounded_core.vision.data import DatasetError, concat_frames, load_frames

    a = load_frames(relations, max_states=5)
    b = load_frames(relations)
    both = concat_frames(a, b)
    assert len(both) == len(a) + len(b)
    assert both.n_states == a.n_states + b.n_states  # same ids in a and b, kept apart
    assert (both.labels[: len(a)] == a.labels).all()
    with pytest.raises(DatasetError, match="different captions"):
        concat_frames(a, load_frames(relations, a.captions[:3]))


def test_default_style_run_trains_and_calibrates_on_relation_states():
    from grounded_core.data import read_manifest
    from grounded_core.vision.captioner import Captioner
    from grounded_core.vision.train import calibrate_checkpoint, prepare_datasets, train_captioner

    config = tiny_config(
        n_train=4, n_val=3, n_train_relations=6, n_val_relations=4, train_seed=41, val_seed=42
    )
    assert config.fingerprint() != tiny_config(n_train=4, n_val=3).fingerprint()
    run = work_dir() / "relations-run"
    train_sets, val_sets = prepare_datasets(config, run / "data", progress=False)
    assert len(train_sets) == 2 and len(val_sets) == 2
    result = train_captioner(config, run, progress=False, log=lambda _m: None)
    info = read_manifest(result.checkpoint)["captioner"]
    assert info["train_states"] == 4 + 6 and info["train_frames"] == 2 * 10
    assert info["val_frames"] == 2 * (3 + 4)
    # recalibration finds the run's validation splits (tabletop + relations) itself
    recalibrated = calibrate_checkpoint(result.checkpoint, target_precision=0.9)
    support = {c: row["val_support"] for c, row in recalibrated.val_metrics["calibration"].items()}
    from grounded_core.vision.data import concat_frames, load_frames

    val = concat_frames(*(load_frames(d) for d in val_sets))
    _, state_labels = val.state_labels()
    assert len(state_labels) == 3 + 4
    assert support == dict(zip(val.captions, state_labels.sum(axis=0).tolist()))
    captioner = Captioner.from_pretrained(recalibrated.checkpoint)
    unknown = "The robot is grasping the purple object"
    thresholds = captioner.thresholds_for([captioner.captions[0], unknown])
    assert thresholds[0] == pytest.approx(captioner.thresholds[0])
    assert thresholds[1] == pytest.approx(captioner.gamma)
    assert np.isfinite(captioner.score(np.zeros((1, 128, 128, 3), np.uint8))).all()

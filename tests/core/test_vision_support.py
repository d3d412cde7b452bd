"""Shared tiny data for the captioner tests (MISSION B2), and checks of that data.

Rendering and training are the slow parts, so each happens once per test process:
:func:`tiny_data` renders a small train split and a validation split with another
seed (unseen episodes); :func:`tiny_run` trains the project's small architecture on
them for one epoch. The other ``test_vision_*`` modules import these helpers.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

N_TRAIN, N_VAL = 20, 10
TINY_OVERRIDES = {
    "n_train": N_TRAIN,
    "n_val": N_VAL,
    "n_train_relations": 0,  # tests/core/test_vision_relations.py covers those
    "n_val_relations": 0,
    "epochs": 1,
    "batch_size": 16,
    "warmup_steps": 1,
    "checkpoint_every": 2,
    "expert_fraction": 0.9,
    "train_seed": 11,
    "val_seed": 12,
}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Score with one torch thread (imported by every test_vision_* module).

    The test machine's two cores are shared; two OpenMP threads that wait on each other
    made these small models many times slower. The previous setting is restored.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@functools.cache
def work_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="grounded-vision-test-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def tiny_config(**changes):
    from grounded_core.vision.config import CaptionerConfig

    return CaptionerConfig(**{**TINY_OVERRIDES, **changes})


@functools.cache
def tiny_data() -> tuple[Path, Path]:
    """(train dir, val dir): 20 + 10 states, both cameras, seeds 11 and 12."""
    from grounded_core.vision.train import prepare_data

    return prepare_data(tiny_config(), work_dir() / "data", progress=False)


@functools.cache
def tiny_run() -> Path:
    """Checkpoint of the project architecture trained one epoch on :func:`tiny_data`."""
    from grounded_core.vision.train import train_captioner

    train, val = tiny_data()
    result = train_captioner(
        tiny_config(),
        work_dir() / "run",
        train_data=train,
        val_data=val,
        progress=False,
        log=lambda _m: None,
    )
    return result.checkpoint


def fake_frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- checks


def test_tiny_data_has_both_cameras_and_unseen_validation_episodes():
    from grounded_core.vision.data import load_frames, reset_fingerprints

    train_dir, val_dir = tiny_data()
    train = load_frames(train_dir)
    assert len(train) == 2 * N_TRAIN and train.cameras == ["front_left", "front_right"]
    assert train.images.dtype == np.uint8 and train.images.shape[1:] == (128, 128, 3)
    assert train.labels.shape == (2 * N_TRAIN, 9)
    # Labels belong to states: both cameras of a state carry the same row.
    for state in np.unique(train.state):
        rows = train.labels[train.state == state]
        assert (rows == rows[0]).all()
    assert reset_fingerprints(train_dir).isdisjoint(reset_fingerprints(val_dir))


def test_render_reuses_a_complete_dataset(tmp_path):
    from grounded_core.vision.data import dataset_complete, render_dataset

    root = render_dataset(tmp_path / "d", 2, seed=3, progress=False)
    stamp = (root / "labels.jsonl").stat().st_mtime_ns
    assert dataset_complete(root, 2, 3, 0.85)
    render_dataset(root, 2, seed=3, progress=False)
    assert (root / "labels.jsonl").stat().st_mtime_ns == stamp
    assert not dataset_complete(root, 3, 3, 0.85)


def test_load_frames_rejects_unlabelled_captions_and_bad_folders(tmp_path):
    from grounded_core.vision.data import DatasetError, load_frames

    train_dir, _ = tiny_data()
    with pytest.raises(DatasetError, match="no label"):
        load_frames(train_dir, ["The robot is waving"])
    with pytest.raises(DatasetError, match="not a captioner dataset"):
        load_frames(tmp_path)
    one_camera = load_frames(train_dir, cameras=["front_left"], max_states=5)
    assert len(one_camera) == 5 and one_camera.cameras == ["front_left"]

"""Atomic checkpoints: complete-or-absent directories, LATEST pointer, pruning, integrity."""

from __future__ import annotations

import json

import pytest

from grounded_core.data import (
    LATEST_FILE,
    MANIFEST_FILE,
    CheckpointError,
    CheckpointManager,
    read_manifest,
    verify_checkpoint,
)


def _writer(text: str):
    def write(directory):
        (directory / "payload.txt").write_text(text)
        (directory / "sub").mkdir()
        (directory / "sub" / "blob.bin").write_bytes(b"\x00\x01" * 10)

    return write


def test_save_writes_payload_manifest_and_latest(tmp_path):
    manager = CheckpointManager(tmp_path / "ckpt", keep=0)
    path = manager.save(3, _writer("three"), {"kind": "test", "config": {"a": 1}})
    assert path.name == "update_00000003"
    assert (path / "payload.txt").read_text() == "three"
    manifest = read_manifest(path)
    assert manifest["step"] == 3 and manifest["kind"] == "test"
    assert manifest["config"] == {"a": 1}
    assert set(manifest["files"]) == {"payload.txt", "sub/blob.bin"}
    assert manifest["files"]["sub/blob.bin"]["bytes"] == 20
    assert len(manifest["files"]["payload.txt"]["sha256"]) == 64
    assert (tmp_path / "ckpt" / LATEST_FILE).read_text().strip() == path.name
    assert manager.latest() == path
    assert verify_checkpoint(path)["step"] == 3


def test_failed_write_leaves_nothing_behind(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save(1, _writer("one"), {})

    def broken(directory):
        (directory / "half.txt").write_text("x")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed"):
        manager.save(2, broken, {})
    assert [p.name for p in manager.checkpoints()] == ["update_00000001"]
    assert manager.latest().name == "update_00000001"
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_stale_temporary_dirs_are_ignored_then_cleaned(tmp_path):
    manager = CheckpointManager(tmp_path)
    stale = tmp_path / ".tmp-update_00000009-deadbeef"
    stale.mkdir()
    (stale / "payload.txt").write_text("partial")
    assert manager.latest() is None  # a half-written checkpoint is never offered
    manager.save(1, _writer("one"), {})
    assert not stale.exists()


def test_latest_falls_back_when_the_pointer_is_missing_or_stale(tmp_path):
    manager = CheckpointManager(tmp_path, keep=0)
    manager.save(1, _writer("one"), {})
    second = manager.save(2, _writer("two"), {})
    (tmp_path / LATEST_FILE).unlink()
    assert manager.latest() == second
    (tmp_path / LATEST_FILE).write_text("update_00000077\n")
    assert manager.latest() == second
    # A directory without manifest (incomplete) is not a checkpoint.
    (tmp_path / "update_00000005").mkdir()
    assert manager.latest() == second


def test_prune_keeps_the_newest(tmp_path):
    manager = CheckpointManager(tmp_path, keep=2)
    for step in range(1, 5):
        manager.save(step, _writer(str(step)), {})
    assert [p.name for p in manager.checkpoints()] == ["update_00000003", "update_00000004"]


def test_resaving_a_step_replaces_it(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save(1, _writer("first"), {})
    path = manager.save(1, _writer("second"), {})
    assert (path / "payload.txt").read_text() == "second"
    assert len(manager.checkpoints()) == 1


def test_verify_detects_corruption_and_bad_manifests(tmp_path):
    manager = CheckpointManager(tmp_path)
    path = manager.save(1, _writer("data"), {})
    (path / "payload.txt").write_text("DATA")  # same size, different bytes
    with pytest.raises(CheckpointError, match="SHA-256"):
        verify_checkpoint(path)
    (path / "payload.txt").write_text("longer data")
    with pytest.raises(CheckpointError, match="wrong size"):
        verify_checkpoint(path)
    (path / MANIFEST_FILE).write_text(json.dumps({"format": 99}))
    with pytest.raises(CheckpointError, match="unsupported checkpoint format 99"):
        read_manifest(path)
    with pytest.raises(CheckpointError, match=r"no manifest\.json"):
        read_manifest(tmp_path / "nowhere")


def test_argument_validation(tmp_path):
    with pytest.raises(ValueError, match="keep"):
        CheckpointManager(tmp_path, keep=-1)
    with pytest.raises(ValueError, match="prefix"):
        CheckpointManager(tmp_path, prefix="a/b")
    manager = CheckpointManager(tmp_path)
    with pytest.raises(ValueError, match="reserved"):
        manager.save(1, _writer("x"), {"files": {}})
    with pytest.raises(ValueError, match="step"):
        manager.save(-1, _writer("x"), {})

    def writes_manifest(directory):
        (directory / MANIFEST_FILE).write_text("{}")

    with pytest.raises(ValueError, match="written last"):
        manager.save(2, writes_manifest, {})
    assert manager.latest() is None

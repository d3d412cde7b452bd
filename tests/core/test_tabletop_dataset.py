"""The captioner dataset tool (MISSION B2): files, labels and CLI."""

from __future__ import annotations

import json

import cv2
import pytest

from grounded_core.tabletop import (
    WorldState,
    caption_list,
    caption_truth,
    generate_dataset,
    load_world_config,
)
from grounded_core.tabletop.dataset import main


def test_dataset_files_and_labels(tmp_path):
    summary = generate_dataset(
        tmp_path, 14, seed=1, expert_fraction=0.5, progress=False, depth=True
    )
    assert summary.n_states == 14 and summary.n_random + summary.n_expert == 14
    meta = json.loads((tmp_path / "meta.json").read_text())
    config = load_world_config()
    assert meta["captions"] == caption_list(config.object_names)
    assert sorted(meta["cameras"]) == ["front_left", "front_right"]
    assert len(meta["cameras"]["front_left"]["K"]) == 3
    records = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(14))
    for record in records:
        assert record["source"] in ("random", "expert")
        assert set(record["captions"]) == set(meta["captions"])
        state = WorldState.from_dict(record["state"])
        # The stored labels are the truth of the stored state.
        assert caption_truth(state, config.tolerances) == record["captions"]
        assert record["positions"]["red"] == record["state"]["objects"]["red"]["position"]
        for camera, rel in record["images"].items():
            image = cv2.imread(str(tmp_path / rel))
            assert image.shape == (128, 128, 3)
            assert (tmp_path / rel.replace(".png", "_depth.npy")).is_file(), camera
    assert sum(summary.positives.values()) == sum(sum(r["captions"].values()) for r in records)


def test_dataset_is_reproducible(tmp_path):
    a = generate_dataset(tmp_path / "a", 5, seed=3, progress=False)
    b = generate_dataset(tmp_path / "b", 5, seed=3, progress=False)
    assert a.positives == b.positives
    assert (tmp_path / "a" / "labels.jsonl").read_text() == (
        tmp_path / "b" / "labels.jsonl"
    ).read_text()


def test_cli(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--n", "3", "--no-progress", "--cameras", "overview"]) == 0
    assert "wrote 3 states" in capsys.readouterr().out
    assert (tmp_path / "images" / "000002_overview.png").is_file()
    assert main(["--out", str(tmp_path), "--n", "2", "--cameras", "nope", "--no-progress"]) == 2
    assert "unknown camera" in capsys.readouterr().err
    with pytest.raises(ValueError, match="positive"):
        generate_dataset(tmp_path, 0)

"""Labelled frames for the captioner: render with the tabletop world, load into memory.

A dataset folder is what ``grounded_core.tabletop.dataset.generate_dataset`` writes
(``meta.json``, ``labels.jsonl``, ``images/*.png``): random-policy and expert-visited
states, each rendered by every enabled camera and labelled with the truth of every
caption in that state (MISSION B2: auto-labelled from simulator state).

:class:`FrameSet` holds one row per *frame* (state x camera): the RGB image, the
labels of the chosen captions, the state it came from and the camera. Frames of one
state share their labels; evaluation can fuse a state's cameras (see
``captioner.fuse_scores``).

Held-out data: each dataset's ``seed`` draws its own episode seeds, so datasets
rendered with different seeds hold states of unseen episodes (MISSION B2's held-out
frames); :func:`reset_fingerprints` lets a caller check that two datasets do not overlap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "DatasetError",
    "FrameSet",
    "concat_frames",
    "dataset_complete",
    "load_frames",
    "render_dataset",
    "reset_fingerprints",
]


class DatasetError(ValueError):
    """A dataset folder is missing, incomplete or lacks labels for a caption."""


@dataclass
class FrameSet:
    """Frames in memory. ``N`` frames, ``C`` captions.

    images: uint8 ``[N, H, W, 3]`` RGB; labels: bool ``[N, C]``; state: int ``[N]``
    (row of ``labels.jsonl``); camera: str ``[N]``; source: str ``[N]``
    ("random"/"expert").
    """

    images: np.ndarray
    labels: np.ndarray
    state: np.ndarray
    camera: np.ndarray
    source: np.ndarray
    captions: list[str]
    root: Path | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def cameras(self) -> list[str]:
        return sorted(set(self.camera.tolist()))

    @property
    def n_states(self) -> int:
        return len(np.unique(self.state))

    def subset(self, mask: np.ndarray) -> FrameSet:
        mask = np.asarray(mask)
        return FrameSet(
            self.images[mask],
            self.labels[mask],
            self.state[mask],
            self.camera[mask],
            self.source[mask],
            list(self.captions),
            self.root,
        )

    def first_states(self, n_states: int) -> FrameSet:
        """The frames of the first ``n_states`` states (for training-set-size sweeps)."""
        keep = np.unique(self.state)[:n_states]
        return self.subset(np.isin(self.state, keep))

    def positives(self) -> dict[str, int]:
        """Caption -> number of frames where it holds."""
        return {c: int(n) for c, n in zip(self.captions, self.labels.sum(axis=0))}

    def state_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """``(state ids [S], labels [S, C])``: one row per state (labels are per state)."""
        ids, first = np.unique(self.state, return_index=True)
        return ids, self.labels[first]


def concat_frames(*sets: FrameSet) -> FrameSet:
    """One :class:`FrameSet` of several (same captions and frame size).

    State ids are renumbered so states of different sets never merge (the second
    set's ids start after the first's largest id, and so on).
    """
    if not sets:
        raise ValueError("no frame sets to concatenate")
    if len(sets) == 1:
        return sets[0]
    captions = list(sets[0].captions)
    for other in sets[1:]:
        if list(other.captions) != captions:
            raise DatasetError("frame sets to concatenate label different captions")
        if other.images.shape[1:] != sets[0].images.shape[1:]:
            raise DatasetError(
                f"frame sets differ in frame size: {sets[0].images.shape[1:]} vs "
                f"{other.images.shape[1:]}"
            )
    states, offset = [], 0
    for fs in sets:
        states.append(fs.state + offset)
        offset += int(fs.state.max()) + 1 if len(fs.state) else 0
    return FrameSet(
        np.concatenate([fs.images for fs in sets]),
        np.concatenate([fs.labels for fs in sets]),
        np.concatenate(states),
        np.concatenate([fs.camera for fs in sets]),
        np.concatenate([fs.source for fs in sets]),
        captions,
        sets[0].root,
    )


def load_frames(
    root: str | Path,
    captions: Sequence[str] | None = None,
    *,
    cameras: Sequence[str] | None = None,
    max_states: int | None = None,
) -> FrameSet:
    """Load a dataset folder. ``captions`` default to the dataset's own (meta.json order).

    Every requested caption must be labelled in ``labels.jsonl``; a caption the dataset
    does not know raises :class:`DatasetError` (a new relation needs its truth computed
    when rendering).
    """
    root = Path(root)
    meta_path, labels_path = root / "meta.json", root / "labels.jsonl"
    if not meta_path.is_file() or not labels_path.is_file():
        raise DatasetError(
            f"{root}: not a captioner dataset (needs meta.json and labels.jsonl; render one "
            "with `grounded-clip render --out DIR`)"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    captions = list(captions) if captions is not None else list(meta["captions"])
    if not captions:
        raise DatasetError("no captions to load")
    images, labels, states, cams, sources = [], [], [], [], []
    with open(labels_path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh):
            if max_states is not None and line_no >= max_states:
                break
            record = json.loads(line)
            truth = record["captions"]
            missing = [c for c in captions if c not in truth]
            if missing:
                raise DatasetError(
                    f"{labels_path}: state {record['index']} has no label for {missing[:3]}; "
                    f"labelled captions are e.g. {list(truth)[:3]}"
                )
            row = [bool(truth[c]) for c in captions]
            for camera, rel in sorted(record["images"].items()):
                if cameras is not None and camera not in cameras:
                    continue
                image = cv2.imread(str(root / rel), cv2.IMREAD_COLOR)
                if image is None:
                    raise DatasetError(f"{root / rel}: unreadable image")
                images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
                labels.append(row)
                states.append(int(record["index"]))
                cams.append(camera)
                sources.append(record.get("source", "unknown"))
    if not images:
        raise DatasetError(f"{root}: no frames (cameras={cameras})")
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise DatasetError(f"{root}: frames of different sizes {sorted(shapes)}")
    return FrameSet(
        np.stack(images),
        np.asarray(labels, dtype=bool).reshape(len(images), len(captions)),
        np.asarray(states, dtype=np.int64),
        np.asarray(cams),
        np.asarray(sources),
        captions,
        root,
    )


def reset_fingerprints(root: str | Path) -> set[tuple]:
    """Object positions (mm) of every episode's reset state in a dataset.

    The dataset records no episode seed; two datasets share an episode only if they
    share a reset layout, so disjoint fingerprints show that a split is held out.
    """
    prints = set()
    with open(Path(root) / "labels.jsonl", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if record["step"] == 0:
                prints.add(
                    tuple(
                        (name, *(round(v * 1000) for v in pos))
                        for name, pos in sorted(record["positions"].items())
                    )
                )
    return prints


def read_dataset_meta(root: str | Path) -> dict | None:
    """The ``meta.json`` of a rendered dataset folder, or None when it is missing or
    unreadable (an interrupted render: the caller renders again)."""
    meta_path = Path(root) / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def dataset_complete(root: str | Path, n: int, seed: int, expert_fraction: float) -> bool:
    """True when ``root`` already holds a dataset rendered with these settings."""
    meta = read_dataset_meta(root)
    if meta is None:
        return False
    settings = meta.get("settings", {})
    return (
        meta.get("n_states") == n
        and settings.get("seed") == seed
        and abs(float(settings.get("expert_fraction", -1)) - expert_fraction) < 1e-9
    )


def render_dataset(
    root: str | Path,
    n: int,
    *,
    seed: int,
    world: str = "tabletop",
    expert_fraction: float = 0.85,
    cameras: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Render ``n`` labelled states into ``root`` unless an identical dataset is there."""
    from ..tabletop.dataset import generate_dataset

    root = Path(root)
    if dataset_complete(root, n, seed, expert_fraction):
        return root
    # meta.json is written last by generate_dataset: a dataset without it is partial.
    (root / "meta.json").unlink(missing_ok=True)
    generate_dataset(
        root,
        n,
        world=world,
        seed=seed,
        expert_fraction=expert_fraction,
        cameras=list(cameras) if cameras else None,
        progress=progress,
    )
    return root

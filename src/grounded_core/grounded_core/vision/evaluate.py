"""Quality of a captioner on held-out frames: per-caption precision/recall and confusions.

MISSION B2 judges each caption independently against its threshold, so quality is a
per-caption binary table (support, TP, FP, FN, precision, recall, F1) — at the
*frame* level (each camera alone) and at the *state* level (the cameras of a state
fused). The confusion summary says, for each caption's false positives, which
captions actually held in those states (e.g. "red on blue" fired while "blue on red"
held) and how many misses coincided with another caption firing.

Targets (issue 6): precision >= 0.95 and recall >= 0.80 per caption at the shipped
thresholds; :func:`meets_targets` checks a table against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .captioner import Captioner
from .data import FrameSet

__all__ = [
    "PRECISION_TARGET",
    "RECALL_TARGET",
    "EvalReport",
    "average_precision",
    "confusion_summary",
    "evaluate",
    "meets_targets",
    "per_caption_metrics",
]

PRECISION_TARGET = 0.95
RECALL_TARGET = 0.80
NONE_TRUE = "(no caption true)"


def per_caption_metrics(
    scores: np.ndarray, labels: np.ndarray, thresholds: Sequence[float], captions: Sequence[str]
) -> dict[str, dict]:
    """Caption -> {support, tp, fp, fn, tn, precision, recall, f1, threshold}.

    Precision is ``None`` when nothing was detected, recall ``None`` without positives.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels, dtype=bool)
    predicted = scores >= np.asarray(thresholds, dtype=np.float64)[None, :]
    out = {}
    for j, caption in enumerate(captions):
        p, y = predicted[:, j], labels[:, j]
        tp, fp = int((p & y).sum()), int((p & ~y).sum())
        fn, tn = int((~p & y).sum()), int((~p & ~y).sum())
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        if precision is None or recall is None:
            f1 = None
        else:
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[caption] = {
            "support": int(y.sum()),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "threshold": float(np.asarray(thresholds)[j]),
        }
    return out


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the precision-recall curve of one caption (threshold-free quality)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if not labels.any():
        return None
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision_at_k = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at_k[hits].mean())


def confusion_summary(predicted: np.ndarray, labels: np.ndarray, captions: Sequence[str]) -> dict:
    """For each caption: what was true when it fired wrongly, and what fired when it was missed."""
    predicted = np.asarray(predicted, dtype=bool)
    labels = np.asarray(labels, dtype=bool)
    summary = {}
    for j, caption in enumerate(captions):
        fp_rows = np.flatnonzero(predicted[:, j] & ~labels[:, j])
        fn_rows = np.flatnonzero(~predicted[:, j] & labels[:, j])
        true_when_fp: dict[str, int] = {}
        for r in fp_rows:
            truths = [captions[k] for k in np.flatnonzero(labels[r])] or [NONE_TRUE]
            for t in truths:
                true_when_fp[t] = true_when_fp.get(t, 0) + 1
        fired_when_fn: dict[str, int] = {}
        for r in fn_rows:
            for k in np.flatnonzero(predicted[r] & ~labels[r]):
                fired_when_fn[captions[k]] = fired_when_fn.get(captions[k], 0) + 1
        summary[caption] = {
            "false_positives": len(fp_rows),
            "true_instead": dict(sorted(true_when_fp.items(), key=lambda kv: -kv[1])),
            "misses": len(fn_rows),
            "fired_instead": dict(sorted(fired_when_fn.items(), key=lambda kv: -kv[1])),
        }
    return summary


def meets_targets(
    table: dict[str, dict], precision: float = PRECISION_TARGET, recall: float = RECALL_TARGET
) -> dict[str, bool]:
    """Caption -> whether precision >= target and recall >= target (None counts as a miss
    of the target, except precision None with no positives and no detections)."""
    out = {}
    for caption, row in table.items():
        p_ok = row["precision"] is not None and row["precision"] >= precision
        if row["precision"] is None and row["support"] == 0:
            p_ok = True
        r_ok = row["recall"] is not None and row["recall"] >= recall
        out[caption] = bool(p_ok and r_ok)
    return out


@dataclass
class EvalReport:
    """Held-out quality of a captioner (see the module docstring)."""

    captions: list[str]
    thresholds: list[float]
    fusion: str
    frames: dict[str, dict]  # camera ("all" = every frame) -> per-caption table
    states: dict[str, dict]  # per-caption table, cameras fused
    confusion: dict[str, dict]  # at the state level
    exact_match: float  # share of states whose whole detected set is right
    n_frames: int
    n_states: int
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "captions": self.captions,
            "thresholds": self.thresholds,
            "fusion": self.fusion,
            "n_frames": self.n_frames,
            "n_states": self.n_states,
            "exact_match_states": self.exact_match,
            "states": self.states,
            "frames": self.frames,
            "confusion": self.confusion,
            "targets_met_states": meets_targets(self.states),
            **self.extra,
        }

    def markdown(self, level: str = "states") -> str:
        table = self.states if level == "states" else self.frames[level]
        return format_table(table)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_table(table: dict[str, dict]) -> str:
    """Markdown per-caption table with a target column."""
    ok = meets_targets(table)
    lines = [
        "| caption | threshold | support | TP | FP | FN | precision | recall | targets |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for caption, row in table.items():
        lines.append(
            f"| {caption} | {row['threshold']:.3f} | {row['support']} | {row['tp']} | "
            f"{row['fp']} | {row['fn']} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | "
            f"{'yes' if ok[caption] else 'NO'} |"
        )
    return "\n".join(lines)


def evaluate(
    captioner: Captioner,
    frames: FrameSet,
    *,
    fusion: str | None = None,
    thresholds: Sequence[float] | None = None,
    scores: np.ndarray | None = None,
) -> EvalReport:
    """Per-caption precision/recall of ``captioner`` on ``frames`` at its thresholds.

    ``scores``: precomputed per-frame scores ``[N, C]`` (to evaluate several fusions or
    threshold sets without scoring again).
    """
    from .train import state_scores

    captions = list(frames.captions)
    fusion = fusion or captioner.fusion
    if thresholds is None:
        thresholds = [captioner.threshold_map().get(c, captioner.gamma) for c in captions]
    thresholds = [float(t) for t in thresholds]
    if scores is None:
        scores = captioner.score(frames.images, captions)
    by_camera = {"all": per_caption_metrics(scores, frames.labels, thresholds, captions)}
    for camera in frames.cameras:
        rows = frames.camera == camera
        by_camera[camera] = per_caption_metrics(
            scores[rows], frames.labels[rows], thresholds, captions
        )
    fused, labels = state_scores(scores, frames, fusion)
    predicted = fused >= np.asarray(thresholds)[None, :]
    return EvalReport(
        captions=captions,
        thresholds=thresholds,
        fusion=fusion,
        frames=by_camera,
        states=per_caption_metrics(fused, labels, thresholds, captions),
        confusion=confusion_summary(predicted, labels, captions),
        exact_match=float((predicted == labels).all(axis=1).mean()),
        n_frames=len(frames),
        n_states=len(labels),
    )

"""The learning-curve plot of the demo's policy (from its Collect & Infer checkpoint)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_learning_curve(curve: list[dict], path: Path, title: str) -> Path:
    """Greedy success rate (and BC loss) against collection primitives; written atomically."""
    if not curve:
        raise ValueError("the policy checkpoint records no learning curve")
    steps = [p["env_steps"] for p in curve]
    success = [p["success"] for p in curve]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(steps, success, "o-", color="tab:blue", label="greedy success (held-out layouts)")
    ax.set_xlabel("environment primitives collected")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    losses = [p.get("loss") for p in curve]
    if all(isinstance(v, (int, float)) for v in losses):
        ax2 = ax.twinx()
        ax2.plot(steps, losses, "s--", color="tab:gray", label="BC loss")
        ax2.set_ylabel("behaviour-cloning loss")
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    else:
        ax.legend(loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}-{os.getpid()}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path

"""Captioner checkpoints: atomic folders that open_clip itself can also load.

A checkpoint is one folder written by :class:`grounded_core.data.CheckpointManager`
(temporary folder + rename, ``LATEST`` pointer, ``manifest.json`` written last)::

    step_00000420/
        open_clip_config.json        {"model_cfg", "preprocess_cfg"}: open_clip's
        open_clip_model.safetensors  ``local-dir:`` format (create_model("local-dir:..."))
        training_state.pt            optimiser/scheduler/RNG state (resume; optional)
        manifest.json                format, step, versions, the training config, and
                                     "captioner": arch, portable model_cfg, captions,
                                     thresholds, score mode, fusion, gamma, complete,
                                     validation metrics

A run folder holds ``checkpoints/`` (this layout) and the rendered ``data/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.checkpoints import (
    LATEST_FILE,
    MANIFEST_FILE,
    CheckpointError,
    CheckpointManager,
    read_manifest,
    software_versions,
)
from .models import load_local_dir, portable_model_cfg, resolve_model_cfg

__all__ = [
    "CHECKPOINT_KIND",
    "WEIGHTS_FILE",
    "checkpoint_manager",
    "find_checkpoint",
    "load_checkpoint_model",
    "save_captioner_checkpoint",
]

CHECKPOINT_KIND = "grounded_clip_captioner"
WEIGHTS_FILE = "open_clip_model.safetensors"
OPEN_CLIP_CONFIG = "open_clip_config.json"
TRAINING_STATE = "training_state.pt"
PREFIX = "step_"
VERSION_PACKAGES = ("torch", "open_clip_torch", "numpy", "transformers", "grounded_core")


def checkpoint_manager(run_dir: str | Path, keep: int = 2) -> CheckpointManager:
    return CheckpointManager(Path(run_dir) / "checkpoints", keep=keep, prefix=PREFIX)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from itself, its checkpoint root or its run folder."""
    path = Path(path)
    if (path / MANIFEST_FILE).is_file():
        return path
    for root in (path, path / "checkpoints"):
        if (root / LATEST_FILE).is_file() or any(root.glob(f"{PREFIX}*")):
            latest = CheckpointManager(root, prefix=PREFIX).latest()
            if latest is not None:
                return latest
    raise CheckpointError(
        f"{path}: no captioner checkpoint (expected manifest.json, or checkpoints/ with "
        f"{PREFIX}* folders)"
    )


def save_captioner_checkpoint(
    manager: CheckpointManager,
    step: int,
    model: torch.nn.Module,
    model_cfg: dict,
    captioner_info: dict,
    *,
    config: dict | None = None,
    training_state: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write one checkpoint atomically; return its folder."""
    from safetensors.torch import save_file

    preprocess_cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})

    def write(tmp: Path) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        # open_clip reads this file for local-dir:; the sentence-encoder path is this
        # machine's (our loader re-resolves it from the portable copy in the manifest).
        (tmp / OPEN_CLIP_CONFIG).write_text(
            json.dumps(
                {"model_cfg": resolve_model_cfg(model_cfg), "preprocess_cfg": preprocess_cfg},
                indent=2,
            ),
            encoding="utf-8",
        )
        if training_state is not None:
            torch.save(training_state, tmp / TRAINING_STATE)

    info = dict(captioner_info)
    info["model_cfg"] = portable_model_cfg(model_cfg)
    manifest = {
        "kind": CHECKPOINT_KIND,
        "captioner": info,
        "config": config or {},
        "versions": software_versions(VERSION_PACKAGES),
        **(extra or {}),
    }
    return manager.save(step, write, manifest)


def load_checkpoint_model(checkpoint: str | Path):
    """``(model, tokenizer, manifest)`` of a checkpoint folder."""
    checkpoint = Path(checkpoint)
    manifest = read_manifest(checkpoint)
    if manifest.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(
            f"{checkpoint}: not a captioner checkpoint (kind={manifest.get('kind')!r})"
        )
    info = manifest.get("captioner", {})
    if not (checkpoint / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"{checkpoint}: missing {WEIGHTS_FILE}")
    model, tokenizer = load_local_dir(checkpoint, info["model_cfg"])
    return model, tokenizer, manifest


def load_training_state(checkpoint: str | Path) -> dict | None:
    path = Path(checkpoint) / TRAINING_STATE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)

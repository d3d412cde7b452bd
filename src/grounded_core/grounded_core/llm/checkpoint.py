"""Checkpoint metadata of the LLM policies.

A policy checkpoint is a Hugging Face model directory (``config.json``, weights,
tokenizer files) plus one ``<head>.safetensors`` per head and ``grounded_policy.json``:
the format version, the policy class, the model kind, the hidden size, every head's
shape and the batching knob. :func:`read_metadata` reads and checks it; a directory
without it is a plain model directory (heads are then initialised fresh).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import CheckpointError

__all__ = ["FORMAT_VERSION", "METADATA_FILE", "read_metadata"]

METADATA_FILE = "grounded_policy.json"
FORMAT_VERSION = 1


def read_metadata(directory: str | os.PathLike) -> dict | None:
    """The ``grounded_policy.json`` of a checkpoint directory, or ``None``."""
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"unreadable {path}: {exc}") from exc
    version = meta.get("format") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported format {version!r}")
    return meta

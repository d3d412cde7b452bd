"""Saving, loading and shipping policy weights (MISSION B4, B5).

Two forms, both made of safetensors weights + the JSON :class:`PolicyConfig`:

* a checkpoint folder written atomically through
  :class:`~grounded_core.data.checkpoints.CheckpointManager`
  (``policy.safetensors``, ``policy_config.json``, manifest with the weights
  version and the caller's fields): :func:`save_policy` / :func:`load_policy`;
* a :class:`PolicyBlob` in memory (``format``, ``config_json``, ``data``,
  ``sha256``, ``version``), the fields of the ``PolicyWeights`` ROS message:
  :func:`to_bytes` / :func:`from_bytes` (the SHA-256 is checked on load). The
  Collect & Infer trainer ships new weights to its actors this way too, so the
  in-process actors and ROS actors receive exactly the same bytes.

The text encoder is not part of the weights: it is a frozen pretrained model
named by the configuration (``text_encoder``), loaded by the receiver.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import load_file, save_file
from safetensors.torch import save as st_save

from ..data.checkpoints import CheckpointError, CheckpointManager, read_manifest
from .config import PolicyConfig
from .model import GoalPolicy
from .text import TextEncoder

WEIGHTS_FORMAT = "safetensors"
WEIGHTS_FILE = "policy.safetensors"
CONFIG_FILE = "policy_config.json"


@dataclass(frozen=True)
class PolicyBlob:
    """Serialised weights: what a ``PolicyWeights`` message carries."""

    format: str
    config_json: str
    data: bytes
    sha256: str
    version: int = 0


def _state_dict(policy: GoalPolicy) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}


def to_bytes(policy: GoalPolicy, version: int = 0) -> PolicyBlob:
    """Serialise ``policy`` (weights + config) for a message or another process."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version!r}")
    data = st_save(_state_dict(policy))
    return PolicyBlob(
        format=WEIGHTS_FORMAT,
        config_json=policy.config.to_json(),
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        version=version,
    )


def from_bytes(
    blob: PolicyBlob, text_encoder: TextEncoder | None = None, into: GoalPolicy | None = None
) -> GoalPolicy:
    """Rebuild a policy from a :class:`PolicyBlob` (or load it into ``into``).

    Raises ``ValueError`` for an unknown format, a SHA-256 mismatch, a config that
    does not validate, or weights that do not fit the config.
    """
    if blob.format != WEIGHTS_FORMAT:
        raise ValueError(f"unsupported weights format {blob.format!r} (expected {WEIGHTS_FORMAT})")
    digest = hashlib.sha256(blob.data).hexdigest()
    if digest != blob.sha256:
        raise ValueError(
            f"weights SHA-256 mismatch: got {digest[:12]}..., expected {blob.sha256[:12]}..."
        )
    config = PolicyConfig.from_json(blob.config_json)
    try:
        state = st_load(blob.data)
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"unreadable safetensors data: {exc}") from exc
    if into is not None:
        if into.config != config:
            raise ValueError("weights were made for a different policy configuration")
        policy = into
    else:
        policy = GoalPolicy(config, text_encoder=text_encoder)
    _load_state(policy, state)
    policy.eval()
    return policy


def _load_state(policy: GoalPolicy, state: dict[str, torch.Tensor]) -> None:
    try:
        policy.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"weights do not fit the policy configuration: {exc}") from exc


def write_policy_files(policy: GoalPolicy, directory: str | Path) -> None:
    """Write ``policy.safetensors`` and ``policy_config.json`` into ``directory``."""
    directory = Path(directory)
    save_file(_state_dict(policy), str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(
        json.dumps(policy.config.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def read_policy_files(directory: str | Path, text_encoder: TextEncoder | None = None) -> GoalPolicy:
    """Inverse of :func:`write_policy_files`."""
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise CheckpointError(f"{directory}: missing {CONFIG_FILE} or {WEIGHTS_FILE}")
    config = PolicyConfig.from_json(config_path.read_text(encoding="utf-8"))
    policy = GoalPolicy(config, text_encoder=text_encoder)
    _load_state(policy, load_file(str(weights_path)))
    policy.eval()  # loaded for acting; a trainer switches to train() itself
    return policy


def save_policy(
    policy: GoalPolicy,
    root: str | Path,
    version: int,
    extra: dict | None = None,
    keep: int = 2,
    write_extra=None,
) -> Path:
    """Atomic checkpoint folder ``root/policy_<version>``; returns its path.

    ``extra`` goes into the manifest; ``write_extra(tmp_dir)`` may add files
    (e.g. optimiser state) to the same atomic folder.
    """
    manager = CheckpointManager(root, keep=keep, prefix="policy_")

    def write(tmp: Path) -> None:
        write_policy_files(policy, tmp)
        if write_extra is not None:
            write_extra(tmp)

    manifest = {"policy": {"version": int(version), "config": policy.config.to_dict()}}
    if extra:
        manifest["extra"] = extra
    return manager.save(int(version), write, manifest)


def load_policy(
    path: str | Path, text_encoder: TextEncoder | None = None
) -> tuple[GoalPolicy, dict]:
    """Load a checkpoint folder (or the newest one under a root); returns (policy, manifest)."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        latest = CheckpointManager(path, prefix="policy_").latest()
        if latest is None:
            raise CheckpointError(f"{path}: no policy checkpoint found")
        path = latest
    manifest = read_manifest(path)
    return read_policy_files(path, text_encoder), manifest

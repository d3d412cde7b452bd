"""Data on disk shared by the learners: atomic, versioned training checkpoints.

- ``checkpoints``: :class:`CheckpointManager` writes one directory per checkpoint
  (files + ``manifest.json``) atomically and keeps a ``LATEST`` pointer, so a learner
  killed at any moment resumes from the last complete checkpoint (MISSION A4).
"""

from .checkpoints import (
    LATEST_FILE,
    MANIFEST_FILE,
    CheckpointError,
    CheckpointManager,
    file_digest,
    read_manifest,
    software_versions,
    verify_checkpoint,
)

__all__ = [
    "LATEST_FILE",
    "MANIFEST_FILE",
    "CheckpointError",
    "CheckpointManager",
    "file_digest",
    "read_manifest",
    "software_versions",
    "verify_checkpoint",
]

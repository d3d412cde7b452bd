"""Atomic, self-describing training checkpoints (MISSION A4: "resume exactly").

Layout under a checkpoint root (e.g. ``runs/glam/<run>/checkpoints``)::

    update_00000012/          one directory per checkpoint, named by its step
        manifest.json         format, step, creation time, the caller's fields
                              (config, counters, versions) and every file's size and
                              SHA-256, written last
        ...                   whatever the caller's ``write(tmp_dir)`` put there
    LATEST                    name of the newest complete checkpoint

Why this shape: a learner can be killed at any instant (Ctrl-C, a ROS cancel, the
machine going away). Files are first written into a hidden temporary sibling
(``.tmp-update_00000012-<random>``), flushed to disk, and the directory is renamed to
its final name only when complete; ``LATEST`` is then replaced atomically
(``os.replace``). A reader therefore only ever sees complete checkpoints; a stale
temporary directory left by a killed writer is ignored and cleaned up by the next
:meth:`CheckpointManager.save`. If ``LATEST`` is missing or points at a removed
directory, :meth:`CheckpointManager.latest` falls back to the highest complete step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

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

MANIFEST_FILE = "manifest.json"
LATEST_FILE = "LATEST"
FORMAT_VERSION = 1
_TMP_PREFIX = ".tmp-"
# Files larger than this are listed with their size only: hashing multi-GB LLM weights
# at every update would cost more than the update itself on a big model.
DEFAULT_CHECKSUM_LIMIT = 256 * 1024 * 1024
_RESERVED_KEYS = frozenset({"format", "step", "created_utc", "files"})


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, corrupt or of an unknown format."""


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def software_versions(packages: Iterable[str] = ("torch", "transformers", "numpy")) -> dict:
    """Python and package versions, recorded in manifests for reproducibility."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _fsync_tree(root: Path) -> None:
    # Data must be on disk before the rename publishes the directory; otherwise a power
    # loss could leave a published checkpoint with empty files.
    for path in sorted(root.rglob("*")):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem allows fsync on directories
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_manifest(checkpoint: str | os.PathLike) -> dict:
    """The manifest of a checkpoint directory; :class:`CheckpointError` if unusable."""
    path = Path(checkpoint) / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointError(f"{checkpoint}: no {MANIFEST_FILE}; not a (complete) checkpoint")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise CheckpointError(
            f"{path}: unsupported checkpoint format {found!r} (this version reads {FORMAT_VERSION})"
        )
    return manifest


def verify_checkpoint(checkpoint: str | os.PathLike) -> dict:
    """Check every file listed in the manifest (size, and SHA-256 where recorded).

    Returns the manifest; raises :class:`CheckpointError` on the first mismatch.
    """
    root = Path(checkpoint)
    manifest = read_manifest(root)
    for rel, info in manifest.get("files", {}).items():
        path = root / rel
        if not path.is_file():
            raise CheckpointError(f"{root}: missing file {rel}")
        if path.stat().st_size != info.get("bytes"):
            raise CheckpointError(f"{root}: {rel} has the wrong size")
        if info.get("sha256") and file_digest(path) != info["sha256"]:
            raise CheckpointError(f"{root}: {rel} does not match its SHA-256")
    return manifest


class CheckpointManager:
    """Writes and finds the checkpoints of one run under ``root``.

    Args:
        root: directory holding the checkpoints (created on first save).
        keep: how many of the newest checkpoints to keep (0 = keep all).
        prefix: directory name prefix; the step follows, zero-padded.
        checksum_limit: files up to this many bytes get a SHA-256 in the manifest.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        keep: int = 2,
        prefix: str = "update_",
        checksum_limit: int = DEFAULT_CHECKSUM_LIMIT,
    ):
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError(f"keep must be a non-negative integer (0 = all), got {keep!r}")
        if not prefix or not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
            raise ValueError(f"prefix must be a non-empty [A-Za-z0-9_-] string, got {prefix!r}")
        self.root = Path(root)
        self.keep = keep
        self.prefix = prefix
        self.checksum_limit = int(checksum_limit)
        self._pattern = re.compile(rf"{re.escape(prefix)}(\d+)")

    def path_for(self, step: int) -> Path:
        """Directory of the checkpoint of ``step``."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        return self.root / f"{self.prefix}{step:08d}"

    def step_of(self, checkpoint: str | os.PathLike) -> int | None:
        """The step encoded in a checkpoint directory name, or ``None``."""
        match = self._pattern.fullmatch(Path(checkpoint).name)
        return int(match.group(1)) if match else None

    # --- writing ------------------------------------------------------------------

    def save(self, step: int, write: Callable[[Path], None], manifest: dict) -> Path:
        """Write the checkpoint of ``step`` atomically and point ``LATEST`` at it.

        ``write(tmp_dir)`` puts the payload files into a fresh directory; ``manifest``
        (JSON-serialisable) is stored with ``format``, ``step``, ``created_utc`` and the
        file list added. An existing checkpoint of the same step (e.g. written by a run
        that was resumed from an earlier one) is replaced.
        """
        target = self.path_for(step)
        reserved = sorted(set(manifest) & _RESERVED_KEYS)
        if reserved:
            raise ValueError(f"manifest keys {reserved} are reserved (written by save())")
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_tmp()
        tmp = self.root / f"{_TMP_PREFIX}{target.name}-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        try:
            write(tmp)
            if (tmp / MANIFEST_FILE).exists():
                raise ValueError(f"write() must not create {MANIFEST_FILE}; it is written last")
            full = {
                "format": FORMAT_VERSION,
                "step": step,
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **manifest,
                "files": self._describe_files(tmp),
            }
            (tmp / MANIFEST_FILE).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
            _fsync_tree(tmp)
            if target.exists():
                old = self.root / f"{_TMP_PREFIX}{target.name}-old-{uuid.uuid4().hex[:12]}"
                os.rename(target, old)
                os.rename(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, target)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _write_text_atomic(self.root / LATEST_FILE, target.name + "\n")
        self.prune()
        return target

    def _describe_files(self, root: Path) -> dict:
        files = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            size = path.stat().st_size
            files[path.relative_to(root).as_posix()] = {
                "bytes": size,
                "sha256": file_digest(path) if size <= self.checksum_limit else None,
            }
        return files

    def _remove_stale_tmp(self) -> None:
        # Left by a writer killed mid-save; one run has one writer, so nothing else owns them.
        for path in self.root.glob(f"{_TMP_PREFIX}*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def prune(self) -> list[Path]:
        """Delete all but the ``keep`` newest checkpoints (never the one ``LATEST`` names)."""
        if self.keep == 0:
            return []
        complete = self.checkpoints()
        pointed = self._pointed()
        removed = []
        for path in complete[: -self.keep]:
            if pointed is not None and path.name == pointed:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        return removed

    # --- reading ------------------------------------------------------------------

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints (those with a manifest), oldest step first."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            step = self.step_of(path)
            if step is not None and path.is_dir() and (path / MANIFEST_FILE).is_file():
                found.append((step, path))
        return [path for _, path in sorted(found)]

    def _pointed(self) -> str | None:
        latest = self.root / LATEST_FILE
        try:
            name = latest.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return name or None

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or ``None`` if there is none."""
        name = self._pointed()
        if name is not None:
            path = self.root / name
            if self.step_of(path) is not None and (path / MANIFEST_FILE).is_file():
                return path
        complete = self.checkpoints()
        return complete[-1] if complete else None

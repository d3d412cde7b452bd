"""Where converted/generated models are cached, and writing directories atomically.

The cache root is ``$GROUNDED_CACHE_DIR`` or ``~/.cache/grounded_agent/``. Everything
written there (the embedded tiny models, the safetensors copy of SmolLM2) and every
policy checkpoint goes through :func:`atomic_directory`: files are written to a
temporary sibling directory that is renamed onto the target only when complete, so a
process killed half-way never leaves a directory that looks valid but is broken (a
later run simply starts again). Concurrent builders race benignly: the first rename
wins and the others discard their copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CACHE_ENV", "atomic_directory", "default_cache_dir"]

CACHE_ENV = "GROUNDED_CACHE_DIR"

# Prefix of temporary directories; stale ones (from killed processes) are ignored.
_TMP_PREFIX = ".tmp-"


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: ``cache_dir`` if given, else ``$GROUNDED_CACHE_DIR``, else
    ``~/.cache/grounded_agent``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "grounded_agent"


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``target`` when the block succeeds.

    Args:
        target: the final directory.
        replace: if ``target`` already exists, replace it (checkpoints). Otherwise an
            existing ``target`` wins and the new copy is discarded (caches, where two
            processes may build the same thing).

    On an exception the temporary directory is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{_TMP_PREFIX}{target.name}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not target.exists():
        try:
            os.rename(tmp, target)
            return
        except OSError:
            if not target.exists():
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    if not replace:
        # Someone else finished the same build first: theirs is as good as ours.
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # Replace an existing directory: move it aside, move the new one in, drop the old.
    # Between the two renames the target is briefly absent, never half-written.
    old = target.parent / f"{_TMP_PREFIX}{target.name}-old-{uuid.uuid4().hex[:12]}"
    os.rename(target, old)
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)

"""The default captioner: trained once on this machine, cached, then loaded.

No CLIP weights can be downloaded here (PLATFORM), so the default captioner is the
project's small open_clip architecture trained in-domain. The first call of
:func:`default_captioner` renders the dataset and trains it (progress bars; about
11 minutes of one CPU core, longer on a busy machine; bench/results/captioner.md); the
finished checkpoint is cached and every later call loads it in about a second.

Cache: ``$GROUNDED_CACHE_DIR`` or ``~/.cache/grounded_agent/``, then
``captioner/<arch>-<config fingerprint>/`` (a changed training recipe trains a new
model instead of loading a stale one; changed threshold/fusion settings only
recalibrate the cached one). ``$GROUNDED_CAPTIONER`` may name a checkpoint to use
instead. A lock file keeps two processes from training the same model at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .config import CaptionerConfig, load_captioner_config

__all__ = ["CACHE_ENV", "CHECKPOINT_ENV", "cache_dir", "default_captioner", "default_run_dir"]

CACHE_ENV = "GROUNDED_CACHE_DIR"
CHECKPOINT_ENV = "GROUNDED_CAPTIONER"
#: Measured end to end (render 4800 states, train, calibrate) on the 2-core development
#: machine with the recipe of issue 6 (1500 + 800 relation training states, 1000 + 1500
#: validation, 1152 steps): 11.0 CPU-min (single-threaded, so about that much wall time on
#: an idle machine); 37 min wall while the 2 cores averaged a load of 7.5. (Previous
#: recipe, 300 + 300 validation states: 7.9 CPU-min.)
EXPECTED_MINUTES = "11-13"


def cache_dir() -> Path:
    """Root of grounded_agent's caches."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "grounded_agent"


def default_run_dir(config: CaptionerConfig | None = None) -> Path:
    config = config or CaptionerConfig()
    return cache_dir() / "captioner" / f"{config.arch}-{config.fingerprint()}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def default_captioner(
    config: CaptionerConfig | str | Path | None = None,
    *,
    device: str = "cpu",
    train_if_missing: bool = True,
    progress: bool = True,
):
    """Load the cached default captioner, training it first if it is missing.

    ``config``: a :class:`CaptionerConfig`, a YAML path, or ``None`` for the shipped
    recipe.
    """
    from ..data.checkpoints import read_manifest
    from .captioner import Captioner
    from .checkpoint import find_checkpoint
    from .train import train_captioner

    override = os.environ.get(CHECKPOINT_ENV)
    if override:
        return Captioner.from_pretrained(override, device=device)
    if config is None or isinstance(config, (str, Path)):
        config = load_captioner_config(config)
    run_dir = default_run_dir(config)
    with _locked(run_dir.parent / f"{run_dir.name}.lock"):
        try:
            checkpoint = find_checkpoint(run_dir)
            manifest = read_manifest(checkpoint)
            complete = manifest.get("captioner", {}).get("complete", False)
        except ValueError:
            checkpoint, manifest, complete = None, {}, False
        if complete:
            stored = manifest.get("config", {})
            wanted = config.calibration_settings()
            if {k: stored.get(k) for k in wanted} != wanted:
                # Same weights, other threshold/fusion settings: recalibrate (seconds).
                from .train import calibrate_checkpoint

                checkpoint = calibrate_checkpoint(checkpoint, **wanted).checkpoint
        if not complete:
            if not train_if_missing:
                raise FileNotFoundError(
                    f"no trained default captioner in {run_dir}; run `grounded-clip train "
                    "--default` or call default_captioner() with train_if_missing=True"
                )
            n_states = (
                config.n_train + config.n_val + config.n_train_relations + config.n_val_relations
            )
            print(
                f"grounded-clip: no trained default captioner in {run_dir}; rendering "
                f"{n_states} tabletop states and training "
                f"{config.arch} ({config.epochs} epochs). This happens once and takes about "
                f"{EXPECTED_MINUTES} minutes on an idle 2-core CPU (longer on a busy one); an "
                "interrupted run resumes.",
                file=sys.stderr,
                flush=True,
            )
            result = train_captioner(
                config, run_dir, progress=progress, log=lambda m: print(m, file=sys.stderr)
            )
            checkpoint = result.checkpoint
    return Captioner.from_pretrained(checkpoint, device=device)

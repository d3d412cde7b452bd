"""The demo's trained models: find a fitting policy checkpoint or train one; the captioner.

Policy: the committed checkpoint (``policy_checkpoint``, e.g.
``models/policy_stack_red_on_blue``) when it was trained on the demo's task; else
the newest checkpoint of the demo's training cache (``policy_run_dir/<task>``);
else (or with ``retrain``) Collect & Infer trains one there now
(``grounded_core.learning.collect_infer``, bounded by its ``max_env_steps``, with a
progress bar). A cached run that stopped early resumes where it stopped.

Captioner: ``default`` is ``grounded_core.vision.default_captioner()``, which loads
the cached default or trains it first (progress bars, ~7-15 min on 2 CPU cores).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .config import DemoConfig


@dataclass(frozen=True)
class PolicyChoice:
    path: Path  # checkpoint folder (or root) the policy node loads
    source: str  # "committed", "cache" or "trained"
    curve: list[dict]  # learning curve points of its training
    train_s: float = 0.0


def checkpoint_task(path: Path) -> tuple[str | None, list[dict]]:
    """(task, learning curve) recorded in a Collect & Infer checkpoint, or (None, [])."""
    from grounded_core.data.checkpoints import read_manifest
    from grounded_core.policy.io import CONFIG_FILE

    if not path.exists():
        return None, []
    folder = path
    if not (path / CONFIG_FILE).is_file():
        from grounded_core.data.checkpoints import CheckpointManager

        folder = CheckpointManager(path, prefix="policy_").latest()
        if folder is None:
            return None, []
    trainer = read_manifest(folder).get("extra", {}).get("trainer", {})
    return trainer.get("task"), list(trainer.get("curve", []))


def train_policy(config: DemoConfig, run_dir: Path, *, progress: bool = True) -> float:
    """Collect & Infer on the demo's task into ``run_dir`` (resumes); returns wall seconds."""
    import torch

    from grounded_core.learning.collect_infer import CollectInfer, load_collect_infer_config

    cfg = load_collect_infer_config(config.path(config.train_config_file))
    if config.train_overrides:
        cfg = cfg.replace(**config.train_overrides)
    torch.set_num_threads(1)
    start = time.monotonic()
    print(
        f"demo: training the policy for '{config.task}' with Collect & Infer "
        f"(judge {cfg.judge}, budget {cfg.max_env_steps} primitives"
        + (f", stops at {cfg.stop_success} greedy success" if cfg.stop_success else "")
        + f") into {run_dir}",
        flush=True,
    )
    with CollectInfer(cfg, run_dir, progress=progress) as ci:
        report = ci.run_task(config.task)
    seconds = time.monotonic() - start
    print(
        f"demo: policy trained in {seconds:.0f} s: final greedy success "
        f"{report.final_success:.2f} after {report.env_steps} primitives",
        flush=True,
    )
    return seconds


def ensure_policy(config: DemoConfig, *, retrain: bool = False, progress: bool = True):
    """The policy checkpoint for the demo's task (see the module docstring)."""
    committed = config.path(config.policy_checkpoint) if config.policy_checkpoint else None
    if committed is not None and not retrain:
        task, curve = checkpoint_task(committed)
        if task == config.task:
            return PolicyChoice(committed, "committed", curve)
    run_dir = config.path(config.policy_run_dir) / config.task
    ckpt_root = run_dir / "tasks" / config.task / "checkpoints"
    if retrain and run_dir.exists():
        shutil.rmtree(run_dir)
    task, curve = checkpoint_task(ckpt_root)
    if task == config.task and curve and _finished(config, curve):
        return PolicyChoice(ckpt_root, "cache", curve)
    seconds = train_policy(config, run_dir, progress=progress)
    task, curve = checkpoint_task(ckpt_root)
    if task != config.task:
        raise RuntimeError(f"training wrote no policy checkpoint under {ckpt_root}")
    return PolicyChoice(ckpt_root, "trained", curve, seconds)


def _finished(config: DemoConfig, curve: list[dict]) -> bool:
    """True when a cached run reached its stop criterion or spent its budget."""
    from grounded_core.learning.collect_infer import load_collect_infer_config

    cfg = load_collect_infer_config(config.path(config.train_config_file))
    if config.train_overrides:
        cfg = cfg.replace(**config.train_overrides)
    last = curve[-1]
    if cfg.stop_success is not None and last.get("success", 0.0) >= cfg.stop_success:
        return True
    return last.get("env_steps", 0) >= cfg.max_env_steps


def ensure_captioner(config: DemoConfig, *, progress: bool = True) -> str:
    """The captioner model argument for the launch; trains the default one if missing."""
    if config.caption_source != "topic":
        return config.captioner_model
    if config.captioner_model != "default":
        if not config.path(config.captioner_model).exists():
            raise FileNotFoundError(f"captioner checkpoint {config.captioner_model} not found")
        return str(config.path(config.captioner_model))
    from grounded_core.vision.default import default_captioner, default_run_dir

    if not (default_run_dir() / "checkpoints").exists():
        print(
            "demo: no cached default captioner: training it now (renders the dataset, "
            "trains and calibrates; ~7-15 min on 2 CPU cores, once)",
            flush=True,
        )
    start = time.monotonic()
    default_captioner(progress=progress)
    if time.monotonic() - start > 5:
        print(f"demo: captioner ready after {time.monotonic() - start:.0f} s", flush=True)
    return "default"

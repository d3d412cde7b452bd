"""In-domain contrastive training of the captioner (MISSION B2).

Data: frames rendered by the tabletop world (random and scripted-expert states, every
enabled camera) plus stack-then-clutter states (:mod:`.relations`: more and more varied
"X on Y" positives), each labelled with the set of captions true in its state. The
validation splits are rendered with another seed, i.e. from unseen episodes.

Loss — pairwise sigmoid (SigLIP-style), generalised to several true captions per
frame. Every (frame, caption) pair of the batch x caption set is a binary problem::

    z_ij   = s * cos(img_i, txt_j) + b          (s = exp(logit_scale), b = logit_bias)
    y_ij   = 1 if caption j holds in frame i's state else 0
    loss   = -1/B * sum_ij [ y_ij log sigmoid(z_ij) + (1 - y_ij) log sigmoid(-z_ij) ]

SigLIP pairs an image with the texts of the batch (positives on the diagonal); here the
texts are the fixed caption set and positives come from the state, so a frame may
have zero, one or several positives (a softmax/InfoNCE loss could not express that).
``sigmoid(z)`` is then a calibrated probability, to which the threshold applies.

Thresholds: per caption, the lowest threshold >= ``min_threshold`` from which on the
validation precision stays >= ``target_precision`` (the paper prefers precision: a
false reward hurts more than a missed one), precision being checked only where at
least ``min_detections`` validation states score above the threshold (fewer cannot
resolve the target: one negative among fewer than 20 detections is below 0.95, so a
single high-scoring negative would otherwise set the threshold); captions whose
validation data never reach it keep gamma. ``threshold_mode="global"`` uses gamma
(0.8) for all.

Training shows a progress bar, writes atomic checkpoints (every ``checkpoint_every``
steps and every epoch) and resumes from the latest one; a finished run's checkpoint
is marked ``complete`` and later calls return it without training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.checkpoints import CheckpointManager, read_manifest
from .captioner import Captioner, fuse_scores
from .checkpoint import (
    checkpoint_manager,
    load_training_state,
    save_captioner_checkpoint,
)
from .config import CALIBRATION_FIELDS, CaptionerConfig, default_captions
from .data import FrameSet, concat_frames, load_frames, render_dataset
from .models import ImagePreprocessor, create_model, load_local_dir

__all__ = [
    "CALIBRATION_RULE",
    "TrainResult",
    "calibrate_checkpoint",
    "calibrate_on_validation",
    "calibrate_thresholds",
    "pairwise_sigmoid_loss",
    "prepare_data",
    "prepare_datasets",
    "train_captioner",
]


class TrainingError(RuntimeError):
    """A run cannot be resumed or produced no usable model."""


def pairwise_sigmoid_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    labels: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor | None,
) -> torch.Tensor:
    """Multi-positive SigLIP loss (see the module docstring). Features are normalised."""
    logits = logit_scale.exp() * image_features @ text_features.T
    if logit_bias is not None:
        logits = logits + logit_bias
    loss = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="sum")
    return loss / image_features.shape[0]


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p) - math.log1p(-p)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


#: Recorded in manifests: how the shipped thresholds were chosen.
CALIBRATION_RULE = (
    "lowest stable threshold with val precision >= target where >= min_detections states "
    "score above it, logit-midpoint margin"
)


def calibrate_thresholds(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    target_precision: float = 0.95,
    min_threshold: float = 0.5,
    fallback: float = 0.8,
    min_detections: int = 1,
) -> tuple[np.ndarray, list[dict]]:
    """Per-caption thresholds from validation scores ``[N, C]`` and labels ``[N, C]``.

    For each caption: the lowest candidate threshold t >= ``min_threshold`` such that the
    precision of ``score >= t'`` is >= ``target_precision`` for every candidate t' >= t
    (so a lucky dip does not set it) at which at least ``min_detections`` validation
    scores are >= t' (above fewer detections precision cannot resolve the target: with
    fewer than ``1 / (1 - target)`` of them one negative alone fails it, so a single
    high-scoring negative would set the threshold). If even the candidate with
    ``min_detections`` detections misses the target, the search stops there as before.
    Candidates are the positive frames' scores. The
    threshold is then moved halfway (in logit space) down to the next lower validation
    score, never below ``min_threshold``: the validation decisions are unchanged, but
    unseen positives slightly below the lowest validation positive are not lost to a
    zero margin. Returns the thresholds and one info dict per caption (reached,
    validation precision/recall).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    thresholds, info = [], []
    for j in range(scores.shape[1]):
        s, y = scores[:, j], labels[:, j]
        candidates = np.unique(s[y & (s >= min_threshold)])[::-1]  # descending
        chosen = None
        for t in candidates:
            predicted = s >= t
            precision = (predicted & y).sum() / max(predicted.sum(), 1)
            if precision < target_precision and predicted.sum() >= min_detections:
                break
            if precision >= target_precision:
                chosen = float(t)
        reached = chosen is not None
        if reached:
            below = s[s < chosen]
            if len(below):
                t = float(_sigmoid((_logit(chosen) + _logit(float(below.max()))) / 2))
                chosen = max(t, min_threshold)
        t = chosen if reached else max(fallback, min_threshold)
        predicted = s >= t
        tp = int((predicted & y).sum())
        info.append(
            {
                "threshold": t,
                "reached_target": reached,
                "val_support": int(y.sum()),
                "val_precision": tp / max(int(predicted.sum()), 1) if predicted.any() else None,
                "val_recall": tp / int(y.sum()) if y.any() else None,
            }
        )
        thresholds.append(t)
    return np.array(thresholds), info


@dataclass
class TrainResult:
    """What :func:`train_captioner` produced."""

    checkpoint: Path
    steps: int
    train_seconds: float
    trained_now: bool  # False: a complete checkpoint existed already (cache hit)
    thresholds: dict[str, float]
    val_metrics: dict

    def load(self, device: str = "cpu") -> Captioner:
        return Captioner.from_pretrained(self.checkpoint, device=device)


def prepare_data(
    config: CaptionerConfig, data_dir: str | Path, progress: bool = True
) -> tuple[Path, Path]:
    """Render (or reuse) the train and validation datasets of ``config``."""
    data_dir = Path(data_dir)
    cameras = list(config.cameras) or None
    train = render_dataset(
        data_dir / f"train-s{config.train_seed}-n{config.n_train}",
        config.n_train,
        seed=config.train_seed,
        world=config.world,
        expert_fraction=config.expert_fraction,
        cameras=cameras,
        progress=progress,
    )
    val = render_dataset(
        data_dir / f"val-s{config.val_seed}-n{config.n_val}",
        config.n_val,
        seed=config.val_seed,
        world=config.world,
        expert_fraction=config.expert_fraction,
        cameras=cameras,
        progress=progress,
    )
    return train, val


def relation_dirs(config: CaptionerConfig, data_dir: str | Path) -> tuple[Path | None, Path | None]:
    """Folders of the stack-then-clutter train/validation additions (None when off)."""
    data_dir = Path(data_dir)
    steps = config.clutter_steps
    train = (
        data_dir / f"relations-s{config.train_seed}-n{config.n_train_relations}-c{steps}"
        if config.n_train_relations
        else None
    )
    val = (
        data_dir / f"relations-s{config.val_seed}-n{config.n_val_relations}-c{steps}"
        if config.n_val_relations
        else None
    )
    return train, val


def prepare_datasets(
    config: CaptionerConfig, data_dir: str | Path, progress: bool = True
) -> tuple[list[Path], list[Path]]:
    """Every dataset folder of ``config``: ``([train, +relations], [val, +relations])``.

    The tabletop splits (:func:`prepare_data`) plus, when ``n_*_relations`` > 0, the
    relation-rich stack-then-clutter states of :mod:`~grounded_core.vision.relations`
    rendered with the same seeds (train and validation stay unseen episodes).
    """
    from .relations import render_relation_dataset

    train, val = prepare_data(config, data_dir, progress=progress)
    train_sets, val_sets = [train], [val]
    cameras = list(config.cameras) or None
    for seed, n, folder, sets in zip(
        (config.train_seed, config.val_seed),
        (config.n_train_relations, config.n_val_relations),
        relation_dirs(config, data_dir),
        (train_sets, val_sets),
    ):
        if folder is not None:
            sets.append(
                render_relation_dataset(
                    folder,
                    n,
                    seed=seed,
                    world=config.world,
                    clutter_steps=config.clutter_steps,
                    cameras=cameras,
                    progress=progress,
                )
            )
    return train_sets, val_sets


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # Norms, biases, embeddings and the logit scale/bias are not decayed (CLIP recipe).
        if param.ndim < 2 or "embedding" in name or name.startswith("logit_"):
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return f


def _shift_batch(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (edge-replicated borders)."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x.float(), (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    out = torch.empty_like(x, dtype=torch.float32)
    for i in range(n):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        out[i] = padded[i, :, dy : dy + h, dx : dx + w]
    return out


def _as_frames(data, captions, cameras) -> FrameSet:
    if isinstance(data, (list, tuple)):
        return concat_frames(*(_as_frames(d, captions, cameras) for d in data))
    if isinstance(data, FrameSet):
        if list(data.captions) != list(captions):
            idx = [data.captions.index(c) for c in captions]
            data = FrameSet(
                data.images,
                data.labels[:, idx],
                data.state,
                data.camera,
                data.source,
                list(captions),
                data.root,
            )
        if cameras:
            data = data.subset(np.isin(data.camera, list(cameras)))
        return data
    return load_frames(data, captions, cameras=list(cameras) or None)


def state_scores(
    scores: np.ndarray, frames: FrameSet, fusion: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-state fused scores ``[S, C]`` and labels ``[S, C]`` from per-frame scores."""
    ids, inverse = np.unique(frames.state, return_inverse=True)
    cameras = frames.cameras
    fused, labels = [], []
    for k in range(len(ids)):
        rows = np.flatnonzero(inverse == k)
        if fusion == "none":  # first camera only
            order = sorted(rows, key=lambda r: cameras.index(frames.camera[r]))
            rows = np.array(order[:1])
        fused.append(fuse_scores(scores[rows], "mean" if fusion == "none" else fusion))
        labels.append(frames.labels[rows[0]])
    return np.array(fused), np.array(labels, dtype=bool)


def train_captioner(
    config: CaptionerConfig,
    run_dir: str | Path,
    *,
    train_data: FrameSet | str | Path | None = None,
    val_data: FrameSet | str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or resume, or return the cached result of) a captioner run in ``run_dir``.

    ``train_data``/``val_data``: a :class:`FrameSet`, a dataset folder, a list of those
    (concatenated), or ``None`` to render them into ``run_dir/data``: the tabletop
    splits plus the stack-then-clutter ones (:func:`prepare_datasets`; sizes and seeds
    from ``config``).
    """
    run_dir = Path(run_dir)
    manager = checkpoint_manager(run_dir)
    captions = list(config.captions) or default_captions(config.world)
    latest = manager.latest() if resume else None
    if latest is not None:
        manifest = read_manifest(latest)
        stored = manifest.get("config", {})
        if stored.get("fingerprint") != config.fingerprint():
            raise TrainingError(
                f"{run_dir} holds a run of another configuration (fingerprint "
                f"{stored.get('fingerprint')} != {config.fingerprint()}); use another run "
                "folder or resume=False"
            )
        info = manifest.get("captioner", {})
        if info.get("complete"):
            calibrated = {k: stored.get(k) for k in CALIBRATION_FIELDS}
            if calibrated != config.calibration_settings():
                # Same weights, other thresholds/fusion: recalibrate instead of retraining.
                return calibrate_checkpoint(latest, val_data, **config.calibration_settings())
            return TrainResult(
                latest,
                int(manifest["step"]),
                0.0,
                False,
                dict(zip(info["captions"], info["thresholds"])),
                info.get("val_metrics", {}),
            )

    previous_threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        return _train(
            config, run_dir, manager, captions, latest, train_data, val_data, progress, log
        )
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    config, run_dir, manager, captions, latest, train_data, val_data, progress, log
) -> TrainResult:
    if train_data is None or val_data is None:
        train_dir, val_dir = prepare_datasets(config, run_dir / "data", progress=progress)
        train_data = train_data if train_data is not None else train_dir
        val_data = val_data if val_data is not None else val_dir
    train = _as_frames(train_data, captions, config.cameras)
    val = _as_frames(val_data, captions, config.cameras)

    # ---- model (fresh, or the latest checkpoint's weights)
    state = None
    if latest is not None:
        info = read_manifest(latest)["captioner"]
        model, tokenizer = load_local_dir(latest, info["model_cfg"])
        model_cfg = info["model_cfg"]
        state = load_training_state(latest)
        if state is None:
            raise TrainingError(f"{latest}: no training state to resume from")
        log(f"resuming {run_dir} from step {state['step']}")
    else:
        model, tokenizer, model_cfg = create_model(config.arch, config.pretrained, seed=config.seed)
    if config.lock_text:
        model.lock_text_tower(0, freeze_layer_norm=True)
    preprocess = ImagePreprocessor.for_model(model)
    x_train = preprocess.resize_uint8(train.images)
    y_train = torch.as_tensor(train.labels, dtype=torch.float32)
    tokens = tokenizer(captions)

    n = len(x_train)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(
        _param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.98), eps=1e-6
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(config.warmup_steps, total_steps)
    )
    generator = torch.Generator().manual_seed(config.seed)
    step = 0
    elapsed_before = cpu_before = 0.0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        step = int(state["step"])
        elapsed_before = float(state.get("train_seconds", 0.0))
        cpu_before = float(state.get("train_cpu_seconds", 0.0))

    base_info = {
        "arch": config.arch,
        "captions": captions,
        "score_mode": "sigmoid",
        "fusion": config.fusion,
        "gamma": config.gamma,
        "threshold_mode": config.threshold_mode,
        "image_size": list(preprocess.size),
        "cameras": train.cameras,
        "train_frames": n,
        "train_states": train.n_states,
        "val_frames": len(val),
        "train_positives": train.positives(),
        "torch_threads": torch.get_num_threads(),
    }
    config_record = {**config.to_dict(), "fingerprint": config.fingerprint()}

    def save(step_now: int, seconds: float, loss_avg: float | None) -> Path:
        training_state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "step": step_now,
            "train_seconds": seconds,
            "train_cpu_seconds": cpu_before + time.process_time() - cpu_start,
        }
        return save_captioner_checkpoint(
            manager,
            step_now,
            model,
            model_cfg,
            {**base_info, "complete": False, "thresholds": None, "last_loss": loss_avg},
            config=config_record,
            training_state=training_state,
        )

    from tqdm import tqdm

    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc="captioner training",
        unit="step",
        disable=not progress,
    )
    running, count = 0.0, 0
    last_saved = step
    try:
        while step < total_steps:
            epoch, offset = divmod(step, steps_per_epoch)
            # The order of an epoch depends only on (seed, epoch): a resumed run skips the
            # batches it already trained on and sees the same data as an uninterrupted one.
            order = np.random.default_rng(config.seed * 1000 + epoch).permutation(n)
            for b in range(offset, steps_per_epoch):
                idx = torch.as_tensor(order[b * config.batch_size : (b + 1) * config.batch_size])
                x = _shift_batch(x_train[idx], config.shift_pixels, generator)
                x = preprocess.normalize(x)
                image_features = model.encode_image(x, normalize=True)
                text_features = model.encode_text(tokens, normalize=True)
                loss = pairwise_sigmoid_loss(
                    image_features, text_features, y_train[idx], model.logit_scale, model.logit_bias
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                with torch.no_grad():  # keep the temperature in a sane range (CLIP clamps it)
                    model.logit_scale.clamp_(0.0, math.log(100.0))
                step += 1
                running += loss.item()
                count += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{running / count:.3f}")
                # Every checkpoint_every steps, and at the end of an epoch unless the last
                # checkpoint is recent (tiny datasets have epochs of a few steps).
                end_of_epoch = b == steps_per_epoch - 1
                due = step % config.checkpoint_every == 0 or (
                    end_of_epoch and step - last_saved >= config.checkpoint_every // 4
                )
                if due and step < total_steps:
                    last_saved = step
                    model.eval()
                    save(step, elapsed_before + time.perf_counter() - start, running / count)
                    model.train()
                    running, count = 0.0, 0
    finally:
        bar.close()
    model.eval()
    train_seconds = elapsed_before + time.perf_counter() - start
    train_cpu_seconds = cpu_before + time.process_time() - cpu_start

    # ---- thresholds on the validation split (unseen episodes)
    thresholds, val_metrics = calibrate_on_validation(model, tokenizer, captions, val, config)
    final = save_captioner_checkpoint(
        manager,
        step,
        model,
        model_cfg,
        {
            **base_info,
            "complete": True,
            "thresholds": [float(t) for t in thresholds],
            "train_seconds": train_seconds,
            "train_cpu_seconds": train_cpu_seconds,
            "val_metrics": val_metrics,
            "calibration_rule": CALIBRATION_RULE,
            "logit_scale": float(model.logit_scale.detach().exp()),
            "logit_bias": float(model.logit_bias.detach()) if model.logit_bias is not None else 0.0,
        },
        config=config_record,
        training_state=None,
    )
    log(f"captioner trained: {step} steps in {train_seconds:.0f} s -> {final}")
    return TrainResult(
        final, step, train_seconds, True, dict(zip(captions, map(float, thresholds))), val_metrics
    )


def calibrate_on_validation(
    model: torch.nn.Module,
    tokenizer,
    captions: list[str],
    val: FrameSet,
    config: CaptionerConfig,
) -> tuple[np.ndarray, dict]:
    """Thresholds (``config.threshold_mode``) and validation metrics of a trained model."""
    from .evaluate import per_caption_metrics

    captioner = Captioner(
        model, tokenizer, captions, None, fusion=config.fusion, gamma=config.gamma
    )
    val_scores = captioner.score(val.images)
    if config.fusion != "none" and len(val.cameras) > 1:
        cal_scores, cal_labels = state_scores(val_scores, val, config.fusion)
        level = "states (fused)"
    else:
        cal_scores, cal_labels = val_scores, val.labels
        level = "frames"
    thresholds, cal_info = calibrate_thresholds(
        cal_scores,
        cal_labels,
        target_precision=config.target_precision,
        min_threshold=config.min_threshold,
        fallback=config.gamma,
        min_detections=config.min_detections,
    )
    if config.threshold_mode == "global":
        thresholds = np.full(len(captions), config.gamma)
    val_metrics = {
        "thresholds_on": level,
        "calibration": dict(zip(captions, cal_info)),
        "at_shipped_thresholds": per_caption_metrics(cal_scores, cal_labels, thresholds, captions),
    }
    return thresholds, val_metrics


def calibrate_checkpoint(
    checkpoint: str | Path,
    val_data: FrameSet | str | Path | None = None,
    **changes,
) -> TrainResult:
    """Recompute a trained checkpoint's thresholds (same weights), e.g. for another
    ``target_precision``/``min_threshold``/``fusion`` (``changes`` override the stored
    config). The checkpoint is rewritten atomically; ``val_data`` defaults to the run's
    rendered validation split.
    """
    from .checkpoint import find_checkpoint, load_checkpoint_model

    checkpoint = find_checkpoint(checkpoint)
    model, tokenizer, manifest = load_checkpoint_model(checkpoint)
    info = dict(manifest["captioner"])
    if not info.get("complete"):
        raise TrainingError(f"{checkpoint}: training is not finished; nothing to calibrate")
    stored = {k: v for k, v in manifest.get("config", {}).items() if k != "fingerprint"}
    base = CaptionerConfig.from_dict(stored, source=str(checkpoint))
    config = base.with_overrides(**changes)
    if val_data is None:
        data_dir = checkpoint.parent.parent / "data"
        val_data = [data_dir / f"val-s{config.val_seed}-n{config.n_val}"]
        relations = relation_dirs(config, data_dir)[1]
        if relations is not None:
            val_data.append(relations)
    captions = list(info["captions"])
    val = _as_frames(val_data, captions, config.cameras)
    thresholds, val_metrics = calibrate_on_validation(model, tokenizer, captions, val, config)
    info.update(
        thresholds=[float(t) for t in thresholds],
        val_metrics=val_metrics,
        fusion=config.fusion,
        threshold_mode=config.threshold_mode,
        calibration_rule=CALIBRATION_RULE,
        calibrated_with={
            k: getattr(config, k)
            for k in (
                "target_precision",
                "min_threshold",
                "min_detections",
                "fusion",
                "threshold_mode",
            )
        },
    )
    manager = CheckpointManager(
        checkpoint.parent, keep=0, prefix=checkpoint.name.rstrip("0123456789")
    )
    step = int(manifest["step"])
    extra = {
        k: v
        for k, v in manifest.items()
        if k
        not in ("format", "step", "created_utc", "files", "kind", "captioner", "config", "versions")
    }
    path = save_captioner_checkpoint(
        manager,
        step,
        model,
        info["model_cfg"],
        info,
        config={**config.to_dict(), "fingerprint": config.fingerprint()},
        training_state=None,
        extra=extra,
    )
    return TrainResult(
        path,
        step,
        float(info.get("train_seconds", 0.0)),
        False,
        dict(zip(captions, map(float, thresholds))),
        val_metrics,
    )

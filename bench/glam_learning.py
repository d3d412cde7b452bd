"""Learning benchmark (issue 4): the tiny T5 trained from scratch by GLAM's PPO.

For each level (default GoToRedBallNoDists and GoToRedBall) a :class:`GlamTrainer`
trains the embedded tiny T5 (random weights, BabyAI-Text word tokenizer) and, every
``--eval-every`` env steps, the current policy is evaluated on the same fixed held-out
episodes (seed 10**9 + j, actions sampled as in training, MISSION A6) with a Wilson
interval. The uniformly random agent is evaluated on the same episodes as the baseline.
Target: >= 0.8 success on GoToRedBallNoDists within 200k env steps.

Settings differ from the paper's (MISSION A4) where the tiny model needs it; they are
recorded in the results: lr 5e-4 (the paper's 1e-6 is for a pretrained 780M model),
16 envs x 32 steps and 2 epochs per update (CPU time), dropout 0, an entropy
coefficient of 0.05 (a from-scratch scorer starts biased towards the one-token actions
"drop" and "toggle", which are useless on these levels; with 0.01 it collapsed onto them
in trials), and ``model.output_scale=0.1`` (a from-scratch model's token logits start
~sqrt(d_model) wide, which makes the softmax over the summed action log-probs one-hot;
see ``policy_loading.scale_output_layer``).

The run is resumable (``--resume``): each level trains in ``<runs>/<level>`` with the
trainer's checkpoints, and the curve so far is kept in ``<runs>/<level>/curve.json``.
Results (bench/results/glam_learning.{json,md,png}) are rewritten after every
update, so an interrupted run still reports the curve up to where it got. Levels can run
as separate processes (``--levels GoToRedBall``); each keeps the others' results.

    .venv/bin/python bench/glam_learning.py --env-steps 200000 --max-minutes 120
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, RESULTS_DIR, git_commit, machine_info, write_results

from grounded_core.learning.evaluation import (
    DEFAULT_EVAL_SEED,
    PolicyAgent,
    RandomAgent,
    evaluate,
)
from grounded_core.learning.glam_config import load_config
from grounded_core.learning.glam_trainer import GlamTrainer

NAME = "glam_learning"
TARGET = {"GoToRedBallNoDists": 0.8}
TARGET_STEPS = 200_000
# Tiny-model settings (see the module docstring); everything else is the paper's.
BENCH_OVERRIDES = [
    "model.name=tiny-t5",
    "model.dropout=0",
    "model.output_scale=0.1",
    "ppo.num_envs=16",
    "ppo.steps_per_env=32",
    "ppo.epochs=2",
    "ppo.minibatch_size=64",
    "ppo.lr=5e-4",
    "ppo.entropy_coef=0.05",
    "train.progress=false",
    "train.keep_checkpoints=1",
    "train.torch_threads=1",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", default=["GoToRedBallNoDists", "GoToRedBall"])
    parser.add_argument("--env-steps", type=int, default=TARGET_STEPS, help="per level")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="wall-clock budget per level (0 = none); the curve stops there",
    )
    parser.add_argument(
        "--eval-every", type=int, default=10_240, help="env steps between evaluations"
    )
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--random-episodes", type=int, default=1000)
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs" / "bench" / NAME)
    parser.add_argument("--resume", action="store_true", help="continue the runs in --runs")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="section.key=value",
        help="extra config overrides (after the benchmark's)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the results files from the curves in --runs (no training)",
    )
    return parser.parse_args(argv)


def eval_policy(trainer: GlamTrainer, level: str, episodes: int) -> dict:
    # Its own sampling generator and eval mode: training's RNG streams are untouched.
    agent = PolicyAgent(trainer.policy, seed=0, name="glam")
    result = evaluate(agent, level, episodes=episodes, seed=DEFAULT_EVAL_SEED, num_envs=32)
    return {"env_steps": trainer.env_steps, "update": trainer.update_count, **result.to_dict()}


def load_curve(path: Path) -> dict:
    if path.is_file():
        return json.loads(path.read_text())
    return {"train": [], "eval": [], "random": None, "wall_s": 0.0}


def run_level(level: str, args, state: dict, write) -> dict:
    run_dir = args.runs / level
    config = load_config(None, [*BENCH_OVERRIDES, f"env.level={level}", *args.set])
    resume = args.resume and (run_dir / "checkpoints").is_dir()
    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run must not mix with an old one's checkpoints
    trainer = GlamTrainer(config, run_dir, resume=resume)
    curve_path = run_dir / "curve.json"
    curve = (
        load_curve(curve_path)
        if resume
        else {"train": [], "eval": [], "random": None, "wall_s": 0.0}
    )
    if resume:
        # Drop points logged after the checkpoint we resumed from.
        curve["train"] = [p for p in curve["train"] if p["env_steps"] <= trainer.env_steps]
        curve["eval"] = [p for p in curve["eval"] if p["env_steps"] <= trainer.env_steps]
    state["levels"][level] = {"config": config.to_dict(), "curve": curve}
    if curve["random"] is None:
        random_result = evaluate(
            RandomAgent(seed=0),
            level,
            episodes=args.random_episodes,
            seed=DEFAULT_EVAL_SEED,
            num_envs=64,
        )
        curve["random"] = random_result.to_dict()
        print(f"[{level}] random baseline: {random_result.summary()}", flush=True)

    def save() -> None:
        curve_path.write_text(json.dumps(curve) + "\n")
        write()

    if not curve["eval"]:
        curve["eval"].append(eval_policy(trainer, level, args.eval_episodes))
        save()
    started = time.perf_counter() - curve["wall_s"]
    next_eval = (trainer.env_steps // args.eval_every + 1) * args.eval_every
    deadline = started + args.max_minutes * 60 if args.max_minutes else math.inf
    stop_reason = "env-step budget reached"

    def on_update(report) -> None:
        nonlocal next_eval
        metrics = report.metrics
        curve["train"].append(
            {
                "env_steps": report.env_steps,
                "update": report.update,
                "success_rate": metrics.get("charts/success_rate"),
                "episode_length": metrics.get("charts/episode_length"),
                "window_success_rate": report.success_rate,
                "entropy": metrics["losses/entropy"],
                "approx_kl": metrics["policy/approx_kl"],
                "explained_variance": metrics["losses/explained_variance"],
                "env_steps_per_s": metrics["charts/env_steps_per_s"],
            }
        )
        curve["wall_s"] = time.perf_counter() - started
        print(
            f"[{level}] update {report.update} steps {report.env_steps} "
            f"success(window) {report.success_rate:.3f} "
            f"entropy {metrics['losses/entropy']:.3f} kl {metrics['policy/approx_kl']:.4f} "
            f"sps {metrics['charts/env_steps_per_s']:.1f} wall {curve['wall_s'] / 60:.1f} min",
            flush=True,
        )
        if report.env_steps >= next_eval:
            curve["eval"].append(eval_policy(trainer, level, args.eval_episodes))
            last = curve["eval"][-1]
            print(
                f"[{level}] eval at {report.env_steps}: {last['success_rate']:.3f} "
                f"[{last['ci_low']:.3f}, {last['ci_high']:.3f}]",
                flush=True,
            )
            next_eval += args.eval_every
            curve["wall_s"] = time.perf_counter() - started
        save()

    def should_stop() -> bool:
        nonlocal stop_reason
        if time.perf_counter() > deadline:
            stop_reason = f"wall-clock budget of {args.max_minutes:g} min reached"
            return True
        return False

    remaining = args.env_steps - trainer.env_steps
    if remaining > 0:
        trainer.train(env_steps=remaining, on_update=on_update, should_stop=should_stop)
    if curve["eval"][-1]["env_steps"] != trainer.env_steps:
        curve["eval"].append(eval_policy(trainer, level, args.eval_episodes))
    curve["wall_s"] = time.perf_counter() - started
    curve["stop_reason"] = stop_reason
    trainer.close()
    save()
    return curve


def summarise(state: dict) -> tuple[dict, str]:
    lines = [
        "# GLAM learning: tiny T5 from scratch, PPO (issue 4)",
        "",
        f"Commit {state['commit']}; {state['machine']['cpu_model']}, "
        f"{state['machine']['cpu_count']} CPUs shared with other jobs; torch threads "
        f"{state['threads']}.",
        "",
        "Settings (beyond the paper's PPO values): "
        + ", ".join(f"`{o}`" for o in state["overrides"]),
        "",
        "| level | env steps trained | wall (min) | env steps/s | last eval (at steps): success "
        "[95% CI] | best eval | first eval >= target | random [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level, data in state["levels"].items():
        curve = data["curve"]
        evals = curve["eval"]
        if not evals:
            continue
        final = evals[-1]
        best = max(e["success_rate"] for e in evals)
        target = TARGET.get(level)
        reached = next(
            (e["env_steps"] for e in evals if target and e["success_rate"] >= target), None
        )
        sps = [p["env_steps_per_s"] for p in curve["train"]]
        steps = max([final["env_steps"], *(p["env_steps"] for p in curve["train"])])
        random = curve.get("random") or {}
        lines.append(
            f"| {level} | {steps} | {curve['wall_s'] / 60:.1f} | "
            f"{(sum(sps) / len(sps)) if sps else float('nan'):.1f} | "
            f"({final['env_steps']}): {final['success_rate']:.2f} "
            f"[{final['ci_low']:.2f}, {final['ci_high']:.2f}] | {best:.2f} | "
            f"{'n/a' if target is None else (reached if reached is not None else 'not reached')} | "
            f"{random.get('success_rate', float('nan')):.2f} "
            f"[{random.get('ci_low', float('nan')):.2f}, {random.get('ci_high', float('nan')):.2f}] |"
        )
    lines += [
        "",
        f"Evaluation: {state['eval_episodes']} held-out episodes (seed 10^9 + j), actions sampled "
        "from the policy as in training; random baseline over "
        f"{state['random_episodes']} episodes. Target: >= 0.8 on GoToRedBallNoDists within "
        f"{TARGET_STEPS} env steps. Plot: glam_learning.png.",
    ]
    for level, data in state["levels"].items():
        if "stop_reason" in data["curve"]:
            lines.append(f"- {level}: stopped because the {data['curve']['stop_reason']}.")
    return state, "\n".join(lines)


def plot(state: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [lv for lv, d in state["levels"].items() if d["curve"]["eval"]]
    if not levels:
        return
    fig, axes = plt.subplots(1, len(levels), figsize=(6 * len(levels), 4.2), squeeze=False)
    for ax, level in zip(axes[0], levels):
        curve = state["levels"][level]["curve"]
        train = [
            p
            for p in curve["train"]
            if p["window_success_rate"] is not None and not math.isnan(p["window_success_rate"])
        ]
        if train:
            ax.plot(
                [p["env_steps"] for p in train],
                [p["window_success_rate"] for p in train],
                color="tab:blue",
                alpha=0.45,
                label="training episodes (last 100)",
            )
        evals = curve["eval"]
        xs = [e["env_steps"] for e in evals]
        ys = [e["success_rate"] for e in evals]
        err = [
            [y - e["ci_low"] for y, e in zip(ys, evals)],
            [e["ci_high"] - y for y, e in zip(ys, evals)],
        ]
        ax.errorbar(
            xs,
            ys,
            yerr=err,
            fmt="o-",
            color="tab:blue",
            capsize=3,
            label=f"GLAM tiny T5, eval ({evals[0]['episodes']} ep., 95% CI)",
        )
        random = curve.get("random")
        if random:
            ax.axhline(
                random["success_rate"],
                color="tab:gray",
                linestyle="--",
                label=f"random ({random['success_rate']:.2f})",
            )
            ax.axhspan(random["ci_low"], random["ci_high"], color="tab:gray", alpha=0.15)
        if level in TARGET:
            ax.axhline(TARGET[level], color="tab:red", linestyle=":", label="target 0.8")
        ax.set_title(level)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("success rate")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    state = {
        "benchmark": NAME,
        "commit": git_commit(),
        "machine": machine_info(("torch", "transformers", "minigrid")),
        "threads": 1,
        "overrides": [*BENCH_OVERRIDES, *args.set],
        "env_steps_budget": args.env_steps,
        "max_minutes": args.max_minutes,
        "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes,
        "random_episodes": args.random_episodes,
        "levels": {},
    }

    def write() -> None:
        # Levels may run in separate processes (one per core): keep the other levels'
        # latest results from the file, this process owns only its own levels.
        existing = RESULTS_DIR / f"{NAME}.json"
        if existing.is_file():
            try:
                previous = json.loads(existing.read_text())
            except json.JSONDecodeError:
                previous = {}
            for level, data in previous.get("levels", {}).items():
                if level not in args.levels:
                    state["levels"][level] = data
        payload, markdown = summarise(state)
        write_results(NAME, payload, markdown)
        plot(state, RESULTS_DIR / f"{NAME}.png")

    for level in args.levels:
        if not args.report_only:
            run_level(level, args, state, write)
        elif (args.runs / level / "curve.json").is_file():
            config = yaml.safe_load((args.runs / level / "config.yaml").read_text())
            state["levels"][level] = {
                "config": config,
                "curve": load_curve(args.runs / level / "curve.json"),
            }
    write()
    print(summarise(state)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())

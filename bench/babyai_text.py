"""Throughput of BabyAI-Text: environment steps per second for N vectorised envs.

One function per measurement mode, registered in ``MODES``; each takes the parsed settings
and returns a dict of numbers. Today there is ``inprocess`` (``VectorBabyAITextEnv`` in
this Python process: minigrid step + A1 descriptions, with and without building GLAM's
A2 prompts). A ROS round-trip mode (the same loop through the BabyAI-Text node) is meant
to be added as another entry of ``MODES`` writing to the same result files.

    python bench/babyai_text.py                       # 32 envs, MixedTrainLocal
    python bench/babyai_text.py --num-envs 32 --steps 400 --repeats 5

Writes ``bench/results/babyai_text_<mode>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("grounded_core") is None:
    sys.path.insert(0, str(ROOT / "src" / "grounded_core"))

import minigrid  # noqa: E402
import numpy as np  # noqa: E402

from grounded_core.babyai_text import VectorBabyAITextEnv  # noqa: E402


def machine_info() -> dict:
    """Where the numbers come from."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        commit_id = commit.stdout.strip() if commit.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit_id = None
    return {
        "processor": platform.processor() or platform.machine(),
        "node": platform.node(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "minigrid": minigrid.__version__,
        "commit": commit_id,
    }


def _run_loop(vec: VectorBabyAITextEnv, steps: int, rng: np.random.Generator, prompts: bool):
    """Step all envs ``steps`` times with random actions; returns (seconds, episodes)."""
    vec.reset()
    episodes = 0
    start = time.perf_counter()
    for _ in range(steps):
        if prompts:
            vec.prompts()
        actions = rng.integers(0, 6, size=vec.num_envs)
        _, _, dones, _ = vec.step(actions)
        episodes += int(dones.sum())
    return time.perf_counter() - start, episodes


def bench_inprocess(args: argparse.Namespace) -> dict:
    """Env steps/s of VectorBabyAITextEnv in this process, without and with prompts."""
    results: dict = {}
    for label, prompts in (("env_only", False), ("with_prompts", True)):
        rates, episodes = [], 0
        for rep in range(args.repeats):
            vec = VectorBabyAITextEnv(args.level, args.num_envs, base_seed=args.seed + 1000 * rep)
            rng = np.random.default_rng(args.seed + rep)
            seconds, done = _run_loop(vec, args.steps, rng, prompts)
            rates.append(args.num_envs * args.steps / seconds)
            episodes += done
        results[label] = {
            "env_steps_per_s_median": statistics.median(rates),
            "env_steps_per_s_best": max(rates),
            "env_steps_per_s_all": rates,
            "vector_steps_per_s_median": statistics.median(rates) / args.num_envs,
            "episodes_finished": episodes,
        }
    return results


MODES: dict[str, Callable[[argparse.Namespace], dict]] = {"inprocess": bench_inprocess}


def _markdown(record: dict) -> str:
    m, s = record["machine"], record["settings"]
    lines = [
        f"# BabyAI-Text throughput ({record['mode']})",
        "",
        f"- date: {record['date']}",
        f"- machine: {m['processor']} / {m['node']}, {m['cpu_count']} CPUs, {m['platform']}",
        f"- python {m['python']}, numpy {m['numpy']}, minigrid {m['minigrid']}",
        f"- commit: {m['commit'] or 'none (uncommitted tree)'}",
        f"- settings: level {s['level']}, {s['num_envs']} envs x {s['steps']} steps, "
        f"{s['repeats']} repeats, seed {s['seed']}, random actions",
        "",
        "| measurement | env steps/s (median) | best | vector steps/s | episodes |",
        "|---|---|---|---|---|",
    ]
    for label, r in record["results"].items():
        lines.append(
            f"| {label} | {r['env_steps_per_s_median']:.0f} | {r['env_steps_per_s_best']:.0f} "
            f"| {r['vector_steps_per_s_median']:.1f} | {r['episodes_finished']} |"
        )
    lines += [
        "",
        "`env_only`: `VectorBabyAITextEnv.step` (minigrid step, A1 descriptions, auto-reset).",
        "`with_prompts`: the same plus `prompts()` (GLAM's A2 prompt for every env) each step.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="inprocess")
    parser.add_argument("--level", default="MixedTrainLocal")
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300, help="vector steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    record = {
        "benchmark": "babyai_text",
        "mode": args.mode,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "level": args.level,
            "num_envs": args.num_envs,
            "steps": args.steps,
            "repeats": args.repeats,
            "seed": args.seed,
            "actions": "uniform random over the 6 actions",
        },
        "results": MODES[args.mode](args),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"babyai_text_{args.mode}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(_markdown(record), encoding="utf-8")
    print(_markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Zero-shot success of SmolLM2-135M-Instruct on BabyAI-Text, against the random baseline.

MISSION A6 / issue 4: the pretrained LLM used as GLAM's policy *without* fine-tuning
(softmax over the summed log-probabilities of the 6 action texts, actions sampled as in
GLAM's tests, eval mode, fp32 by default) on GoToLocal and MixedTrainLocal, with a Wilson
95% interval, plus the uniformly random policy on the same episodes (episode ``j`` of
every agent is played on seed ``10**9 + j``; see
:mod:`grounded_core.learning.evaluation`, whose :func:`evaluate` plays the episodes).

SmolLM2 costs about one second of CPU per prompt (135M parameters x ~300-400 BPE tokens
per GLAM prompt; see ``bench/results/glam_scoring.md``), i.e. ~1 minute per episode that
runs to the step budget, so the LLM episodes are played in small chunks (``--chunk``
episodes, chunk ``c`` on seeds ``10**9 + c*chunk ...``; the chunk's sampling RNG is
seeded by its first episode index) and handed round-robin to the evaluations, and the
results files are rewritten after every chunk: the run can be stopped at any time (only
the chunk in progress is lost) and continued with ``--resume`` (possibly with another
``--chunk``: chunks only schedule the work). The episodes of completed chunks are
always episodes ``0..N-1`` of the evaluation, so no selection bias comes from stopping.

The MixedTrainLocal cells are also the in-distribution cells of the generalisation table
(``bench/glam_generalisation.py`` reads them from this script's JSON: same level, same
seeds).

    nohup python bench/glam_zero_shot.py --episodes 1000 > /tmp/zero_shot.log 2>&1 &
    python bench/glam_zero_shot.py --resume      # continue a stopped run

Writes ``bench/results/glam_zero_shot.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("grounded_core") is None:
    sys.path.insert(0, str(ROOT / "src" / "grounded_core"))

import torch  # noqa: E402
from common import RESULTS_DIR, git_commit, machine_info, write_results  # noqa: E402

from grounded_core.learning.evaluation import (  # noqa: E402
    DEFAULT_EVAL_SEED,
    EvalResult,
    PolicyAgent,
    RandomAgent,
    evaluate,
    wilson_interval,
)
from grounded_core.learning.policy_loading import load_policy  # noqa: E402
from grounded_core.llm import SMOLLM2_NAME  # noqa: E402

NAME = "glam_zero_shot"
MAIN_EVALUATIONS = (("GoToLocal", "none"), ("MixedTrainLocal", "none"))
LLM_AGENT = "zero-shot SmolLM2-135M"
RANDOM_AGENT = "random"
# GLAM paper (MISSION A6, Fig. 4): zero-shot Flan-T5 780M and random on MixedTrainLocal.
PAPER_MIXED = {"Flan-T5 780M zero-shot": 0.11, "Random": 0.15}


def _key(agent: str, level: str, variant: str) -> str:
    return f"{agent}|{level}|{variant}"


def _empty(agent: str, level: str, variant: str) -> dict:
    return {
        "agent": agent,
        "level": level,
        "variant": variant,
        "episodes": 0,
        "successes": 0,
        "sum_return": 0.0,
        "sum_length": 0,
        "cpu_s": 0.0,
        "wall_s": 0.0,
    }


def _add(cell: dict, result: EvalResult, cpu_s: float, wall_s: float) -> None:
    cell["episodes"] += result.episodes
    cell["successes"] += result.successes
    cell["sum_return"] += result.mean_return * result.episodes
    cell["sum_length"] += round(result.mean_length * result.episodes)
    cell["cpu_s"] += cpu_s
    cell["wall_s"] += wall_s


def _as_result(cell: dict, seed: int) -> EvalResult | None:
    n = cell["episodes"]
    if n == 0:
        return None
    low, high = wilson_interval(cell["successes"], n)
    return EvalResult(
        agent=cell["agent"],
        level=cell["level"],
        variant=cell["variant"],
        episodes=n,
        successes=cell["successes"],
        success_rate=cell["successes"] / n,
        ci_low=low,
        ci_high=high,
        confidence=0.95,
        mean_return=cell["sum_return"] / n,
        mean_length=cell["sum_length"] / n,
        seed=seed,
    )


def _timed_evaluate(agent, level, variant, episodes, seed, num_envs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = evaluate(agent, level, variant, episodes, num_envs=num_envs, seed=seed)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def _markdown(payload: dict) -> str:
    m, s = payload["machine"], payload["settings"]
    seed = s["seed"]
    lines = [
        "# SmolLM2-135M-Instruct zero-shot on BabyAI-Text (MISSION A6)",
        "",
        f"Commit `{payload['commit']}`, {m['cpu_model']} ({m['cpu_count']} cores), "
        f"{m['date_utc']}, {s['threads']} torch thread(s), model dtype {s['dtype']}. "
        f"Policy: softmax over the 6 action texts' summed log-probabilities, actions "
        f"{'argmax' if s['greedy'] else 'sampled (as in GLAM tests)'}, GLAM prompt "
        "(3 observations, 2 actions of history). Episode j of every agent is played on "
        f"seed {seed} + j. {payload['status']}",
        "",
        "| level | variant | agent | episodes | success rate | 95% Wilson CI | mean return "
        "| mean length | CPU s / episode |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in payload["cells"].values():
        r = _as_result(cell, seed)
        if r is None:
            continue
        per_ep = cell["cpu_s"] / cell["episodes"]
        lines.append(
            f"| {r.level} | {r.variant} | {r.agent} | {r.episodes} | {r.success_rate:.3f} | "
            f"{r.ci_low:.3f}-{r.ci_high:.3f} | {r.mean_return:.3f} | {r.mean_length:.1f} | "
            f"{per_ep:.2f} |"
        )
    lines += [
        "",
        "Paper (GLAM, Fig. 4) on MixedTrainLocal for reference: "
        + ", ".join(f"{k} {v:.2f}" for k, v in PAPER_MIXED.items())
        + ".",
        "",
        f"Load average (1, 5, 15 min) at start {payload['load_start']}, at the last write "
        f"{payload['load_now']}. The machine's 2 cores were shared with other jobs; CPU "
        "s / episode is this process's CPU time, the comparable cost number.",
        "",
        "Produced by `python bench/glam_zero_shot.py` (see its docstring for the chunking).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1000, help="target per evaluation")
    parser.add_argument("--random-episodes", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=8, help="LLM episodes per chunk")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--model", default=SMOLLM2_NAME)
    parser.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED)
    parser.add_argument("--greedy", action="store_true")
    parser.add_argument("--resume", action="store_true", help="continue the results file")
    parser.add_argument("--deadline", default="", help="UTC HH:MM: start no chunk after it")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = list(MAIN_EVALUATIONS)

    json_path = RESULTS_DIR / f"{NAME}.json"
    cells: dict[str, dict] = {}
    if args.resume and json_path.is_file():
        old = json.loads(json_path.read_text())
        if old["settings"]["seed"] != args.seed or old["settings"]["dtype"] != args.dtype:
            raise SystemExit("--resume needs the same --seed and --dtype as the stored run")
        cells = old["cells"]
    load_start = [round(v, 2) for v in os.getloadavg()]
    status = {"text": "Run in progress."}

    def save() -> None:
        payload = {
            "benchmark": NAME,
            "machine": machine_info(("torch", "transformers")),
            "commit": git_commit(),
            "settings": vars(args),
            "status": status["text"],
            "load_start": load_start,
            "load_now": [round(v, 2) for v in os.getloadavg()],
            "cells": cells,
        }
        write_results(NAME, payload, _markdown(payload))

    # The random baseline is cheap: all its episodes at once.
    for level, variant in pairs:
        cell = cells.setdefault(
            _key(RANDOM_AGENT, level, variant), _empty(RANDOM_AGENT, level, variant)
        )
        missing = args.random_episodes - cell["episodes"]
        if missing > 0:
            result, cpu_s, wall_s = _timed_evaluate(
                RandomAgent(seed=cell["episodes"]),
                level,
                variant,
                missing,
                args.seed + cell["episodes"],
                32,
            )
            _add(cell, result, cpu_s, wall_s)
            print(f"[{NAME}] {result.summary()}", flush=True)
    save()

    dtype = None if args.dtype == "float32" else args.dtype
    policies = {LLM_AGENT: load_policy(args.model, dtype=dtype, value_head=False)}
    jobs = [(LLM_AGENT, level, variant) for level, variant in pairs]
    for name, level, variant in jobs:
        cells.setdefault(_key(name, level, variant), _empty(name, level, variant))
    while True:
        if args.deadline and time.strftime("%H:%M", time.gmtime()) >= args.deadline:
            status["text"] = f"Stopped at the deadline ({args.deadline} UTC)."
            break
        open_jobs = [j for j in jobs if cells[_key(*j)]["episodes"] < args.episodes]
        if not open_jobs:
            status["text"] = "Complete."
            break
        # Round robin: the evaluation with the fewest episodes so far goes next.
        name, level, variant = min(open_jobs, key=lambda j: cells[_key(*j)]["episodes"])
        cell = cells[_key(name, level, variant)]
        start = cell["episodes"]
        count = min(args.chunk, args.episodes - start)
        agent = PolicyAgent(policies[name], greedy=args.greedy, seed=start, name=name)
        result, cpu_s, wall_s = _timed_evaluate(
            agent, level, variant, count, args.seed + start, count
        )
        _add(cell, result, cpu_s, wall_s)
        r = _as_result(cell, args.seed)
        print(
            f"[{NAME}] {name} {level}/{variant}: {r.successes}/{r.episodes} "
            f"({r.ci_low:.2f}-{r.ci_high:.2f}); chunk {cpu_s:.0f} s CPU, {wall_s:.0f} s wall",
            flush=True,
        )
        status["text"] = "Run in progress (partial results)."
        save()
    save()
    print(f"[{NAME}] {status['text']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

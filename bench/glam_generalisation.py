"""The generalisation table of MISSION A6 (paper Fig. 4) with the agents we have.

Columns (agents), each evaluated on the six tests of
:mod:`grounded_core.learning.generalisation` (episode ``j`` of every cell on seed
``10**9 + j``, actions sampled as in GLAM's tests, Wilson 95% intervals):

* ``random`` -- uniformly random actions, ``--random-episodes`` per test (cheap);
* ``--agent DIR=NAME`` -- a trained policy (training checkpoint or run directory), e.g.
  the tiny T5 trained by ``bench/glam_learning.py``, played in chunks of ``--chunk``
  episodes handed round-robin to the tests, up to ``--episodes`` per test;
* ``zero-shot SmolLM2-135M`` -- taken from ``bench/results/glam_zero_shot.json`` (the
  long zero-shot run of ``bench/glam_zero_shot.py``): its MixedTrainLocal cell is the
  in-distribution test (same level, same seeds); the other tests have no SmolLM2 cell
  unless that file has them (SmolLM2 costs ~1 CPU-second per decision).

The files are rewritten after every chunk (``--deadline HH:MM`` UTC stops starting
chunks), so a stopped run still leaves a consistent table: only whole chunks count,
and a chunk is exactly the episodes an uninterrupted evaluation would play.

    python bench/glam_generalisation.py \\
        --agent runs/bench/glam_learning/GoToRedBall="tiny T5 PPO GoToRedBall"

Writes ``bench/results/glam_generalisation.csv`` / ``.md`` (and ``.json`` with the
raw counts).
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
from grounded_core.learning.generalisation import (  # noqa: E402
    GENERALISATION_TESTS,
    format_markdown,
    to_csv,
)
from grounded_core.learning.policy_loading import load_policy  # noqa: E402

NAME = "glam_generalisation"
ZERO_SHOT_FILE = RESULTS_DIR / "glam_zero_shot.json"


def _cell(agent: str, test) -> dict:
    return {"agent": agent, "test": test.key, "episodes": 0, "successes": 0, "ret": 0.0, "len": 0.0}


def _add(cell: dict, r: EvalResult) -> None:
    cell["episodes"] += r.episodes
    cell["successes"] += r.successes
    cell["ret"] += r.mean_return * r.episodes
    cell["len"] += r.mean_length * r.episodes


def _result(cell: dict, test, seed: int) -> EvalResult:
    n = cell["episodes"]
    low, high = wilson_interval(cell["successes"], n)
    return EvalResult(
        agent=cell["agent"],
        level=test.level,
        variant=test.variant,
        episodes=n,
        successes=cell["successes"],
        success_rate=cell["successes"] / n,
        ci_low=low,
        ci_high=high,
        confidence=0.95,
        mean_return=cell["ret"] / n,
        mean_length=cell["len"] / n,
        seed=seed,
    )


def _zero_shot_cells(seed: int) -> list[dict]:
    """SmolLM2 cells of the zero-shot run that are tests of the table."""
    if not ZERO_SHOT_FILE.is_file():
        return []
    data = json.loads(ZERO_SHOT_FILE.read_text())
    if data["settings"]["seed"] != seed:
        return []
    cells = []
    for cell in data["cells"].values():
        if cell["agent"] == "random" or cell["episodes"] == 0:
            continue
        for test in GENERALISATION_TESTS:
            if (test.level, test.variant) == (cell["level"], cell["variant"]):
                cells.append(
                    {
                        "agent": cell["agent"],
                        "test": test.key,
                        "episodes": cell["episodes"],
                        "successes": cell["successes"],
                        "ret": cell["sum_return"],
                        "len": float(cell["sum_length"]),
                    }
                )
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random-episodes", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=200, help="per test, trained agents")
    parser.add_argument("--chunk", type=int, default=25)
    parser.add_argument("--agent", action="append", default=[], metavar="DIR=NAME")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED)
    parser.add_argument("--deadline", default="", help="UTC HH:MM: start no chunk after it")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="evaluate nothing: rewrite the table from the stored results (and the latest "
        "zero-shot file)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    agents = []
    for spec in args.agent:
        path, _, name = spec.partition("=")
        if not name:
            raise SystemExit(f"--agent wants DIR=NAME, got {spec!r}")
        agents.append((name, path))

    cells: dict[tuple[str, str], dict] = {}
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"text": "Run in progress."}
    if args.rebuild:
        stored = json.loads((RESULTS_DIR / f"{NAME}.json").read_text())
        status["text"] = stored["status"]
        started = stored.get("started", started)
        agents = [tuple(a) for a in stored["settings"].get("agents", [])]
        for r in stored["cells"]:
            if r["agent"].startswith("zero-shot"):
                continue  # re-read from the zero-shot file below
            cells[(r["agent"], r["test"])] = {
                "agent": r["agent"],
                "test": r["test"],
                "episodes": r["episodes"],
                "successes": r["successes"],
                "ret": r["mean_return"] * r["episodes"],
                "len": r["mean_length"] * r["episodes"],
            }

    def save() -> None:
        order = ["random", *(name for name, _ in agents)]
        merged = dict(cells)
        for cell in _zero_shot_cells(args.seed):
            merged[(cell["agent"], cell["test"])] = cell
            if cell["agent"] not in order:
                order.insert(1, cell["agent"])
        rows = []
        for test in GENERALISATION_TESTS:
            for agent in order:
                cell = merged.get((agent, test.key))
                if cell is not None and cell["episodes"] > 0:
                    rows.append((test, _result(cell, test, args.seed)))
        if not rows:
            return
        note = (
            f"{status['text']} Commit `{git_commit()}`, started {started}, written "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; load average "
            f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}. Agents: random = uniformly "
            "random actions; "
            + "; ".join(f"{name} = `{path}`" for name, path in agents)
            + ("; " if agents else "")
            + "zero-shot SmolLM2-135M = from `bench/results/glam_zero_shot.json` "
            "(its MixedTrainLocal episodes are the in-distribution cell; empty cells: "
            "not measured, SmolLM2 costs ~1 CPU-second per decision on this machine). "
            "Paper columns: GLAM's Fig. 4 (Flan-T5 780M after 1.5M steps on "
            "MixedTrainLocal), for reference."
        )
        md = "\n".join(
            [
                "# Generalisation table (MISSION A6, paper Fig. 4)",
                "",
                format_markdown(rows),
                note,
                "",
                "Produced by `python bench/glam_generalisation.py` (see its docstring).",
            ]
        )
        (RESULTS_DIR / f"{NAME}.csv.tmp").write_text(to_csv(rows), encoding="utf-8")
        os.replace(RESULTS_DIR / f"{NAME}.csv.tmp", RESULTS_DIR / f"{NAME}.csv")
        payload = {
            "benchmark": NAME,
            "machine": machine_info(("torch", "transformers")),
            "commit": git_commit(),
            "settings": vars(args) | {"agents": agents},
            "status": status["text"],
            "started": started,
            "cells": [r.to_dict() | {"test": t.key} for t, r in rows],
        }
        write_results(NAME, payload, md + "\n")

    if args.rebuild:
        save()
        return 0
    for test in GENERALISATION_TESTS:
        cell = cells.setdefault(("random", test.key), _cell("random", test))
        result = evaluate(
            RandomAgent(seed=0),
            test.level,
            test.variant,
            args.random_episodes,
            seed=args.seed,
        )
        _add(cell, result)
        print(f"[{NAME}] {test.title}: {result.summary()}", flush=True)
    save()

    policies = {name: load_policy(path, value_head=False) for name, path in agents}
    jobs = [(name, test) for test in GENERALISATION_TESTS for name, _ in agents]
    for name, test in jobs:
        cells.setdefault((name, test.key), _cell(name, test))
    while jobs:
        if args.deadline and time.strftime("%H:%M", time.gmtime()) >= args.deadline:
            status["text"] = f"Stopped at the deadline ({args.deadline} UTC)."
            break
        open_jobs = [j for j in jobs if cells[(j[0], j[1].key)]["episodes"] < args.episodes]
        if not open_jobs:
            status["text"] = "Complete."
            break
        name, test = min(open_jobs, key=lambda j: cells[(j[0], j[1].key)]["episodes"])
        cell = cells[(name, test.key)]
        start = cell["episodes"]
        count = min(args.chunk, args.episodes - start)
        agent = PolicyAgent(policies[name], seed=start, name=name)
        result = evaluate(agent, test.level, test.variant, count, seed=args.seed + start)
        _add(cell, result)
        print(f"[{NAME}] {name} {test.title}: {cell['successes']}/{cell['episodes']}", flush=True)
        status["text"] = "Run in progress (partial results)."
        save()
    if not jobs:
        status["text"] = "Complete."
    save()
    print(f"[{NAME}] {status['text']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

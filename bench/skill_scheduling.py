"""Skill scheduling with trained policies over many seeds (MISSION B6 use 3, B7; issue 7 (4)).

Steps (each one command, so the work can be split across processes and resumed):

* ``train``: the project's own Collect & Infer (``grounded-collect-infer``, i.e.
  ``grounded_core.learning.collect_infer.main``) with ``config/collect_infer.yaml``
  over the six stack tasks in one run: curriculum rewards, simulator-truth judge,
  fresh weights per task (``reinit_per_task``), lifelong reuse on, the benchmark
  prefixes (``max_prefix=1``, ``task_max_prefix=2``). Each stack task's plan is
  "grasp X", "X on Y", so the six tasks cover every sub-goal of the vocabulary.
* ``consolidate``: one policy for all nine sub-goals
  (``grounded_core.learning.consolidate``: every sub-goal that fired in any
  episode of the run's lifelong buffer, behaviour cloning with fresh weights and
  the config's BC options).
* ``eval``: the skill scheduler (``grounded_core.policy.scheduler.SkillScheduler``,
  debounce 2, 6 primitives per sub-goal) on every canonical instruction of
  ``config/planner_instructions.yaml`` (stack X on Y, grasp X, stack all three,
  composites) over held-out layout seeds ``100_000 + i``, with a policy:
  ``consolidated`` (the one policy) or ``library`` (each sub-goal runs the
  per-task policy trained on it: "X on Y" -> stack_X_on_Y, "grasp X" -> the
  first stack_X_on_* task). Plans come from the reference plans
  (``ReferencePlanSource``: the tasks' reference plans), and for the templated
  composites that it cannot parse ("stack the red on the blue and then the green
  on the red") from the hand-written expected plan of the planner's instruction
  set. The LLM planner's accuracy is a separate experiment (bench/planner.py).
  Each ``eval`` writes ``bench/results/skill_scheduling_runs/<name>.json``.
* ``report``: merges the run files into ``bench/results/skill_scheduling.{json,md,png}``
  (bench/skill_scheduling_report.py).

Usage::

    python bench/skill_scheduling.py train [--train-seed 1]    # runs/skill_scheduling/ci[_s1]
    python bench/skill_scheduling.py consolidate [--train-seed 1] --bc-steps 1500
    python bench/skill_scheduling.py eval --policy consolidated [--train-seed 1] --seeds 100
    python bench/skill_scheduling.py eval --policy library --seeds 100
    python bench/skill_scheduling.py eval --policy consolidated --judge captioner --seeds 20 \
        --only "stack the red object on the blue object;grasp the red object"
    # the alternative that was measured and rejected: one policy, weights kept across tasks
    python bench/skill_scheduling.py train --keep-weights            # runs/skill_scheduling/ci_keep
    python bench/skill_scheduling.py eval --policy checkpoint --name keep-weights-t0-truth-n100 \
        --policy-dir runs/skill_scheduling/ci_keep/tasks/stack_blue_on_red/checkpoints
    # the shipped update schedule (update_on_new_goal: true): runs/.../ci_newgoal[_s1], ...
    python bench/skill_scheduling.py train --schedule newgoal [--train-seed 1]
    python bench/skill_scheduling.py consolidate --schedule newgoal --bc-steps 1500
    python bench/skill_scheduling.py eval --policy consolidated --schedule newgoal --seeds 100
    python bench/skill_scheduling.py report
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, RESULTS_DIR, STACK_TASKS, git_commit, machine_info

RUN_ROOT = REPO_ROOT / "runs" / "skill_scheduling"
RUNS_DIR = RESULTS_DIR / "skill_scheduling_runs"
CONFIG = REPO_ROOT / "config" / "collect_infer.yaml"
#: Overrides of config/collect_infer.yaml for training (the benchmark prefixes of
#: bench/collect_infer.py's curve runs; evaluation cut at 3x the optimal stack length).
TRAIN_SETS = ("max_prefix=1", "task_max_prefix=2", "max_env_steps=2000", "eval_max_steps=6")
#: Collect & Infer update schedules (``--schedule``): ``fixed`` retrains every
#: ``episodes_per_update`` episodes, the default when the first runs (ci, ci_s1, ci_s2)
#: were trained; ``newgoal`` also retrains right after a goal's first demonstration, the
#: shipped default since (config/collect_infer.yaml; bench/results/collect_infer.md).
#: The schedule is always passed explicitly so a run means the same whatever the config.
SCHEDULES = {"fixed": "update_on_new_goal=false", "newgoal": "update_on_new_goal=true"}
EVAL_SEED_BASE = 100_000


def _atomic_json(path: Path, payload: dict, indent: int | None = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=indent) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _schedule_suffix(schedule: str) -> str:
    return "" if schedule == "fixed" else f"_{schedule}"


def ci_dir(train_seed: int, keep_weights: bool = False, schedule: str = "fixed") -> Path:
    """The Collect & Infer run of training seed ``train_seed`` (and schedule)."""
    name = ("ci_keep" if keep_weights else "ci") + _schedule_suffix(schedule)
    return RUN_ROOT / (name if train_seed == 0 else f"{name}_s{train_seed}")


def policy_dir(train_seed: int, schedule: str = "fixed") -> Path:
    """The consolidated policy of training seed ``train_seed`` (and schedule)."""
    name = "policy" + _schedule_suffix(schedule)
    return RUN_ROOT / (name if train_seed == 0 else f"{name}_s{train_seed}")


def _rel(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------- training


def train_argv(
    train_seed: int, keep_weights: bool = False, absolute: bool = False, schedule: str = "fixed"
) -> list[str]:
    """``grounded-collect-infer`` arguments (repository-relative paths unless ``absolute``)."""
    run_dir, config = ci_dir(train_seed, keep_weights, schedule), CONFIG
    if not absolute:
        run_dir, config = run_dir.relative_to(REPO_ROOT), config.relative_to(REPO_ROOT)
    argv = ["--config", str(config), "--run-dir", str(run_dir)]
    for task in STACK_TASKS:
        argv += ["--task", task]
    keep = ("reinit_per_task=false",) if keep_weights else ()
    for item in (*TRAIN_SETS, SCHEDULES[schedule], *keep, f"seed={train_seed}"):
        argv += ["--set", item]
    return [*argv, "--no-progress"]


def cmd_train(args) -> None:
    import contextlib
    import io

    import torch

    from grounded_core.learning.collect_infer import main as collect_infer_main

    torch.set_num_threads(1)
    start, cpu0, load0 = time.time(), _cpu_s(), list(os.getloadavg())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = collect_infer_main(
            train_argv(args.train_seed, args.keep_weights, absolute=True, schedule=args.schedule)
        )
    if rc != 0:
        raise SystemExit(f"collect_infer failed with exit code {rc}")
    reports = json.loads(out.getvalue())
    _atomic_json(
        ci_dir(args.train_seed, args.keep_weights, args.schedule) / "training.json",
        {
            "command": "grounded-collect-infer "
            + " ".join(train_argv(args.train_seed, args.keep_weights, schedule=args.schedule)),
            "schedule": args.schedule,
            "via": "python bench/skill_scheduling.py " + " ".join(sys.argv[1:]),
            "commit": git_commit(),
            "reports": reports,
            "wall_s": time.time() - start,
            "cpu_s": _cpu_s() - cpu0,
            "load_average_start": load0,
            "load_average_end": list(os.getloadavg()),
        },
    )
    for r in reports:
        print(f"{r['task']}: final {r['final_success']:.2f} after {r['env_steps']} steps")


def cmd_consolidate(args) -> None:
    import torch

    from grounded_core.learning.collect_infer import load_collect_infer_config
    from grounded_core.learning.consolidate import consolidate_run

    torch.set_num_threads(1)
    config = load_collect_infer_config(CONFIG).replace(max_prefix=1)
    start, cpu0 = time.time(), _cpu_s()
    out = Path(args.out) if args.out else policy_dir(args.train_seed, args.schedule)
    source = ci_dir(args.train_seed, schedule=args.schedule)
    summary = consolidate_run(source, config, out, steps=args.bc_steps, seed=args.seed)
    summary.update(
        {
            "source_run": _rel(source),
            "command": "python bench/skill_scheduling.py " + " ".join(sys.argv[1:]),
            "commit": git_commit(),
            "wall_s": time.time() - start,
            "cpu_s": _cpu_s() - cpu0,
            "load_average_end": list(os.getloadavg()),
        }
    )
    _atomic_json(out.parent / f"{out.name}_consolidation.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "samples_per_goal"}, indent=2))
    print(json.dumps(summary["samples_per_goal"], indent=2))


# ---------------------------------------------------------------------- instructions


def canonical_instructions(world) -> list[dict]:
    """Every canonical instruction with its plan and (for task instructions) its task."""
    from grounded_core.learning.plans import PlanError, ReferencePlanSource
    from grounded_core.llm.planner_eval import CANONICAL_CATEGORIES, load_instruction_set
    from grounded_core.llm.planner_space import PlanSpace
    from grounded_core.tabletop.captions import caption_list
    from grounded_core.tabletop.tasks import build_tasks

    reference = ReferencePlanSource(world)
    by_text = {t.instruction: t for t in build_tasks(world).values()}
    cases = load_instruction_set(None, PlanSpace(caption_list(world.object_names)))
    out = []
    for case in cases:
        if case.category not in CANONICAL_CATEGORIES:
            continue
        try:
            plan, source = reference.plan(case.text), "reference"
        except PlanError:
            plan, source = list(case.expected[0]), "instruction set"
        if tuple(plan) not in case.expected:
            raise SystemExit(f"{case.text!r}: reference plan {plan} is not an expected plan")
        task = by_text.get(case.text)
        out.append(
            {
                "instruction": case.text,
                "category": case.category,
                "plan": plan,
                "plan_source": source,
                "task": task.name if task is not None else None,
            }
        )
    return out


def final_state_check(plan: list[str], detected_truth: set[str]) -> bool:
    """Composite instructions (no task): every stacking sub-goal and the last one hold."""
    wanted = {g for g in plan if " on top of " in g} | {plan[-1]}
    return wanted <= detected_truth


# ---------------------------------------------------------------------- executors


def _library(world, text_encoder, run: Path):
    """Sub-goal -> the per-task policy trained on it (from the training run's checkpoints)."""
    from grounded_core.policy.io import load_policy
    from grounded_core.tabletop.tasks import build_tasks

    tasks = build_tasks(world)
    library, versions = {}, {}
    for name in STACK_TASKS:
        policy, manifest = load_policy(run / "tasks" / name / "checkpoints", text_encoder)
        grasp, stack = tasks[name].reference_plan
        library[stack] = policy
        library.setdefault(grasp, policy)
        versions[stack] = f"{name} v{manifest['policy']['version']}"
        versions.setdefault(grasp, versions[stack])
    return library, versions


def make_actor(
    kind: str, world, judge, vocabulary, cameras, train_seed: int, folder: Path, schedule: str
):
    """(executor, description) for policy ``kind``."""
    from grounded_core.learning.actor import Actor
    from grounded_core.policy.io import load_policy

    if kind in ("consolidated", "checkpoint"):
        policy, manifest = load_policy(folder)
        return Actor(0, world, policy, judge, vocabulary, cameras), {
            "policy": kind,
            "train_seed": train_seed,
            "schedule": schedule,
            "checkpoint": _rel(folder),
            "version": manifest["policy"]["version"],
        }
    if kind == "library":
        run = ci_dir(train_seed, schedule=schedule)
        first, _ = load_policy(run / "tasks" / STACK_TASKS[0] / "checkpoints")
        library, versions = _library(world, first.text_encoder, run)

        class LibraryActor(Actor):
            """Runs each sub-goal with the per-task policy trained on it."""

            def choose(self, goal, observation, greedy, rng):
                self.policy = library[goal]
                return super().choose(goal, observation, greedy, rng)

        return LibraryActor(0, world, first, judge, vocabulary, cameras), {
            "policy": "library",
            "train_seed": train_seed,
            "schedule": schedule,
            "checkpoint": str(run.relative_to(REPO_ROOT)) + "/tasks/*/checkpoints",
            "version": versions,
        }
    raise SystemExit(f"unknown policy {kind!r}")


# ---------------------------------------------------------------------- evaluation


def captioner_identity() -> dict:
    """Which default captioner was loaded (folder, checkpoint, its write time)."""
    from grounded_core.vision.checkpoint import find_checkpoint
    from grounded_core.vision.default import default_run_dir

    checkpoint = find_checkpoint(default_run_dir())
    stamp = time.gmtime(Path(checkpoint).stat().st_mtime)
    return {
        "run_dir": str(default_run_dir()),
        "checkpoint": str(checkpoint),
        "checkpoint_written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp),
    }


def cmd_eval(args) -> None:
    import torch
    from tqdm import tqdm

    from grounded_core.learning.judges import Observation, TruthJudge, make_judge
    from grounded_core.policy.scheduler import SkillScheduler
    from grounded_core.tabletop.captions import caption_list
    from grounded_core.tabletop.tasks import build_tasks
    from grounded_core.tabletop.world_config import load_world_config

    if args.policy == "checkpoint" and not args.policy_dir:
        raise SystemExit("--policy checkpoint needs --policy-dir")
    torch.set_num_threads(1)
    world = load_world_config("tabletop")
    tasks = build_tasks(world)
    vocabulary = caption_list(world.object_names)
    cameras = ("front_left", "front_right")
    t_load = time.time()
    judge = make_judge(args.judge, world.tolerances, cameras)
    judge_load_s = time.time() - t_load
    judge_info = captioner_identity() if args.judge == "captioner" else None
    truth = TruthJudge(world.tolerances)
    items = canonical_instructions(world)
    if args.only:
        wanted = [w.strip() for w in args.only.split(";")]
        items = [i for i in items if i["instruction"] in wanted]
        missing = set(wanted) - {i["instruction"] for i in items}
        if missing:
            raise SystemExit(f"not canonical instructions: {sorted(missing)}")
    if args.category:
        items = [i for i in items if i["category"] in args.category.split(",")]
    actor, policy_info = make_actor(
        args.policy,
        world,
        judge,
        vocabulary,
        cameras if args.judge == "captioner" else (),
        args.train_seed,
        Path(args.policy_dir) if args.policy_dir else policy_dir(args.train_seed, args.schedule),
        args.schedule,
    )
    rows = []
    start_all, cpu0, load0 = time.time(), _cpu_s(), list(os.getloadavg())
    for item in items:
        task = tasks[item["task"]] if item["task"] else None
        scheduler = SkillScheduler(
            actor, debounce=args.debounce, steps_per_subgoal=args.steps, seed=args.seed
        )
        start = time.time()
        episodes = []
        for i in tqdm(range(args.seeds), desc=item["instruction"][:40], leave=False):
            seed = EVAL_SEED_BASE + i
            report = scheduler.run(
                item["plan"], seed=seed, instruction=item["instruction"], task=task
            )
            state_obs = Observation(actor.world.state(), {})  # truth needs no frames
            final_truth = {
                c
                for c, d in zip(vocabulary, truth.detect([state_obs], vocabulary)[0], strict=True)
                if d
            }
            env_ok = (
                bool(report.env_success)
                if task is not None
                else final_state_check(item["plan"], final_truth)
            )
            episodes.append(
                {
                    "seed": seed,
                    "success": report.success,
                    "env_success": env_ok,
                    "steps": report.total_steps,
                    "failed_index": report.failed_index,
                    "failed_subgoal": report.failed_subgoal,
                    "steps_per_subgoal": [s.steps for s in report.subgoals],
                    "detected_at_failure": report.subgoals[-1].detected_captions
                    if not report.success
                    else None,
                    "final_truth": sorted(final_truth),
                    "summary": None if report.success else report.summary(),
                }
            )
        failures: dict[str, int] = {}
        for e in episodes:
            if not e["success"]:
                key = f"{e['failed_index'] + 1}: {e['failed_subgoal']}"
                failures[key] = failures.get(key, 0) + 1
        n = len(episodes)
        row = {
            **item,
            "seeds": n,
            "success": float(np.mean([e["success"] for e in episodes])),
            "successes": int(sum(e["success"] for e in episodes)),
            "env_success": float(np.mean([e["env_success"] for e in episodes])),
            "env_successes": int(sum(e["env_success"] for e in episodes)),
            "mean_primitives": float(np.mean([e["steps"] for e in episodes])),
            "failures_by_subgoal": dict(sorted(failures.items())),
            "example_failure": next((e["summary"] for e in episodes if not e["success"]), None),
            "wall_s": time.time() - start,
            "episodes": episodes,
        }
        rows.append(row)
        print(
            f"{item['instruction']}: {row['successes']}/{n} sub-goals, "
            f"{row['env_successes']}/{n} env, {row['mean_primitives']:.1f} primitives, "
            f"{failures or '-'} ({row['wall_s']:.0f} s)",
            flush=True,
        )
    actor.close()
    name = args.name or (
        f"{args.policy}-t{args.train_seed}-{args.judge}-n{args.seeds}"
        + _schedule_suffix(args.schedule).replace("_", "-")
    )
    payload = {
        "kind": "schedule",
        "name": name,
        "judge": args.judge,
        "judge_load_s": judge_load_s,
        "captioner": judge_info,
        **policy_info,
        "debounce": args.debounce,
        "steps_per_subgoal": args.steps,
        "scheduler_seed": args.seed,
        "seed_base": EVAL_SEED_BASE,
        "commit": git_commit(),
        "machine": machine_info(("torch", "pybullet", "numpy")),
        "command": "python bench/skill_scheduling.py " + " ".join(sys.argv[1:]),
        "wall_s": time.time() - start_all,
        "cpu_s": _cpu_s() - cpu0,
        "load_average_start": load0,
        "load_average_end": list(os.getloadavg()),
        "rows": rows,
    }
    _atomic_json(RUNS_DIR / f"{name}.json", payload, indent=None)  # every episode: compact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tp = sub.add_parser("train", help="Collect & Infer over the six stack tasks")
    cp = sub.add_parser("consolidate", help="one policy for every sub-goal")
    ep = sub.add_parser("eval", help="the skill scheduler over seeds")
    for p in (tp, cp, ep):
        p.add_argument("--train-seed", type=int, default=0, help="Collect & Infer seed (run)")
        p.add_argument(
            "--schedule",
            default="fixed",
            choices=sorted(SCHEDULES),
            help="Collect & Infer update schedule of the training run (see SCHEDULES)",
        )
    tp.add_argument(
        "--keep-weights",
        action="store_true",
        help="reinit_per_task=false: one policy continues across the tasks (runs/.../ci_keep)",
    )
    cp.add_argument("--bc-steps", type=int, default=2000)
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument(
        "--out", default="", help="checkpoint root (default runs/skill_scheduling/policy)"
    )
    ep.add_argument(
        "--policy", default="consolidated", choices=["consolidated", "library", "checkpoint"]
    )
    ep.add_argument(
        "--policy-dir", default="", help="checkpoint root (consolidated: default per train seed)"
    )
    ep.add_argument("--judge", default="truth", choices=["truth", "captioner"])
    ep.add_argument("--seeds", type=int, default=100)
    ep.add_argument("--debounce", type=int, default=2)
    ep.add_argument("--steps", type=int, default=6, help="primitive budget per sub-goal")
    ep.add_argument("--seed", type=int, default=0, help="scheduler rng (sampled retries)")
    ep.add_argument("--only", default="", help="instructions separated by ';'")
    ep.add_argument("--category", default="", help="stack,grasp,stack_all,composite")
    ep.add_argument("--name", default="", help="run file name")
    sub.add_parser("report", help="write bench/results/skill_scheduling.{json,md}")
    args = parser.parse_args()
    if args.command == "train":
        cmd_train(args)
    elif args.command == "consolidate":
        cmd_consolidate(args)
    elif args.command == "eval":
        cmd_eval(args)
    else:
        from skill_scheduling_report import write_report

        write_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Collect & Infer experiments (MISSION B6 uses 1-3, B7): one run per invocation, then a report.

Runs (each writes ``bench/results/collect_infer_runs/<name>.json`` as soon as it
finishes, so a budget cut loses only the run in progress):

* ``curve``: one task, one reward mode (``curriculum`` = sub-goal + env
  rewards, ``env`` = env reward only, the baseline), one seed: success of the
  greedy policy vs collection primitive steps. ``--episodes-per-update N`` and
  ``--update-on-new-goal`` change the update schedule (run names get ``-epuN`` /
  ``-newgoal``; the report shows them apart from the main runs).
* ``sequence``: tasks learnt one after the other with weights re-initialised
  per task, with or without seeding each task's buffer from the lifelong buffer
  (``--reuse-scope plan``: the new plan's sub-goals; ``all``: every skill that
  fired, with ``--untrained-policy P`` goals without demonstrations are pursued
  with the policy with probability P; both appear in the run name unless default).
* ``schedule``: the skill scheduler with a trained policy (loaded from a curve
  run's checkpoint) over evaluation seeds per instruction.

``--report`` aggregates every run file into ``bench/results/collect_infer.json``,
``.md`` and ``.png``. The judge (``truth`` = simulator-truth captions,
``captioner`` = the CLIP captioner) is recorded per run and shown in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collect_infer_report import MAIN_SCHEDULE
from common import REPO_ROOT, RESULTS_DIR, git_commit, machine_info

from grounded_core.learning.collect_infer import (
    CollectInfer,
    CollectInferConfig,
    load_collect_infer_config,
)

RUNS_DIR = RESULTS_DIR / "collect_infer_runs"
WORK_DIR = REPO_ROOT / "runs" / "bench_collect_infer"
#: Evaluation episodes are cut at this many times the optimal length.
EVAL_FACTOR = 3
#: Random-policy primitive steps per reward from bench/results/tabletop.md.
SPARSENESS = {"grasp_red": 57.1, "stack_red_on_blue": 2244.0, "stack_all": 90232.0}


def _config(args, **changes) -> CollectInferConfig:
    config = load_collect_infer_config(REPO_ROOT / "config" / "collect_infer.yaml")
    return config.replace(
        judge=args.judge,
        seed=args.seed,
        max_prefix=args.max_prefix,
        task_max_prefix=args.task_prefix,
        **({} if args.pointer_aux is None else {"pointer_aux_weight": args.pointer_aux}),
        **({} if args.shift is None else {"shift_augment": args.shift}),
        # The update schedule is the main runs' unless a flag says otherwise, whatever
        # config/collect_infer.yaml ships, so that a run name means one configuration.
        episodes_per_update=args.episodes_per_update or MAIN_SCHEDULE["episodes_per_update"],
        update_on_new_goal=bool(args.update_on_new_goal),
        **changes,
    )


def _suffix(args) -> str:
    suffix = f"-{args.judge}-s{args.seed}" + (f"-p{args.max_prefix}" if args.max_prefix else "")
    suffix += f"t{args.task_prefix}" if args.task_prefix else ""
    config = _config(args)
    suffix += f"-aux{config.pointer_aux_weight:g}" if config.pointer_aux_weight > 0 else ""
    suffix += f"-shift{config.shift_augment:g}" if config.shift_augment > 0 else ""
    # Update-schedule variants (the main runs' schedule adds nothing).
    if config.episodes_per_update != MAIN_SCHEDULE["episodes_per_update"]:
        suffix += f"-epu{config.episodes_per_update}"
    if config.update_on_new_goal != MAIN_SCHEDULE["update_on_new_goal"]:
        suffix += "-newgoal" if config.update_on_new_goal else "-nonewgoal"
    return suffix


def _eval_limit(task: str) -> int:
    optimal = {"grasp": 1, "stack": 2}.get(task.split("_")[0], 4)
    if task == "stack_all":
        optimal = 4
    return EVAL_FACTOR * optimal


def _save_run(name: str, payload: dict) -> Path:
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    path = RUNS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _meta(args) -> dict:
    return {
        "commit": git_commit(),
        "machine": machine_info(("torch", "pybullet", "numpy")),
        "load_average_end": list(os.getloadavg()),
        "judge": args.judge,
        "captioner_checkpoint": os.environ.get("GROUNDED_CAPTIONER")
        if args.judge == "captioner"
        else None,
        "seed": args.seed,
    }


def run_curve(args) -> None:
    name = f"curve-{args.task}-{args.mode}{_suffix(args)}"
    config = _config(
        args,
        reward_mode=args.mode,
        max_env_steps=args.budget,
        eval_max_steps=_eval_limit(args.task),
        reuse_lifelong=False,
    )
    load_start = list(os.getloadavg())
    with CollectInfer(config, WORK_DIR / name, progress=False) as ci:
        report = ci.run_task(args.task)
    payload = {"kind": "curve", "name": name, "task": args.task, "mode": args.mode}
    payload.update(_meta(args))
    payload["load_average_start"] = load_start
    payload["config"] = config.to_dict()
    payload["report"] = report.to_dict()
    print(f"{name}: steps_to_target {report.steps_to_target} final {report.final_success}")
    _save_run(name, payload)


def run_sequence(args) -> None:
    tasks = args.tasks.split(",")
    reuse = args.reuse == "yes"
    scope = f"-{args.reuse_scope}" if reuse and args.reuse_scope != "plan" else ""
    explore = f"-upol{args.untrained_policy:g}" if args.untrained_policy else ""
    name = f"sequence-{'reuse' if reuse else 'noreuse'}{scope}{_suffix(args)}{explore}"
    config = _config(
        args,
        reward_mode="curriculum",
        max_env_steps=args.budget,
        eval_max_steps=_eval_limit(tasks[0]),
        reuse_lifelong=reuse,
        reinit_per_task=True,
        reuse_scope=args.reuse_scope,
        untrained_policy_share=args.untrained_policy,
    )
    load_start = list(os.getloadavg())
    with CollectInfer(config, WORK_DIR / name, progress=False) as ci:
        reports = ci.run_sequence(tasks)
    payload = {"kind": "sequence", "name": name, "tasks": tasks, "reuse": reuse}
    payload["reuse_scope"] = config.reuse_scope
    payload["untrained_policy_share"] = config.untrained_policy_share
    payload.update(_meta(args))
    payload["load_average_start"] = load_start
    payload["config"] = config.to_dict()
    payload["reports"] = [r.to_dict() for r in reports]
    for rep in payload["reports"]:
        rep["seeded_labels"] = seeded_labels(WORK_DIR / name, rep["task"])
    _save_run(name, payload)


def seeded_labels(run_dir: Path, task: str) -> dict[str, int]:
    """Labels per goal that a task's buffer got from the lifelong buffer (reuse)."""
    from grounded_core.learning.buffers import EpisodeStore

    counts: dict[str, int] = {}
    for episode in EpisodeStore(run_dir / "tasks" / task / "buffer"):
        if episode.source_task is not None:
            for label in episode.labels:
                counts[label.goal] = counts.get(label.goal, 0) + 1
    return counts


def run_schedule(args) -> None:
    from grounded_core.learning.actor import Actor
    from grounded_core.learning.judges import make_judge
    from grounded_core.learning.plans import ReferencePlanSource
    from grounded_core.policy.io import load_policy
    from grounded_core.policy.scheduler import SkillScheduler
    from grounded_core.tabletop.captions import caption_list
    from grounded_core.tabletop.tasks import build_tasks
    from grounded_core.tabletop.world_config import load_world_config

    world = load_world_config("tabletop")
    planner = ReferencePlanSource(world)
    judge = make_judge(args.judge, world.tolerances, ("front_left", "front_right"))
    tasks = build_tasks(world)
    rows = []
    for item in args.policies.split(";"):
        what, checkpoint_dir = item.split("=")
        task = tasks.get(what)
        instruction = task.instruction if task is not None else what
        policy, manifest = load_policy(Path(checkpoint_dir))
        actor = Actor(
            0, world, policy, judge, caption_list(world.object_names), judge_cameras(judge)
        )
        scheduler = SkillScheduler(actor, debounce=args.debounce, steps_per_subgoal=args.steps)
        plan = planner.plan(instruction)
        reports = [
            scheduler.run(plan, seed=100_000 + i, instruction=instruction, task=task)
            for i in range(args.episodes)
        ]
        actor.close()
        failures = {}
        for r in reports:
            if not r.success:
                failures[r.failed_subgoal] = failures.get(r.failed_subgoal, 0) + 1
        rows.append(
            {
                "instruction": instruction,
                "task": task.name if task is not None else None,
                "policy": str(checkpoint_dir),
                "policy_version": manifest["policy"]["version"],
                "plan": plan,
                "episodes": len(reports),
                "success": float(np.mean([r.success for r in reports])),
                "env_success": float(np.mean([bool(r.env_success) for r in reports]))
                if task is not None
                else None,
                "mean_steps": float(np.mean([r.total_steps for r in reports])),
                "failures_by_subgoal": failures,
                "example_failure": next((r.summary() for r in reports if not r.success), None),
            }
        )
        print(rows[-1]["instruction"], rows[-1]["success"])
    payload = {"kind": "schedule", "name": f"schedule-{args.judge}", "rows": rows}
    payload.update(_meta(args))
    payload["debounce"] = args.debounce
    payload["steps_per_subgoal"] = args.steps
    _save_run(f"schedule-{args.judge}", payload)


def judge_cameras(judge) -> tuple[str, ...]:
    return tuple(getattr(judge, "cameras", ()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["curve", "sequence", "schedule", "report"])
    parser.add_argument("--task", default="stack_red_on_blue")
    parser.add_argument(
        "--tasks", default="stack_red_on_blue,stack_blue_on_green,stack_green_on_red"
    )
    parser.add_argument("--mode", default="curriculum", choices=["curriculum", "env"])
    parser.add_argument("--reuse", default="yes", choices=["yes", "no"])
    parser.add_argument(
        "--reuse-scope",
        default="plan",
        choices=["plan", "all"],
        help="sequence with reuse: seed with the new plan's sub-goals or every skill "
        "(default plan, the main runs' setting; config/collect_infer.yaml ships all)",
    )
    parser.add_argument(
        "--untrained-policy",
        type=float,
        default=0.0,
        help="sequence: probability of acting with the policy on a goal without demos",
    )
    parser.add_argument("--judge", default="truth", choices=["truth", "captioner"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument(
        "--max-prefix", type=int, default=None, help="keep the last N steps of a prefix"
    )
    parser.add_argument(
        "--task-prefix", type=int, default=None, help="env-reward labels keep the last N steps"
    )
    parser.add_argument(
        "--pointer-aux",
        type=float,
        default=None,
        help="weight of the pointer-supervision loss (default: config/collect_infer.yaml)",
    )
    parser.add_argument(
        "--shift",
        type=float,
        default=None,
        help="BC translation augmentation (m; default: config/collect_infer.yaml)",
    )
    parser.add_argument(
        "--episodes-per-update",
        type=int,
        default=None,
        help="episodes per BC update and evaluation (default: the main runs' 8; another "
        "value adds -epuN to the run name)",
    )
    parser.add_argument(
        "--update-on-new-goal",
        action="store_true",
        help="end a round right after the episode that gave a goal its first "
        "demonstration (config/collect_infer.yaml's setting; the main runs predate it: "
        "adds -newgoal to the run name)",
    )
    parser.add_argument(
        "--policies", default="", help="task or instruction=checkpoint_dir;... (schedule)"
    )
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--debounce", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="step budget per sub-goal")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    if args.kind == "curve":
        run_curve(args)
    elif args.kind == "sequence":
        run_sequence(args)
    elif args.kind == "schedule":
        run_schedule(args)
    else:
        from collect_infer_report import write_report

        write_report()
    print(f"done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Data-parallel GLAM replicas (MISSION A5): 2 torchrun workers vs 1, CPU, tiny T5.

Runs ``python -m torch.distributed.run --standalone --nproc_per_node N`` of this file
(``--worker``) for each N in ``--workers`` (default 1 and 2), gloo backend, one torch
thread per process, the embedded tiny T5 and the same 32 prompts as
``bench/glam_scoring.py`` (3rd decision of 32 MixedTrainLocal episodes) x the 6 actions.
Each world measures, after warm-up calls, the median of ``--repeats`` calls of:

* **scoring**: :meth:`DataParallelPolicy.predict` (each rank scores its shard of the
  32 prompts, the shards are all-gathered) -- actions/s = 192 / time of one call;
* **PPO update**: one minibatch of ``--minibatch`` transitions (the 32 prompts, repeated)
  through :class:`grounded_core.learning.distributed_training.ReplicaGroup` exactly as
  in training (forward of the rank's shard with values, clipped PPO loss, backward,
  gradient all-reduce, clipping, Adam step, metric all-reduce), dropout off as in
  ``bench/glam_learning.py`` (so the fused T5 path runs forward and backward).

Wall time is rank 0's ``perf_counter``; CPU time is summed over the ranks
(``process_time``), so CPU-time overhead of the extra process shows directly. The scores
of the 2-worker world are compared with one process on the same prompts.

    python bench/glam_distributed.py            # writes bench/results/glam_distributed.*
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("grounded_core") is None:
    sys.path.insert(0, str(ROOT / "src" / "grounded_core"))

NAME = "glam_distributed"


def _worker(args) -> int:
    import torch
    import torch.distributed as dist

    from grounded_core.babyai_text import ACTIONS
    from grounded_core.distributed import init_from_env
    from grounded_core.learning.distributed_training import ReplicaGroup
    from grounded_core.learning.policy_loading import set_dropout
    from grounded_core.learning.ppo import PPOConfig
    from grounded_core.learning.rollout import RolloutBatch
    from grounded_core.llm import ActionScorer
    from grounded_core.llm.prompts import collect_prompts

    torch.set_num_threads(1)
    rank, world = init_from_env("gloo")
    torch.manual_seed(0)
    prompts = collect_prompts("MixedTrainLocal", 32, seed=0, num_envs=32, skip_steps=2)
    policy = ActionScorer.from_pretrained("tiny-t5")
    set_dropout(policy, 0.0)  # as the tiny T5 is trained (bench/glam_learning.py)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-5, eps=1e-5)
    ppo = PPOConfig(num_envs=args.minibatch, steps_per_env=1, minibatch_size=args.minibatch)
    group = ReplicaGroup(policy, optimizer, ppo)
    group.sync_state()

    reference = policy.score(prompts, ACTIONS) if rank == 0 else None

    def timed(fn, repeats: int, warmup: int) -> dict:
        for _ in range(warmup):
            fn()
        walls, cpus = [], []
        for _ in range(repeats):
            dist.barrier()
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        # CPU time summed over the ranks, per call.
        gathered: list = [None] * world
        dist.all_gather_object(gathered, cpus)
        total_cpu = [sum(c[i] for c in gathered) for i in range(repeats)]
        return {
            "wall_s": statistics.median(walls),
            "cpu_s_all_ranks": statistics.median(total_cpu),
            "walls": [round(w, 5) for w in walls],
        }

    score = timed(lambda: group.dp.predict(prompts, ACTIONS), args.repeats, args.warmup)
    scores = group.dp.predict(prompts, ACTIONS).scores

    n = args.minibatch
    generator = torch.Generator().manual_seed(1)
    batch = RolloutBatch(
        prompts=[prompts[i % len(prompts)] for i in range(n)],
        actions=torch.randint(0, len(ACTIONS), (n,), generator=generator),
        log_probs=torch.full((n,), -1.8),
        values=torch.zeros(n),
        advantages=torch.randn(n, generator=generator),
        returns=torch.randn(n, generator=generator),
    )
    index = [torch.arange(n)]
    update = timed(lambda: group._optimise(batch, index, list(ACTIONS)), args.update_repeats, 1)
    if rank == 0:
        result = {
            "world_size": world,
            "scoring": score,
            "scoring_actions_per_s_wall": len(prompts) * len(ACTIONS) / score["wall_s"],
            "update": update,
            "max_abs_diff_vs_one_process": float((scores - reference).abs().max()),
            "load_avg": list(os.getloadavg()),
        }
        Path(args.out).write_text(json.dumps(result, indent=2))
    dist.destroy_process_group()
    return 0


def _launch(workers: int, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={workers}",
            str(Path(__file__).resolve()),
            "--worker",
            "--out",
            str(out),
            "--repeats",
            str(args.repeats),
            "--update-repeats",
            str(args.update_repeats),
            "--warmup",
            str(args.warmup),
            "--minibatch",
            str(args.minibatch),
        ]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env)
        result = json.loads(out.read_text())
        result["launch_wall_s"] = time.perf_counter() - started
        return result


def _markdown(payload: dict) -> str:
    m, s = payload["machine"], payload["settings"]
    rows = payload["results"]
    one = rows.get("workers_1")
    lines = [
        "# GLAM data-parallel replicas: 2 torchrun workers vs 1 (MISSION A5)",
        "",
        f"Commit `{payload['commit']}`, {m['cpu_model']} ({m['cpu_count']} cores), "
        f"{m['date_utc']}. torchrun (gloo, CPU), one torch thread per process, tiny T5, "
        "the 32 prompts of `bench/glam_scoring.py` x 6 actions. Median of "
        f"{s['repeats']} scoring calls and {s['update_repeats']} updates "
        f"(minibatch {s['minibatch']} transitions, dropout off as in training) after "
        "warm-up.",
        "",
        "| workers | scoring wall s/call | actions/s (wall) | scoring CPU s/call (all ranks) "
        "| update wall s | update CPU s (all ranks) | speed-up scoring (wall) "
        "| speed-up update (wall) | max abs score diff vs 1 process | load avg (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows.values():
        sc, up = r["scoring"], r["update"]
        speed_s = one["scoring"]["wall_s"] / sc["wall_s"] if one else float("nan")
        speed_u = one["update"]["wall_s"] / up["wall_s"] if one else float("nan")
        lines.append(
            f"| {r['world_size']} | {sc['wall_s']:.3f} | {r['scoring_actions_per_s_wall']:.0f} | "
            f"{sc['cpu_s_all_ranks']:.3f} | {up['wall_s']:.3f} | {up['cpu_s_all_ranks']:.3f} | "
            f"{speed_s:.2f} | {speed_u:.2f} | {r['max_abs_diff_vs_one_process']:.1e} | "
            f"{r['load_avg'][0]:.1f} |"
        )
    lines += [
        "",
        "What these numbers can and cannot show: the machine has 2 CPU cores, shared with "
        "other jobs (load averages in the table), so a second worker process can at best "
        "use the second core and at worst competes with the first. The wall-clock "
        "speed-up therefore measures how much CPU the second process got, not the "
        "scalability of the design; the ideal is 2x per doubling with one free core or "
        "GPU per worker. The CPU time summed over ranks shows the cost of splitting: the "
        "communication (pickled scores gathered over gloo, one gradient all-reduce per "
        "minibatch) and the per-call work every rank repeats (tokenising its shard, the "
        "position bias); with a shard per rank the arithmetic itself is not duplicated. "
        "The score difference column checks that splitting does not change the result.",
        "",
        "Produced by `python bench/glam_distributed.py`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--update-repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--minibatch", type=int, default=64)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)

    sys.path.insert(0, str(ROOT / "bench"))
    from common import git_commit, machine_info, write_results

    results: dict = {}
    for workers in args.workers:
        results[f"workers_{workers}"] = _launch(workers, args)
        r = results[f"workers_{workers}"]
        print(
            f"[{NAME}] {workers} worker(s): scoring {r['scoring']['wall_s']:.3f} s/call, "
            f"update {r['update']['wall_s']:.3f} s",
            flush=True,
        )
        payload = {
            "benchmark": NAME,
            "machine": machine_info(("torch", "transformers")),
            "commit": git_commit(),
            "settings": {k: v for k, v in vars(args).items() if k not in ("worker", "out")},
            "results": results,
        }
        write_results(NAME, payload, _markdown(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Throughput of BabyAI-Text: environment steps per second for N vectorised envs.

Modes (one function each, in ``MODES``):
- ``inprocess``: ``VectorBabyAITextEnv`` in this Python process (minigrid step +
  A1 descriptions + auto-reset), without and with building GLAM's A2 prompt for
  every env each step;
- ``ros``: the same batch served by the ``babyai_text_env`` node in another
  process, stepped through its ``~/step`` service over Fast DDS (one round trip
  per batch step, text observations coming back).

    python bench/babyai_text.py                         # both modes, 32 envs, MixedTrainLocal
    python bench/babyai_text.py --mode ros --steps 200

Writes bench/results/babyai_text.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine_info, write_results

from grounded_core.babyai_text import VectorBabyAITextEnv

BIN = Path(sys.executable).parent


def _rates_summary(rates: list[float], num_envs: int, episodes: int) -> dict:
    return {
        "env_steps_per_s_median": statistics.median(rates),
        "env_steps_per_s_best": max(rates),
        "env_steps_per_s_all": rates,
        "batch_steps_per_s_median": statistics.median(rates) / num_envs,
        "episodes_finished": episodes,
    }


def bench_inprocess(args: argparse.Namespace) -> dict:
    """Env steps/s of VectorBabyAITextEnv in this process, without and with prompts."""
    results: dict = {}
    for label, prompts in (("inprocess_env_only", False), ("inprocess_with_prompts", True)):
        rates, episodes = [], 0
        for rep in range(args.repeats):
            vec = VectorBabyAITextEnv(args.level, args.num_envs, base_seed=args.seed + 1000 * rep)
            rng = np.random.default_rng(args.seed + rep)
            vec.reset()
            start = time.perf_counter()
            for _ in range(args.steps):
                if prompts:
                    vec.prompts()
                _, _, dones, _ = vec.step(rng.integers(0, 6, size=vec.num_envs))
                episodes += int(dones.sum())
            rates.append(args.num_envs * args.steps / (time.perf_counter() - start))
        results[label] = _rates_summary(rates, args.num_envs, episodes)
    return results


def bench_ros(args: argparse.Namespace) -> dict:
    """Env steps/s through the babyai_text_env node (service round trip per batch step)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from grounded_interfaces.srv import TextEnvReset, TextEnvStep

    workdir = Path(tempfile.mkdtemp(prefix="bench-babyai-"))
    env = {
        **os.environ,
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": str(os.environ.get("ROS_DOMAIN_ID", 60 + os.getpid() % 40)),
        "ROS_LOG_DIR": str(workdir),
    }
    os.environ.update(env)
    node = subprocess.Popen(
        [
            str(BIN / "babyai_text_env"),
            "--ros-args",
            "-p",
            f"level:={args.level}",
            "-p",
            f"num_envs:={args.num_envs}",
            "-p",
            f"seed:={args.seed}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    rclpy.init()
    client_node = rclpy.create_node("babyai_bench_client")
    executor = SingleThreadedExecutor()
    executor.add_node(client_node)

    def call(client, request):
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=30.0)
        if not future.done():
            raise TimeoutError("service call timed out")
        return future.result()

    try:
        reset = client_node.create_client(TextEnvReset, "/babyai_text_env/reset")
        step = client_node.create_client(TextEnvStep, "/babyai_text_env/step")
        if not (
            reset.wait_for_service(timeout_sec=30.0) and step.wait_for_service(timeout_sec=30.0)
        ):
            raise RuntimeError("babyai_text_env did not come up")
        rates, episodes, latencies = [], 0, []
        for rep in range(args.repeats):
            call(reset, TextEnvReset.Request())
            rng = np.random.default_rng(args.seed + rep)
            start = time.perf_counter()
            for _ in range(args.steps):
                t0 = time.perf_counter()
                reply = call(
                    step,
                    TextEnvStep.Request(
                        action_ids=[int(a) for a in rng.integers(0, 6, size=args.num_envs)]
                    ),
                )
                latencies.append((time.perf_counter() - t0) * 1e3)
                if not reply.success:
                    raise RuntimeError(reply.message)
                episodes += sum(reply.dones)
            rates.append(args.num_envs * args.steps / (time.perf_counter() - start))
    finally:
        client_node.destroy_node()
        rclpy.try_shutdown()
        node.terminate()
        node.wait(timeout=10)
    summary = _rates_summary(rates, args.num_envs, episodes)
    summary["round_trip_ms_p50"] = float(np.percentile(latencies, 50))
    summary["round_trip_ms_p90"] = float(np.percentile(latencies, 90))
    return {"ros_service_round_trip": summary}


MODES: dict[str, Callable[[argparse.Namespace], dict]] = {
    "inprocess": bench_inprocess,
    "ros": bench_ros,
}


def _markdown(payload: dict) -> str:
    m, s = payload["machine"], payload["settings"]
    rows = "\n".join(
        f"| {label} | {r['env_steps_per_s_median']:.0f} | {r['env_steps_per_s_best']:.0f} "
        f"| {r['batch_steps_per_s_median']:.1f} | {r.get('round_trip_ms_p50', float('nan')):.1f} "
        f"| {r['episodes_finished']} |"
        for label, r in payload["results"].items()
    )
    return f"""# BabyAI-Text throughput: {s["num_envs"]} vectorised envs, {s["level"]}

Commit `{payload["commit"]}`, {m["cpu_model"]} ({m["cpu_count"]} cores), {m["date_utc"]}.
{s["steps"]} batch steps x {s["repeats"]} repeats per measurement, uniform random actions.

| measurement | env steps/s (median) | best | batch steps/s | round trip p50 (ms) | episodes |
|---|---|---|---|---|---|
{rows}

- `inprocess_env_only`: `VectorBabyAITextEnv.step` (minigrid step, A1 descriptions, auto-reset).
- `inprocess_with_prompts`: the same plus GLAM's A2 prompt for every env each step.
- `ros_service_round_trip`: the `babyai_text_env` node in another process, one
  `~/step` service call per batch step (actions out, text observations back).

Produced by `python bench/babyai_text.py`.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=[*sorted(MODES), "all"], default="all")
    parser.add_argument("--level", default="MixedTrainLocal")
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300, help="batch steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    modes = list(MODES) if args.mode == "all" else [args.mode]
    results: dict = {}
    for mode in modes:
        print(f"[babyai_text] {mode} ...", flush=True)
        results.update(MODES[mode](args))
    payload = {
        "benchmark": "babyai_text",
        "machine": machine_info(("minigrid", "numpy", "ros-jazzy-rclpy")),
        "commit": git_commit(),
        "settings": {k: v for k, v in vars(args).items() if k != "mode"} | {"modes": modes},
        "results": results,
    }
    markdown = _markdown(payload)
    write_results("babyai_text", payload, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``grounded-demo``: the main demo end to end (see the package docstring).

    grounded-demo                                   # config/demo.yaml
    grounded-demo --instruction "stack the red object on the blue object" --seed 3
    grounded-demo --set caption_source=state --set planner_model=tiny-llama
    grounded-demo --retrain                         # train the policy from scratch

Outputs in ``output_dir`` (runs/demo): ``episode.mp4``, ``learning_curve.png``,
``summary.json``, ``launch.log`` (every node's output). Exit code 0 when the
policy reports every sub-goal detected and the simulator reports the task
solved; 1 when the episode failed (the report says which sub-goal and what was
detected); 2 on a bad setting; 3 when the demo could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import REPO_ROOT, DemoConfig, DemoConfigError, load_demo_config

EXIT_FAILED, EXIT_BAD_CONFIG, EXIT_ERROR = 1, 2, 3


def _say(text: str) -> None:
    print(text, flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="grounded-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="demo YAML (default config/demo.yaml)")
    parser.add_argument("--instruction", default=None, help="instruction sent to the robot")
    parser.add_argument("--task", default=None, help="simulator task (and policy task)")
    parser.add_argument("--seed", type=int, default=None, help="layout seed")
    parser.add_argument("--output-dir", default=None, help="where the video and plot go")
    parser.add_argument("--retrain", action="store_true", help="train the policy from scratch")
    parser.add_argument(
        "--set", action="append", default=[], help="key=value (train.key=value for training)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--train-only", action="store_true", help="ensure the models, then stop")
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> DemoConfig:
    config = load_demo_config(args.config, args.set)
    changes = {}
    if args.instruction is not None:
        changes["instruction"] = args.instruction
    if args.task is not None:
        changes["task"] = args.task
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.output_dir is not None:
        changes["output_dir"] = args.output_dir
    return config.replace(**changes) if changes else config


def _instruction(config: DemoConfig) -> str:
    if config.instruction.strip():
        return config.instruction.strip()
    from grounded_core.tabletop.tasks import get_task
    from grounded_core.tabletop.world_config import load_world_config

    return get_task(config.task, load_world_config("tabletop")).instruction


class Launch:
    """launch/demo.launch.yaml under grounded-launch, output to a log file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        launcher = Path(sys.executable).parent / "grounded-launch"
        if not launcher.exists():
            raise FileNotFoundError(f"{launcher} not found: run scripts/install.sh")
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(launcher), str(REPO_ROOT / "launch" / "demo.launch.yaml"), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO_ROOT,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT the launcher (it stops every node), SIGKILL the group after timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode


def run(config: DemoConfig, *, retrain: bool, progress: bool, train_only: bool) -> int:
    from .models import ensure_captioner, ensure_policy
    from .plot import plot_learning_curve
    from .recorder import EpisodeRecorder, video_info

    out = config.path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    instruction = _instruction(config)
    t0 = time.monotonic()
    _say(f"demo: task {config.task}, seed {config.seed}, instruction '{instruction}'")
    policy = ensure_policy(config, retrain=retrain, progress=progress)
    _say(f"demo: policy {policy.path} ({policy.source})")
    curve_png = plot_learning_curve(
        policy.curve, out / "learning_curve.png", f"Collect & Infer: {config.task}"
    )
    _say(f"demo: learning curve -> {curve_png}")
    captioner = ensure_captioner(config, progress=progress)
    models_s = time.monotonic() - t0
    if train_only:
        return 0

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    profile = str(REPO_ROOT / "config" / "fastdds_large_data.xml")
    os.environ.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", profile)
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", profile)
    launch_args = [
        f"task:={config.task}",
        f"seed:={config.seed}",
        f"policy_weights:={policy.path}",
        f"caption_source:={config.caption_source}",
        f"captioner_model:={captioner}",
        f"planner_model:={config.planner_model}",
        f"planner:={'false' if config.sub_goals else 'true'}",
        f"camera_rate_hz:={config.camera_rate_hz}",
        f"steps_per_sub_goal:={config.steps_per_sub_goal}",
    ]
    _say(
        "demo: starting the graph (tabletop_sim, "
        + ("captioner, " if config.caption_source == "topic" else "")
        + ("planner, " if not config.sub_goals else "")
        + f"policy); node output in {out / 'launch.log'}"
    )
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from .client import DemoClient, DemoError

    recorder = EpisodeRecorder(
        out / "episode.mp4", list(config.video_cameras), config.camera_rate_hz, config.video_scale
    )
    launch = Launch(launch_args, out / "launch.log")
    context = rclpy.Context()
    rclpy.init(context=context)
    client = None
    summary: dict = {"task": config.task, "seed": config.seed, "instruction": instruction}
    code = EXIT_ERROR
    try:
        client = DemoClient(
            context,
            recorder,
            use_captioner=config.caption_source == "topic",
            alive=launch.alive,
            say=_say,
        )
        t_launch = time.monotonic()
        need_planner = not config.sub_goals
        client.wait_ready(config.startup_timeout_s, need_planner)
        summary["startup_s"] = round(time.monotonic() - t_launch, 1)
        if need_planner:
            t_plan = time.monotonic()
            plan, planned_by = client.make_plan(instruction, config.startup_timeout_s)
            summary["planned_by"] = planned_by
            _say(f"demo: plan from the planner ({planned_by}, {time.monotonic() - t_plan:.1f} s):")
        else:
            plan = list(config.sub_goals)
            _say("demo: plan (given in the config):")
        for i, sub_goal in enumerate(plan, 1):
            _say(f"  {i}. {sub_goal}")
        _say(
            f"demo: executing; captions judged by the "
            f"{'captioner' if config.caption_source == 'topic' else 'simulator state'}"
        )
        _say(f"  [  0.0 s] sub-goal 1: {plan[0]}")
        outcome = client.execute(
            instruction, plan, config.steps_per_sub_goal, config.episode_timeout_s
        )
        video = recorder.close()
        frames, width, height = video_info(video) if video else (0, 0, 0)
        ok = outcome.success and outcome.task_success
        _say(
            f"demo: {'SUCCESS' if ok else 'FAILURE'} in {outcome.steps} primitives, "
            f"{outcome.seconds:.1f} s: {outcome.message}"
        )
        if outcome.success != outcome.task_success:
            _say(
                f"demo: the policy's captions say {'done' if outcome.success else 'not done'}, "
                f"the simulator says {'solved' if outcome.task_success else 'not solved'}"
            )
        _say(f"demo: video -> {video} ({frames} frames, {width}x{height})")
        summary.update(
            plan=plan,
            success=outcome.success,
            task_success=outcome.task_success,
            message=outcome.message,
            steps=outcome.steps,
            failed_sub_goal=outcome.failed_sub_goal,
            detections=outcome.detections,
            episode_s=outcome.seconds,
            video=str(video) if video else None,
            video_frames=frames,
        )
        code = 0 if ok else EXIT_FAILED
    except DemoError as error:
        _say(f"demo: ERROR: {error}\n--- last lines of {launch.log_path} ---\n{launch.tail()}")
        summary["error"] = str(error)
    except (KeyboardInterrupt, ExternalShutdownException):
        _say("demo: interrupted; stopping the launch")
        summary["error"] = "interrupted"
        code = 130
    finally:
        recorder.close()
        if client is not None:
            client.close()
        rclpy.try_shutdown(context=context)
        launch_code = launch.stop()
        summary.update(
            policy=str(policy.path),
            policy_source=policy.source,
            policy_train_s=round(policy.train_s, 1),
            models_s=round(models_s, 1),
            learning_curve=str(curve_png),
            caption_source=config.caption_source,
            planner_model=config.planner_model,
            launch_exit=launch_code,
            total_s=round(time.monotonic() - t0, 1),
            exit_code=code,
        )
        tmp = out / ".summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, out / "summary.json")
        _say(f"demo: launch stopped (exit {launch_code}); summary -> {out / 'summary.json'}")
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        config = _config(args)
    except DemoConfigError as error:
        print(f"grounded-demo: error: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        return run(
            config, retrain=args.retrain, progress=not args.no_progress, train_only=args.train_only
        )
    except KeyboardInterrupt:
        print("grounded-demo: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        print(f"grounded-demo: error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())

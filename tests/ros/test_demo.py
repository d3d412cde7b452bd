"""The main demo (`make demo` -> scripts/demo.sh -> grounded-demo) end to end over DDS.

Fast: the committed policy checkpoint, an explicit plan and captions judged from
the simulator's object states (no captioner, no planner): the plan and the
detections are printed, the simulator reports success, the video and the
learning-curve plot are valid files, and the launch is shut down cleanly. A bad
setting exits with code 2 before anything starts.
Slow: the full default graph (CLIP captioner judging, planner) with the embedded
tiny test LLM as planner, and training a policy from scratch with a tiny budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from tests.ros.harness import REPO_ROOT, VENV_BIN

pytestmark = pytest.mark.ros

PLAN = ["The robot is grasping the red object", "The red object is on top of the blue object"]


def run_demo(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """scripts/demo.sh (what `make demo` runs after installing) with grounded-demo args."""
    if not (VENV_BIN / "grounded-demo").exists():
        pytest.skip("grounded-demo not installed: run scripts/install.sh")
    env = {
        **os.environ,
        "ROS_LOG_DIR": str(tmp_path / "roslog"),
        "VENV": str(VENV_BIN.parent),
    }
    return subprocess.run(
        ["bash", "scripts/demo.sh", "--output-dir", str(tmp_path / "out"), "--no-progress", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_outputs(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    video = out / "episode.mp4"
    capture = cv2.VideoCapture(str(video))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert frames >= 5 and frames == summary["video_frames"], summary
    plot = cv2.imread(str(out / "learning_curve.png"))
    assert plot is not None and plot.shape[0] > 100 and plot.shape[1] > 100
    assert summary["launch_exit"] == 0  # SIGINT stopped every node cleanly
    return summary


def test_demo_with_state_captions_and_explicit_plan(tmp_path):
    run = run_demo(
        tmp_path,
        "--seed",
        "0",
        "--set",
        "caption_source=state",
        "--set",
        "sub_goals=" + ";".join(PLAN),
    )
    text = run.stdout + run.stderr
    assert run.returncode == 0, text[-4000:]
    assert "plan (given in the config):" in text
    assert f"  1. {PLAN[0]}" in text and f"  2. {PLAN[1]}" in text
    assert f"detected: {PLAN[0]}" in text and f"detected: {PLAN[1]}" in text
    assert "demo: SUCCESS" in text
    summary = check_outputs(tmp_path / "out")
    assert summary["success"] and summary["task_success"] and summary["plan"] == PLAN
    assert summary["policy_source"] == "committed"
    detected = [text for _, text in summary["detections"]]
    assert detected.index(PLAN[0]) < detected.index(PLAN[1])


def test_bad_setting_exits_2_before_starting(tmp_path):
    run = run_demo(tmp_path, "--set", "caption_source=telepathy", timeout=60)
    assert run.returncode == 2
    assert "caption_source must be one of" in run.stderr
    run = run_demo(tmp_path, "--set", "no_such_key=1", timeout=60)
    assert run.returncode == 2 and "unknown demo setting 'no_such_key'" in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_demo_default_graph_with_captioner_and_tiny_planner(tmp_path):
    run = run_demo(tmp_path, "--set", "planner_model=tiny-llama", timeout=900)
    text = run.stdout + run.stderr
    assert run.returncode in (0, 1), text[-4000:]
    assert "demo: plan from the planner (tiny-llama" in text
    summary = check_outputs(tmp_path / "out")
    for i, sub_goal in enumerate(summary["plan"], 1):
        assert f"  {i}. {sub_goal}" in text
    assert ("demo: SUCCESS" in text) == (run.returncode == 0)


@pytest.mark.slow
def test_retrain_trains_a_policy_and_plots_its_curve(tmp_path):
    run = run_demo(
        tmp_path,
        "--retrain",
        "--train-only",
        "--set",
        f"policy_run_dir={tmp_path / 'policy'}",
        "--set",
        "train.max_env_steps=40",
        "--set",
        "train.n_actors=2",
        "--set",
        "train.episodes_per_update=2",
        "--set",
        "train.eval_episodes=2",
        "--set",
        "train.stop_success=null",
        timeout=600,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "(trained)" in run.stdout
    ckpts = (
        tmp_path / "policy" / "stack_red_on_blue" / "tasks" / "stack_red_on_blue" / "checkpoints"
    )
    assert (ckpts / "LATEST").is_file()
    assert cv2.imread(str(tmp_path / "out" / "learning_curve.png")) is not None


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

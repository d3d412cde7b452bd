"""The grounded-babyai command line: listings, replay, play, expert, and clean errors."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grounded_core.babyai_text.cli import main


def run(argv, stdin=""):
    out = io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=out)
    return code, out.getvalue()


def test_levels_and_variants_listings():
    code, out = run(["levels"])
    assert code == 0 and "MixedTrainLocal" in out and "BabyAI-GoToLocal-v0" in out
    code, out = run(["variants"])
    assert code == 0 and "invented_words" in out and "no_meaning_words" in out


def test_replay_json():
    code, out = run(
        [
            "replay",
            "GoToLocal",
            "--seed",
            "3",
            "--actions",
            "go forward, 0 ,go forward",
            "--json",
            "--prompt",
        ]
    )
    assert code == 0
    data = json.loads(out)
    assert data["mission"] == "go to the red key"
    assert [s["action"] for s in data["steps"]] == ["go forward", "turn left", "go forward"]
    assert data["steps"][1]["descriptions"][0] == "You see a wall 1 step forward"
    assert data["initial_prompt"].endswith("\n Action 0: ")
    assert data["length"] == 3 and data["done"] is False


def test_replay_until_success_ignores_the_rest():
    from grounded_core.babyai_text import run_expert

    traj = run_expert("GoToRedBall", seed=5)
    actions = ",".join([*traj.action_names, "toggle", "drop"])
    code, out = run(["replay", "GoToRedBall", "--seed", "5", "--actions", actions])
    assert code == 0
    assert "Result: success" in out and "ignored: toggle, drop" in out
    assert f"{traj.length} steps" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "GoToMoon", "--seed", "0", "--actions", "drop"], "unknown level 'GoToMoon'"),
        (["replay", "GoToLocal", "--seed", "0", "--actions", "fly"], "unknown action 'fly'"),
        (
            ["replay", "GoToLocal", "--seed", "0", "--actions", "drop", "--variant", "x"],
            "unknown variant 'x'",
        ),
        (["play", "MixedTrainLocal", "--task-kind", "swim"], "unknown task kind 'swim'"),
        (["expert", "GoToLocal", "--seeds", "a:b"], "--seeds"),
    ],
)
def test_bad_names_exit_2_with_one_error_line(argv, message, capsys):
    code, _ = run(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_play_scripted_session():
    code, out = run(
        ["play", "GoToLocal", "--seed", "3", "--prompt"],
        stdin="help\ngo forward\nfly\n1\nreset\nquit\n",
    )
    assert code == 0
    assert "Mission: go to the red key" in out
    assert "[1/64] go forward -> reward 0.0000" in out
    assert "error: unknown action 'fly'" in out
    assert "[2/64] turn right" in out
    assert "-- new episode 1" in out
    assert "Possible action of the agent:" in out


def test_play_shows_the_end_of_an_episode():
    from grounded_core.babyai_text import run_expert

    traj = run_expert("GoToRedBall", seed=2)
    code, out = run(["play", "GoToRedBall", "--seed", "2"], "\n".join(traj.action_names) + "\n")
    assert code == 0 and "Episode over: success" in out


def test_expert_writes_jsonl(tmp_path):
    path = tmp_path / "demos.jsonl"
    code, out = run(["expert", "PickupLocal", "--seeds", "0:3", "--out", str(path)])
    assert code == 0 and "from 3 seeds" in out
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert {r["seed"] for r in records} == {0, 1, 2}


def test_python_dash_m_entry_point():
    src = Path(__file__).resolve().parents[2] / "src" / "grounded_core"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grounded_core.babyai_text",
            "replay",
            "GoToLocal",
            "--seed",
            "0",
            "--actions",
            "jump",
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src)},
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown action 'jump'")

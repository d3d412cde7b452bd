"""grounded-glam: train/resume, eval, table, bc, config; bad input exits with status 2."""

from __future__ import annotations

import json

import pytest

from grounded_core.data import CheckpointManager, read_manifest
from grounded_core.learning.glam_cli import main

TINY = [
    "env.level=GoToRedBallNoDists",
    "env.max_steps=5",
    "ppo.num_envs=2",
    "ppo.steps_per_env=4",
    "ppo.minibatch_size=8",
    "ppo.epochs=1",
    "ppo.lr=1e-3",
    "train.progress=false",
    "train.tensorboard=false",
]


def test_train_then_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--updates", "1", *TINY]) == 0
    out = capsys.readouterr().out
    assert "finished at update 1 (8 env steps)" in out
    assert main(["train", "--run-dir", str(run), "--resume", "--updates", "1"]) == 0
    assert "finished at update 2 (16 env steps)" in capsys.readouterr().out
    latest = CheckpointManager(run / "checkpoints").latest()
    assert read_manifest(latest)["update"] == 2
    # The trained policy can be evaluated straight from the run directory.
    assert (
        main(
            [
                "eval",
                "--model",
                str(run),
                "--level",
                "GoToRedBallNoDists",
                "--episodes",
                "2",
                "--max-steps",
                "5",
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["episodes"] == 2 and result["agent"] == "run"


def test_train_reads_the_repository_config_and_overrides(tmp_path, capsys):
    from tests.conftest import REPO_ROOT

    assert main(["config", "--config", str(REPO_ROOT / "config" / "glam.yaml"), "ppo.lr=3e-4"]) == 0
    out = capsys.readouterr().out
    assert "lr: 0.0003" in out and "reward_scale: 20.0" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "env.level=NoSuchLevel"], "unknown level 'NoSuchLevel'"),
        (["train", "ppo.nope=1"], "unknown key 'ppo.nope'"),
        (["train", "--resume"], "--resume needs --run-dir"),
        (["eval", "--random", "--level", "NoSuchLevel"], "unknown level"),
        (
            ["eval", "--random", "--level", "GoToLocal", "--variant", "klingon"],
            "unknown variant 'klingon'",
        ),
        (["eval", "--model", "/nonexistent/model", "--level", "GoToLocal"], "/nonexistent/model"),
        (["bc", "--level", "NoSuchLevel"], "unknown level"),
        (["table", "--no-random"], "nothing to evaluate"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    if argv[:2] == ["train", "--resume"]:
        argv = argv
    elif argv[0] == "train":
        argv = [*argv[:1], "--run-dir", str(tmp_path / "r"), *argv[1:]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_resume_without_checkpoint_and_argparse_errors(tmp_path, capsys):
    assert main(["train", "--resume", "--run-dir", str(tmp_path / "empty")]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["eval", "--random", "--level", "GoToLocal", "--episodes", "0"])
    assert info.value.code == 2


def test_eval_random_and_table(tmp_path, capsys):
    assert main(["eval", "--random", "--level", "GoToRedBallNoDists", "--episodes", "3"]) == 0
    assert "random on GoToRedBallNoDists [none]: success" in capsys.readouterr().out
    out_dir = tmp_path / "table"
    assert main(["table", "--episodes", "1", "--num-envs", "1", "--out", str(out_dir)]) == 0
    table = capsys.readouterr().out
    assert "| in-distribution |" in table and "| French |" in table
    assert (out_dir / "generalisation.csv").read_text().count("\n") == 7  # header + 6 tests


def test_behaviour_cloning_command(tmp_path, capsys):
    out = tmp_path / "bc"
    argv = [
        "bc",
        "--level",
        "GoToRedBallNoDists",
        "--demos",
        "2",
        "--epochs",
        "1",
        "--eval-episodes",
        "1",
        "--out",
        str(out),
        "--dropout",
        "0",
    ]
    assert main(argv) == 0
    summary = json.loads((out / "bc_result.json").read_text())
    assert summary["samples"] > 0 and summary["evaluation"]["episodes"] == 1
    assert (out / "policy" / "grounded_policy.json").is_file()
    assert "bc on GoToRedBallNoDists" in capsys.readouterr().out

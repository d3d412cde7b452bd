"""The grounded-launch command: --dry-run, --show-args, argument syntax, exit codes."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from grounded_ros.launcher.cli import main, parse_launch_arguments

LAUNCH = """\
launch:
  - arg: {name: robot, description: which robot}
  - arg: {name: rate, default: $(env RATE '10')}
  - set_env: {name: GREETING, value: hi}
  - group:
      children:
        - push-ros-namespace: {namespace: $(var robot)}
        - executable:
            cmd: {python} -c 'print(1)' --rate $(var rate)
            name: worker
            cwd: /
            respawn: 'true'
            respawn_delay: 0.5
            on_exit: shutdown
"""


@pytest.fixture
def launch_file(tmp_path: Path) -> str:
    path = tmp_path / "demo.launch.yaml"
    path.write_text(LAUNCH.replace("{python}", sys.executable))
    return str(path)


def test_dry_run_prints_commands_environment_and_cwd(launch_file, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GREETING", raising=False)
    monkeypatch.delenv("RATE", raising=False)
    code = main([launch_file, "robot:=r1", "--dry-run", "--log-dir", str(tmp_path / "log")])
    out = capsys.readouterr().out
    assert code == 0
    assert f"[worker-1] executable {sys.executable} ({launch_file}:8)" in out
    assert f"  cmd: {sys.executable} -c 'print(1)' --rate 10\n" in out
    assert "  cwd: /\n" in out
    assert "  env: GREETING=hi\n" in out
    assert "  output: screen, respawn: after 0.5s, on_exit: shutdown\n" in out
    assert "#   robot:=r1\n" in out and "#   rate:=10\n" in out
    assert not (tmp_path / "log").exists()  # a dry run writes nothing


def test_dry_run_shows_inline_parameter_files(tmp_path, capsys):
    path = tmp_path / "p.launch.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            launch:
              - node:
                  exec: {sys.executable}
                  name: n
                  param: [{{name: gain, value: 2.5}}]
            """
        )
    )
    assert main([str(path), "--dry-run", "--log-dir", str(tmp_path / "log")]) == 0
    out = capsys.readouterr().out
    params = tmp_path / "log" / "params" / "python-1_params_0.yaml"
    assert f"--params-file {params}" in out
    assert f"  params file {params}:\n" in out
    assert "        gain: 2.5\n" in out


def test_show_args(launch_file, capsys):
    assert main([launch_file, "--show-args"]) == 0
    out = capsys.readouterr().out
    assert "    'robot':\n        which robot\n        (required)\n" in out
    assert "    'rate':\n        no description given\n        (default: '$(env RATE 10)')\n" in out


def test_errors_exit_with_two_and_name_file_and_line(launch_file, capsys):
    assert main([launch_file, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"grounded-launch: error: {launch_file}:2: required launch argument 'robot'" in err

    assert main([launch_file, "robot:=r", "colour:=red", "--dry-run"]) == 2
    assert "unknown launch argument(s) colour" in capsys.readouterr().err

    assert main([launch_file, "robot=r"]) == 2
    assert "launch arguments are written name:=value" in capsys.readouterr().err

    assert main(["/nonexistent/x.launch.yaml", "--dry-run"]) == 2
    assert "cannot read launch file" in capsys.readouterr().err


def test_help_and_usage_errors(capsys):
    assert main(["--help"]) == 0
    assert "exit codes" in capsys.readouterr().out
    assert main([]) == 2


def test_parse_launch_arguments():
    assert parse_launch_arguments(["a:=1", "b:=", "c:=x:=y"]) == {"a": "1", "b": "", "c": "x:=y"}
    with pytest.raises(ValueError):
        parse_launch_arguments([":=1"])

"""Evaluating launch files: arguments, includes, scopes, namespaces, parameters, executables."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from grounded_ros.launcher.errors import LaunchError, LaunchFileError
from grounded_ros.launcher.evaluate import evaluate
from grounded_ros.launcher.names import prefix_namespace
from grounded_ros.launcher.resolve import (
    ExecutableNotFoundError,
    PackageNotFoundError,
    find_package_share,
    resolve_node_executable,
)

PY = sys.executable


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def prefix(tmp_path, monkeypatch):
    """A fake colcon install prefix holding package 'fakepkg' with executable 'talker'."""
    root = tmp_path / "install"
    index = root / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "fakepkg").write_text("")
    (root / "share" / "fakepkg" / "config").mkdir(parents=True)
    (root / "share" / "fakepkg" / "config" / "p.yaml").write_text("/**:\n  ros__parameters: {}\n")
    lib = root / "lib" / "fakepkg"
    lib.mkdir(parents=True)
    talker = lib / "talker"
    talker.write_text(f"#!{PY}\nprint('talker')\n")
    talker.chmod(0o755)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(root))
    return root


def run(path: str, tmp_path: Path, **arguments: str):
    return evaluate(path, arguments, params_dir=str(tmp_path / "params"))


def node_file(tmp_path: Path, body: str, name: str = "n.launch.yaml") -> str:
    return write(tmp_path, name, "launch:\n" + textwrap.indent(textwrap.dedent(body), "  "))


# -- arguments -----------------------------------------------------------------------


ARGS = """\
launch:
  - arg: {name: rate, default: '10'}
  - arg: {name: robot, description: the robot to run}
  - executable: {cmd: echo $(var robot) $(var rate), name: show}
"""


def test_arguments_from_command_line_and_defaults(tmp_path):
    path = write(tmp_path, "a.launch.yaml", ARGS)
    plan = run(path, tmp_path, robot="r2")
    assert plan.processes[0].cmd == ["echo", "r2", "10"]
    assert plan.arguments == {"rate": "10", "robot": "r2"}
    assert run(path, tmp_path, robot="r2", rate="5").processes[0].cmd == ["echo", "r2", "5"]


def test_missing_required_argument_names_file_and_line(tmp_path):
    path = write(tmp_path, "a.launch.yaml", ARGS)
    with pytest.raises(LaunchFileError) as info:
        run(path, tmp_path)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: required launch argument 'robot'")
    assert "the robot to run" in str(info.value) and "robot:=VALUE" in str(info.value)


def test_unknown_command_line_argument_is_an_error(tmp_path):
    path = write(tmp_path, "a.launch.yaml", ARGS)
    with pytest.raises(LaunchError, match=r"unknown launch argument.*robto"):
        run(path, tmp_path, robot="r", robto="x")


def test_reserved_configurations_need_no_declaration(tmp_path):
    path = write(tmp_path, "a.launch.yaml", ARGS)
    plan = run(path, tmp_path, robot="r", sigterm_timeout="0.5", sigkill_timeout="0.25")
    assert (plan.processes[0].sigterm_timeout, plan.processes[0].sigkill_timeout) == (0.5, 0.25)


def test_choices_are_checked(tmp_path):
    path = node_file(tmp_path, "- arg: {name: m, default: a, choice: [{value: a}, {value: b}]}\n")
    run(path, tmp_path, m="b")
    with pytest.raises(LaunchFileError, match="not one of"):
        run(path, tmp_path, m="c")


def test_let_and_conditions(tmp_path):
    body = """\
    - arg: {name: sim, default: 'true'}
    - let: {name: who, value: x$(var sim)}
    - executable: {cmd: echo $(var who), name: on_sim, if: $(var sim)}
    - executable: {cmd: echo no, name: off_sim, unless: $(var sim)}
    """
    path = node_file(tmp_path, body)
    assert [p.label for p in run(path, tmp_path).processes] == ["on_sim-1"]
    assert run(path, tmp_path).processes[0].cmd == ["echo", "xtrue"]
    assert [p.label for p in run(path, tmp_path, sim="0").processes] == ["off_sim-1"]
    with pytest.raises(LaunchFileError, match="'if' must be true, false, 1 or 0"):
        run(path, tmp_path, sim="maybe")


# -- includes --------------------------------------------------------------------------


def test_include_passes_arguments_and_resolves_dirname(tmp_path):
    write(
        tmp_path,
        "sub/inner.launch.yaml",
        """\
        launch:
          - arg: {name: robot}
          - arg: {name: color, default: red}
          - executable: {cmd: echo $(var robot) $(var color) $(dirname), name: inner}
        """,
    )
    outer = write(
        tmp_path,
        "outer.launch.yaml",
        """\
        launch:
          - include:
              file: $(dirname)/sub/inner.launch.yaml
              arg: [{name: robot, value: r7}]
          - executable: {cmd: echo after $(var robot), name: after}
        """,
    )
    processes = run(outer, tmp_path).processes
    assert processes[0].cmd == ["echo", "r7", "red", str(tmp_path / "sub")]
    assert processes[0].location.line == 4
    # As in ros2 launch an include is not scoped: its configurations stay visible.
    assert processes[1].cmd == ["echo", "after", "r7"]
    # Arguments of included files may be given on the command line.
    assert run(outer, tmp_path, color="blue").processes[0].cmd[2] == "blue"


def test_include_without_a_required_argument_is_an_error_at_the_include(tmp_path):
    write(tmp_path, "inner.launch.yaml", "launch:\n  - arg: {name: robot}\n")
    outer = write(
        tmp_path,
        "outer.launch.yaml",
        "launch:\n  - include: {file: $(dirname)/inner.launch.yaml}\n",
    )
    with pytest.raises(LaunchFileError) as info:
        run(outer, tmp_path)
    assert (info.value.file, info.value.line) == (outer, 2)
    assert "needs the argument 'robot'" in info.value.message


def test_include_of_a_missing_file_or_itself_is_an_error(tmp_path):
    missing = write(tmp_path, "m.launch.yaml", "launch:\n  - include: {file: nope.launch.yaml}\n")
    with pytest.raises(LaunchFileError, match="included launch file not found"):
        run(missing, tmp_path)
    loop = write(tmp_path, "loop.launch.yaml", "launch:\n  - include: $(filename)\n")
    with pytest.raises(LaunchFileError, match="includes itself"):
        run(loop, tmp_path)


# -- scopes, namespaces, environment ------------------------------------------------------


def test_nested_groups_compose_namespaces(tmp_path, prefix):
    body = """\
    - group:
        children:
          - push-ros-namespace: {namespace: actor_0}
          - group:
              children:
                - push_ros_namespace: {namespace: sim}
                - node: {pkg: fakepkg, exec: talker, name: a, namespace: cam}
                - node: {pkg: fakepkg, exec: talker, name: b}
                - node: {pkg: fakepkg, exec: talker, name: c, namespace: /abs}
          - node: {pkg: fakepkg, exec: talker, name: d}
    - node: {pkg: fakepkg, exec: talker, name: e}
    - group:
        scoped: false
        children: [{push-ros-namespace: {namespace: leaked}}]
    - node: {pkg: fakepkg, exec: talker, name: f}
    """
    processes = run(node_file(tmp_path, body), tmp_path).processes

    def namespace(spec):
        found = [arg for arg in spec.cmd if arg.startswith("__ns:=")]
        return found[0][len("__ns:=") :] if found else None

    assert [namespace(p) for p in processes] == [
        "/actor_0/sim/cam",
        "/actor_0/sim",
        "/abs",
        "/actor_0",
        None,
        "/leaked",
    ]
    assert [p.label for p in processes] == [f"talker-{i}" for i in range(1, 7)]


def test_prefix_namespace_rules():
    assert prefix_namespace(None, None) is None
    assert prefix_namespace("/a", None) == "/a"
    assert prefix_namespace(None, "b") == "/b"
    assert prefix_namespace("/", "b") == "/b"
    assert prefix_namespace("/a", "b/") == "/a/b"
    assert prefix_namespace("/a", "/b") == "/b"


def test_invalid_namespace_and_node_name_are_errors(tmp_path, prefix):
    bad_ns = node_file(tmp_path, "- node: {pkg: fakepkg, exec: talker, namespace: 1x}\n")
    with pytest.raises(LaunchFileError, match="invalid ROS namespace '/1x'"):
        run(bad_ns, tmp_path)
    bad_name = node_file(tmp_path, "- node: {pkg: fakepkg, exec: talker, name: a-b}\n", "b.yaml")
    with pytest.raises(LaunchFileError, match="invalid node name 'a-b'"):
        run(bad_name, tmp_path)


def test_set_env_applies_to_later_processes_and_is_scoped(tmp_path, monkeypatch):
    monkeypatch.setenv("GONE", "1")
    monkeypatch.delenv("FOO", raising=False)
    body = """\
    - executable: {cmd: echo before, name: before}
    - set_env: {name: FOO, value: outer}
    - group:
        children:
          - set_env: {name: FOO, value: inner}
          - unset_env: {name: GONE}
          - executable: {cmd: echo $(env FOO), name: inside, env: [{name: OWN, value: '1'}]}
    - executable: {cmd: echo $(env FOO), name: after}
    """
    before, inside, after = run(node_file(tmp_path, body), tmp_path).processes
    assert "FOO" not in before.env and before.env_changes == {}
    assert inside.cmd == ["echo", "inner"]
    assert inside.env["FOO"] == "inner" and inside.env["OWN"] == "1" and "GONE" not in inside.env
    assert inside.env_changes == {"FOO": "inner", "OWN": "1", "GONE": None}
    assert after.cmd == ["echo", "outer"] and after.env["GONE"] == "1"


def test_group_without_forwarding_keeps_only_keep(tmp_path, monkeypatch):
    monkeypatch.delenv("FOO", raising=False)
    body = """\
    - arg: {name: a, default: '1'}
    - set_env: {name: FOO, value: x}
    - group:
        forwarding: false
        keep: [{name: b, value: $(var a)}]
        children:
          - executable: {cmd: echo $(var b) $(env FOO unset), name: e}
          - arg: {name: a, default: '2'}
          - executable: {cmd: echo $(var a), name: f}
    """
    first, second = run(node_file(tmp_path, body), tmp_path).processes
    assert first.cmd == ["echo", "1", "unset"]
    assert second.cmd == ["echo", "2"]


# -- substitutions ------------------------------------------------------------------------


def test_env_filename_and_find_pkg_share(tmp_path, prefix, monkeypatch):
    monkeypatch.setenv("SOME", "val")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    body = """\
    - executable:
        cmd: >-
          echo $(env SOME) $(env UNSET_VAR dflt) [$(env UNSET_VAR '')]
          $(filename) $(find-pkg-share fakepkg)/config $(find-pkg-prefix fakepkg)
        name: e
    """
    path = node_file(tmp_path, body)
    cmd = run(path, tmp_path).processes[0].cmd
    assert cmd == [
        "echo",
        "val",
        "dflt",
        "[]",
        path,
        f"{prefix}/share/fakepkg/config",
        str(prefix),
    ]


def test_unset_env_and_unknown_package_are_errors_with_line(tmp_path, prefix, monkeypatch):
    monkeypatch.delenv("UNSET_VAR", raising=False)
    env = node_file(
        tmp_path, "- arg: {name: a, default: '1'}\n- let: {name: b, value: $(env UNSET_VAR)}\n"
    )
    with pytest.raises(LaunchFileError) as info:
        run(env, tmp_path)
    assert info.value.line == 3 and "environment variable 'UNSET_VAR' is not set" in str(info.value)
    pkg = node_file(tmp_path, "- let: {name: b, value: $(find-pkg-share nopkg)}\n", "p.yaml")
    with pytest.raises(LaunchFileError) as info:
        run(pkg, tmp_path)
    assert info.value.line == 2 and "package 'nopkg' not found" in str(info.value)


def test_undefined_var_is_an_error(tmp_path):
    path = node_file(tmp_path, "- let: {name: b, value: $(var nothing)}\n")
    with pytest.raises(LaunchFileError, match="launch configuration 'nothing' is not set"):
        run(path, tmp_path)


def test_find_package_share_searches_prefixes_in_order(tmp_path, prefix, monkeypatch):
    assert find_package_share("fakepkg") == str(prefix / "share" / "fakepkg")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "empty"))
    with pytest.raises(PackageNotFoundError, match=str(tmp_path / "empty")):
        find_package_share("fakepkg")


# -- nodes: command line, parameters ---------------------------------------------------------


def test_node_command_line_is_the_ros2_launch_one(tmp_path, prefix):
    body = """\
    - arg: {name: rate, default: '15'}
    - push-ros-namespace: {namespace: actor_0}
    - node:
        pkg: fakepkg
        exec: talker
        name: talker
        namespace: sim
        args: --fast 'a b'
        param:
          - from: $(find-pkg-share fakepkg)/config/p.yaml
          - {name: rate, value: $(var rate)}
          - {name: text, value: 'true'}
          - {name: flag, value: true}
          - {name: ratio, value: '$(var rate).5'}
          - {name: names, value: [a, b$(var rate)]}
          - name: pid
            param: [{name: kp, value: 0.5}, {name: gains, value: [1, 2]}]
        remap: [{from: chatter, to: /chatter}, {from: x, to: y}]
    """
    spec = run(node_file(tmp_path, body), tmp_path).processes[0]
    exe = str(prefix / "lib" / "fakepkg" / "talker")
    inline = str(tmp_path / "params" / "talker-1_params_0.yaml")
    assert spec.cmd == [
        exe,
        "--fast",
        "a b",
        "--ros-args",
        "-r",
        "__node:=talker",
        "-r",
        "__ns:=/actor_0/sim",
        "--params-file",
        str(prefix / "share" / "fakepkg" / "config" / "p.yaml"),
        "--params-file",
        inline,
        "-r",
        "chatter:=/chatter",
        "-r",
        "x:=y",
    ]
    assert spec.kind == "node" and spec.what == "fakepkg/talker" and spec.label == "talker-1"
    (params_file,) = spec.params_files
    assert params_file.path == inline
    assert yaml.safe_load(params_file.content) == {
        "/actor_0/sim/talker": {
            "ros__parameters": {
                "rate": 15,  # a substitution result is typed with YAML rules
                "text": "true",  # a quoted literal stays a string
                "flag": True,
                "ratio": 15.5,
                "names": ["a", "b15"],
                "pid.kp": 0.5,
                "pid.gains": [1, 2],
            }
        }
    }


def test_inline_params_use_wildcard_without_full_name_and_keep_order(tmp_path, prefix):
    body = """\
    - node:
        pkg: fakepkg
        exec: talker
        ros_args: --log-level debug
        param:
          - {name: a, value: 1}
          - from: $(find-pkg-share fakepkg)/config/p.yaml
          - {name: b, value: 2}
    """
    spec = run(node_file(tmp_path, body), tmp_path).processes[0]
    assert spec.cmd[1:4] == ["--ros-args", "--log-level", "debug"]
    files = [spec.cmd[i + 1] for i, arg in enumerate(spec.cmd) if arg == "--params-file"]
    assert [os.path.basename(f) for f in files] == [
        "talker-1_params_0.yaml",
        "p.yaml",
        "talker-1_params_1.yaml",
    ]
    assert yaml.safe_load(spec.params_files[1].content) == {"/**": {"ros__parameters": {"b": 2}}}


def test_mixed_list_param_and_missing_params_file_are_errors(tmp_path, prefix):
    mixed = node_file(
        tmp_path,
        "- arg: {name: n, default: '1'}\n"
        "- node:\n    pkg: fakepkg\n    exec: talker\n    param:\n"
        "      - {name: l, value: [a, $(var n)]}\n      - {name: m, value: ['1', $(var n)]}\n",
    )
    with pytest.raises(LaunchFileError) as info:
        run(mixed, tmp_path)
    assert info.value.line == 7 and "must have one type" in info.value.message
    missing = node_file(
        tmp_path,
        "- node:\n    pkg: fakepkg\n    exec: talker\n    param:\n"
        "      - from: /nonexistent.yaml\n",
        "m.yaml",
    )
    with pytest.raises(LaunchFileError) as info:
        run(missing, tmp_path)
    assert info.value.line == 6 and "parameters file not found" in info.value.message


def test_process_options(tmp_path, prefix):
    body = """\
    - arg: {name: respawn, default: 'False'}
    - node:
        pkg: fakepkg
        exec: talker
        exec_name: chatty
        output: log
        respawn: true
        respawn_delay: 0.5
        respawn_max_retries: 2
        on_exit: shutdown
        cwd: /
        launch-prefix: nice -n 5
        sigterm_timeout: 1.0
    - executable: {cmd: echo a, shell: true, respawn: $(var respawn)}
    """
    node, executable = run(node_file(tmp_path, body), tmp_path).processes
    assert node.label == "chatty-1" and node.output == "log" and node.cwd == "/"
    assert node.cmd[:3] == ["nice", "-n", "5"]
    assert (node.respawn, node.respawn_delay, node.respawn_max_retries) == (True, 0.5, 2)
    assert node.required is True
    assert (node.sigterm_timeout, node.sigkill_timeout) == (1.0, 5.0)
    assert executable.shell is True and executable.respawn is False and not executable.required
    assert executable.output == "screen" and executable.respawn_max_retries == -1


def test_invalid_output_is_an_error(tmp_path, prefix):
    path = node_file(tmp_path, "- node: {pkg: fakepkg, exec: talker, output: nowhere}\n")
    with pytest.raises(LaunchFileError, match="output must be one of screen, log, both"):
        run(path, tmp_path)


# -- executables --------------------------------------------------------------------------------


def test_resolves_executable_from_an_ament_prefix(prefix):
    assert resolve_node_executable("fakepkg", "talker") == [
        str(prefix / "lib" / "fakepkg" / "talker")
    ]


def test_falls_back_to_a_console_script_of_the_distribution(prefix):
    # pytest is installed with a 'pytest' console script (pytest:console_main).
    cmd = resolve_node_executable("pytest", "pytest")
    assert cmd[:2] == [PY, "-c"]
    result = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "pytest" in result.stdout + result.stderr


def test_unknown_executable_error_names_package_executable_and_places(tmp_path, prefix):
    with pytest.raises(ExecutableNotFoundError) as info:
        resolve_node_executable("fakepkg", "listener")
    message = str(info.value)
    assert "'listener'" in message and "'fakepkg'" in message
    assert str(prefix / "lib" / "fakepkg" / "listener") in message
    path = node_file(tmp_path, "- arg: {name: a, default: b}\n- node: {pkg: fakepkg, exec: nope}\n")
    with pytest.raises(LaunchFileError) as error:
        run(path, tmp_path)
    assert error.value.line == 3


def test_executable_command_must_exist(tmp_path):
    path = node_file(tmp_path, "- executable: {cmd: no-such-program-xyz --flag}\n")
    with pytest.raises(LaunchFileError, match="'no-such-program-xyz' not found on PATH"):
        run(path, tmp_path)

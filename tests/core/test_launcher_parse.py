"""Parsing YAML launch files: schema, substitution syntax, and errors with file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grounded_ros.launcher.description import (
    Arg,
    Executable,
    Group,
    Include,
    InlineParam,
    Let,
    Node,
    ParamFile,
    PushRosNamespace,
    SetEnv,
    UnsetEnv,
)
from grounded_ros.launcher.errors import LaunchFileError
from grounded_ros.launcher.parser import parse_launch_file, split_command_line
from grounded_ros.launcher.substitutions import (
    Substitution,
    SubstitutionSyntaxError,
    parse_text,
    to_source,
)
from grounded_ros.launcher.yaml_loader import LineDict, load_yaml_text


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def parse_error(directory: Path, text: str) -> LaunchFileError:
    path = write(directory, "bad.launch.yaml", text)
    with pytest.raises(LaunchFileError) as info:
        parse_launch_file(path)
    return info.value


# -- YAML with line numbers --------------------------------------------------------


def test_yaml_loader_records_lines_of_mappings_and_keys():
    data = load_yaml_text("launch:\n  - node:\n      pkg: a\n      exec: b\n", "x.yaml")
    node = data["launch"][0]["node"]
    assert isinstance(node, LineDict)
    assert node.line == 3
    assert node.line_of("exec") == 4
    assert data["launch"][0].line_of("node") == 2
    assert data["launch"].line == 2


def test_yaml_loader_keeps_safe_load_types():
    data = load_yaml_text("a: true\nb: 5\nc: 2.5\nd: '5'\ne: [1, 2]\n", "x.yaml")
    assert data == {"a": True, "b": 5, "c": 2.5, "d": "5", "e": [1, 2]}


def test_duplicate_key_is_an_error_with_its_line():
    with pytest.raises(LaunchFileError) as info:
        load_yaml_text("a: 1\nb: 2\na: 3\n", "x.yaml")
    assert str(info.value) == "x.yaml:3: duplicate key 'a' (first given at line 1)"


def test_invalid_yaml_names_file_and_line(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - node: {pkg: a\n  - arg: {}\n")
    assert error.file.endswith("bad.launch.yaml")
    assert error.line is not None
    assert "invalid YAML" in error.message


# -- every tag ---------------------------------------------------------------------

EVERY_TAG = """\
launch:
  - arg: {name: rate, default: '10', description: publish rate}
  - arg:
      name: mode
      default: fast
      choice: [{value: fast}, {value: slow}]
  - arg: {name: robot}
  - let: {name: derived, value: $(var rate)0}
  - set_env: {name: FOO, value: bar}
  - unset_env: {name: BAR}
  - push-ros-namespace: {namespace: top}
  - push_ros_namespace: {namespace: other}
  - group:
      scoped: false
      forwarding: true
      keep: [{name: k, value: v}]
      children:
        - node:
            pkg: demo
            exec: talker
            name: talker
            namespace: sim
            exec_name: chatty
            args: --verbose 'two words'
            ros_args: --log-level debug
            output: both
            respawn: 'true'
            respawn_delay: 1.5
            respawn_max_retries: 3
            on_exit: shutdown
            cwd: /tmp
            launch-prefix: nice
            sigterm_timeout: 2.0
            sigkill_timeout: 3.0
            env: [{name: A, value: '1'}]
            param:
              - from: $(dirname)/params.yaml
              - {name: rate, value: $(var rate)}
              - {name: flag, value: true}
              - name: nested
                param: [{name: x, value: 1.5}]
            remap: [{from: chatter, to: /chatter}]
  - group: [{executable: {cmd: ls -l}}]
  - include: {file: other.launch.yaml, arg: [{name: a, value: b}]}
  - include: short.launch.yaml
  - executable:
      cmd: echo hi
      name: echoer
      shell: true
      if: $(var robot)
"""


def test_every_supported_tag_parses(tmp_path):
    launch_file = parse_launch_file(write(tmp_path, "all.launch.yaml", EVERY_TAG))
    kinds = [type(entity) for entity in launch_file.entities]
    assert kinds == [
        Arg, Arg, Arg, Let, SetEnv, UnsetEnv, PushRosNamespace, PushRosNamespace,
        Group, Group, Include, Include, Executable,
    ]  # fmt: skip
    rate, mode, robot = launch_file.entities[:3]
    assert (rate.name, rate.default, rate.description) == ("rate", ("10",), "publish rate")
    assert mode.choices == ["fast", "slow"]
    assert robot.default is None
    assert [arg.name for arg in launch_file.declared_args] == ["rate", "mode", "robot"]
    assert rate.location.line == 2

    group = launch_file.entities[8]
    assert (group.scoped, group.forwarding, group.keep) == (False, True, [(("k",), ("v",))])
    node = group.children[0]
    assert isinstance(node, Node)
    assert node.package == ("demo",) and node.executable == ("talker",)
    assert node.args == [("--verbose",), ("two words",)]
    assert node.ros_args == [("--log-level",), ("debug",)]
    options = node.options
    assert options.label == ("chatty",)
    assert options.respawn == ("true",)
    assert (options.respawn_delay, options.respawn_max_retries) == (1.5, 3)
    assert options.on_exit_shutdown is True
    assert (options.sigterm_timeout, options.sigkill_timeout) == (2.0, 3.0)
    assert options.env == [(("A",), ("1",))]
    params = node.params
    assert isinstance(params[0], ParamFile)
    assert params[0].path == (Substitution("dirname"), "/params.yaml")
    assert isinstance(params[1], InlineParam) and params[1].value_is_text
    assert params[2].value is True and not params[2].value_is_text
    assert params[3].children[0].value == 1.5
    assert node.remaps == [(("chatter",), ("/chatter",))]

    assert isinstance(launch_file.entities[9].children[0], Executable)
    include = launch_file.entities[10]
    assert include.file == ("other.launch.yaml",) and include.args == [(("a",), ("b",))]
    assert launch_file.entities[11].file == ("short.launch.yaml",)
    executable = launch_file.entities[12]
    assert executable.shell is True
    assert executable.condition.if_ == (Substitution("var", (("robot",),)),)


def test_a_string_param_without_substitution_stays_a_string(tmp_path):
    text = """\
    launch:
      - node:
          exec: x
          param: [{name: s, value: 'true'}, {name: l, value: [a, b]}]
    """
    node = parse_launch_file(write(tmp_path, "p.launch.yaml", text)).entities[0]
    assert node.params[0].value == "true" and not node.params[0].value_is_text
    assert node.params[1].value == ["a", "b"]


# -- errors name the file and the line ---------------------------------------------


def test_unknown_tag_is_an_error_with_file_and_line(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - arg: {name: a, default: b}\n  - nodes: {}\n")
    assert error.line == 3
    assert "unknown tag 'nodes'" in error.message
    assert str(error).startswith(f"{tmp_path / 'bad.launch.yaml'}:3: unknown tag 'nodes'")


def test_known_but_unsupported_tag_says_so(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - timer: {period: 1.0}\n")
    assert error.line == 2
    assert "valid in ROS 2 launch but not supported" in error.message


def test_unknown_attribute_points_at_its_line(tmp_path):
    error = parse_error(
        tmp_path, "launch:\n  - node:\n      pkg: a\n      exec: b\n      emulate_tty: true\n"
    )
    assert error.line == 5
    assert "unknown or unsupported attribute 'emulate_tty' in 'node'" in error.message


def test_unknown_substitution_is_an_error_with_line(tmp_path):
    error = parse_error(
        tmp_path, "launch:\n  - arg: {name: a}\n  - let: {name: b, value: $(command ls)}\n"
    )
    assert error.line == 3
    assert "unsupported substitution '$(command)'" in error.message


def test_wrong_substitution_arity_is_an_error(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - let: {name: b, value: $(var)}\n")
    assert error.line == 2
    assert "'$(var)' takes 1 argument, got 0" in error.message


def test_unterminated_substitution_is_an_error(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - let: {name: b, value: $(var x}\n")
    assert "missing ')'" in error.message


def test_integer_where_ros2_launch_wants_a_string_is_an_error(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - arg:\n      name: rate\n      default: 5\n")
    assert error.line == 4
    assert "must be a string" in error.message and "quote it" in error.message


def test_integer_where_ros2_launch_wants_a_float_is_an_error(tmp_path):
    error = parse_error(
        tmp_path, "launch:\n  - node: {exec: x, respawn: 'true', respawn_delay: 2}\n"
    )
    assert "must be a float" in error.message and "2.0" in error.message


def test_on_exit_other_than_shutdown_is_an_error(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - node: {exec: x, on_exit: restart}\n")
    assert "on_exit must be 'shutdown'" in error.message


def test_if_and_unless_together_is_an_error(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - node: {exec: x, if: 'true', unless: 'true'}\n")
    assert "both 'if' and 'unless'" in error.message


def test_param_with_value_and_nested_params_is_an_error(tmp_path):
    text = (
        "launch:\n  - node:\n      exec: x\n      param:\n"
        "        - {name: a, value: 1, param: [{name: b, value: 2}]}\n"
    )
    error = parse_error(tmp_path, text)
    assert error.line == 5
    assert "either 'value' or nested 'param'" in error.message


def test_missing_required_attribute_is_an_error(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - node: {pkg: a}\n")
    assert error.line == 2
    assert "'node' needs the attribute 'exec'" in error.message


def test_root_must_be_launch(tmp_path):
    error = parse_error(tmp_path, "nodes:\n  - node: {exec: x}\n")
    assert "single key 'launch'" in error.message


def test_action_must_be_a_single_key_mapping(tmp_path):
    error = parse_error(tmp_path, "launch:\n  - node: {exec: x}\n    arg: {name: y}\n")
    assert "single key" in error.message


def test_missing_file_is_a_launch_file_error(tmp_path):
    with pytest.raises(LaunchFileError) as info:
        parse_launch_file(str(tmp_path / "nope.launch.yaml"))
    assert "cannot read launch file" in str(info.value)


# -- substitution syntax -----------------------------------------------------------


def test_substitutions_mix_with_text_and_nest():
    text = parse_text("$(dirname)/../config/$(var name).yaml")
    assert text == (
        Substitution("dirname"),
        "/../config/",
        Substitution("var", (("name",),)),
        ".yaml",
    )
    nested = parse_text("$(find-pkg-share $(var pkg))/x")
    assert nested == (
        Substitution("find-pkg-share", ((Substitution("var", (("pkg",),)),),)),
        "/x",
    )


def test_quoted_arguments_escapes_and_literal_dollar():
    assert parse_text("$(env HOME 'a default')") == (
        Substitution("env", (("HOME",), ("a default",))),
    )
    assert parse_text(r"cost \$(var x) and $5") == ("cost $(var x) and $5",)
    assert parse_text("") == ()


def test_substitution_syntax_errors():
    with pytest.raises(SubstitutionSyntaxError):
        parse_text("$(var  x)")  # two spaces: the frontend grammar rejects it too
    with pytest.raises(SubstitutionSyntaxError):
        parse_text("$( var x)")
    with pytest.raises(SubstitutionSyntaxError):
        parse_text("$(env 'x)")


def test_to_source_round_trips():
    for source in ("$(dirname)/a", "$(env A 'b c')", "plain", "$(find-pkg-share $(var p))/x"):
        assert parse_text(to_source(parse_text(source))) == parse_text(source)


def test_command_lines_split_like_ros2_launch():
    assert split_command_line(parse_text("a 'b c' d")) == [("a",), ("b c",), ("d",)]
    assert split_command_line(parse_text("--x=$(var a)/b c")) == [
        ("--x=", Substitution("var", (("a",),)), "/b"),
        ("c",),
    ]
    assert split_command_line(parse_text("$(var a) $(var b)")) == [
        (Substitution("var", (("a",),)),),
        (Substitution("var", (("b",),)),),
    ]

"""``$(eval ...)``: the safe expression subset, in conditions and values, and its errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grounded_ros.launcher.errors import LaunchFileError, SubstitutionError
from grounded_ros.launcher.evaluate import evaluate
from grounded_ros.launcher.safe_eval import safe_eval

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("3 > 1", "True"),
        ("2 > 2", "False"),
        ("1 + 2 * 3", "7"),
        ("7 // 2 - 7 % 2", "2"),
        ("-1.5 + 1", "-0.5"),
        ("'topic' == 'topic' and not 0", "True"),
        ("'a' in 'cat' or 1 / 0", "True"),  # short-circuits like Python
        ("1 < 2 < 3", "True"),
        ("3 > 2 > 2", "False"),
        ("math.ceil(2.1) + math.pi * 0", "3.0"),
        ("(1, 2) == (1, 2)", "True"),
        ("None", "None"),
    ],
)
def test_safe_eval_values_are_pythons(expression, value):
    assert safe_eval(expression) == value
    assert value == str(eval(expression, {"math": __import__("math")}))  # Python itself


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        ("__import__('os')", "not allowed"),
        ("open('x')", "not allowed"),
        ("x + 1", "not allowed"),
        ("math.__dict__", "not allowed"),
        ("(1).__class__", "not allowed"),
        ("[i for i in (1, 2)]", "not allowed"),
        ("2 ** 1000", "too large"),
        ("'ab' * 3", "repeating"),
        ("1 / 0", "division"),
        ("1 +", "invalid expression"),
        ("math.pi(1)", "not a function"),
    ],
)
def test_safe_eval_refuses_everything_else(expression, match):
    with pytest.raises(SubstitutionError, match=match):
        safe_eval(expression)


def write(directory: Path, text: str) -> str:
    path = directory / "e.launch.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_eval_drives_conditions_and_values(tmp_path):
    path = write(
        tmp_path,
        """\
        launch:
          - arg: {name: n, default: '2'}
          - arg: {name: source, default: state}
          - executable: {cmd: echo a, name: first}
          - executable: {cmd: echo b, name: second, if: "$(eval '$(var n) > 1')"}
          - executable: {cmd: echo c, name: third, if: "$(eval '$(var n) > 2')"}
          - executable:
              cmd: echo captioner
              name: captioner
              if: $(eval "'$(var source)' == 'topic'")
          - executable: {cmd: "echo $(eval '$(var n) * 10')", name: value}
        """,
    )

    def labels(**arguments):
        plan = evaluate(path, arguments, params_dir=str(tmp_path / "params"))
        return [p.label.rsplit("-", 1)[0] for p in plan.processes], plan

    names, plan = labels()
    assert names == ["first", "second", "value"]
    assert plan.processes[-1].cmd == ["echo", "20"]
    assert labels(n="3", source="topic")[0] == ["first", "second", "third", "captioner", "value"]
    assert labels(n="1")[0] == ["first", "value"]
    with pytest.raises(LaunchFileError, match="not allowed"):
        labels(n="__import__('os')")


def test_collect_infer_launch_file_starts_n_actors(tmp_path):
    path = str(REPO_ROOT / "launch" / "collect_infer.launch.yaml")
    for n in (1, 2, 4):
        plan = evaluate(path, {"n_actors": str(n)}, params_dir=str(tmp_path / "params"))
        namespaces = sorted(
            {arg for p in plan.processes for arg in p.cmd if arg.startswith("__ns:=")}
        )
        assert namespaces == [f"__ns:=/actor_{i}" for i in range(n)]
        assert sum("collect_infer_trainer" in " ".join(p.cmd) for p in plan.processes) == 1
        assert len(plan.processes) == 1 + 2 * n

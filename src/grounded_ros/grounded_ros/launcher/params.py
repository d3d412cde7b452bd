"""Inline node parameters (``param: [{name, value}]``) to a ROS parameters file.

Like ros2 launch: nested ``param`` groups are flattened with dots
(``pid.kp``); a value written as a plain string stays a string, while a value
containing substitutions is typed with YAML rules once performed
(``$(var rate)`` -> ``10``); list items must all end up with one type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from .description import InlineParam, ParamScalar
from .substitutions import Text

# Performs a Text written at a given line of the launch file.
Perform = Callable[[Text, int], str]


class ParamError(Exception):
    """An inline parameter that cannot be expressed (``line`` in the launch file)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def yaml_typed(value: str, *, allow_list: bool) -> Any:
    """Type a performed parameter value with YAML rules; keep the string otherwise."""
    try:
        loaded = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(loaded, bool | int | float | str):
        return loaded
    if allow_list and isinstance(loaded, list) and loaded:
        kinds = {type(item) for item in loaded}
        if len(kinds) == 1 and kinds <= {bool, int, float, str}:
            return loaded
    return value


def flatten_params(params: list[InlineParam], perform: Perform) -> dict[str, Any]:
    """``{"rate": 10, "pid.kp": 0.5}`` from consecutive inline ``param`` entries."""
    values: dict[str, Any] = {}
    for param in params:
        _flatten(param, "", values, perform)
    return values


def _flatten(param: InlineParam, prefix: str, out: dict[str, Any], perform: Perform) -> None:
    name = perform(param.name, param.line)
    full = f"{prefix}.{name}" if prefix else name
    if param.children is not None:
        for child in param.children:
            _flatten(child, full, out, perform)
        return
    out[full] = _value(param, full, perform)


def _value(param: InlineParam, name: str, perform: Perform) -> Any:
    def typed(item: ParamScalar, allow_list: bool) -> Any:
        if isinstance(item, tuple):
            return yaml_typed(perform(item, param.line), allow_list=allow_list)
        return item

    if isinstance(param.value, list):
        values = [typed(item, False) for item in param.value]
        kinds = {type(value) for value in values}
        if len(kinds) > 1:
            found = ", ".join(sorted(kind.__name__ for kind in kinds))
            raise ParamError(
                f"the items of list parameter '{name}' must have one type, got {found}",
                param.line,
            )
        return values
    return typed(param.value, True)


def params_file_content(node_key: str, values: dict[str, Any]) -> str:
    """The YAML of a parameters file giving ``values`` to ``node_key`` (or ``/**``)."""
    return yaml.safe_dump(
        {node_key: {"ros__parameters": values}}, default_flow_style=False, sort_keys=False
    )

"""Declare ROS 2 parameters with descriptors and validation, in one place per node.

Every node lists its parameters as ``Param`` entries (name, default,
description, and optional range / choices / custom check). ``declare_parameters``
declares them with a ``ParameterDescriptor`` (so ``ros2 param describe`` shows
the description and limits), validates the initial values (a bad value from a
params file stops the node at start-up with a message naming the parameter),
and installs an on-set callback that refuses bad runtime changes with a reason
instead of accepting them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node
from rclpy.parameter import Parameter


class ParameterValueError(ValueError):
    """A parameter value that fails its declared constraints."""


@dataclass(frozen=True)
class Param:
    """One node parameter: its default fixes its type.

    check, when given, returns None for a good value or a reason string.
    read_only parameters cannot change after start-up (e.g. a model path).
    """

    name: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    read_only: bool = False
    check: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """Return why value is not acceptable, or None."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            return (
                f"{self.name} must be of type {expected.__name__}, "
                f"got {type(value).__name__} {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.name} must be finite, got {value}"
        if self.min is not None and value < self.min:
            return f"{self.name} must be >= {self.min}, got {value}"
        if self.max is not None and value > self.max:
            return f"{self.name} must be <= {self.max}, got {value}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {list(self.choices)}, got {value!r}"
        if self.check is not None:
            return self.check(value)
        return None

    def descriptor(self) -> ParameterDescriptor:
        constraints = ""
        if self.choices is not None:
            constraints = "one of: " + ", ".join(str(c) for c in self.choices)
        descriptor = ParameterDescriptor(
            name=self.name,
            description=self.description,
            read_only=self.read_only,
            additional_constraints=constraints,
            # A double given as "10" in a launch file or on the command line
            # arrives as an integer; accept it (problem() checks the type) and
            # store it as a float.
            dynamic_typing=isinstance(self.default, float),
        )
        ranged = self.min is not None and self.max is not None
        if ranged and isinstance(self.default, bool):
            ranged = False
        if ranged and isinstance(self.default, int):
            descriptor.integer_range = [
                IntegerRange(from_value=int(self.min), to_value=int(self.max), step=0)
            ]
        elif ranged and isinstance(self.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(self.min), to_value=float(self.max), step=0.0)
            ]
        return descriptor


def declare_parameters(node: Node, params: Sequence[Param]) -> dict[str, Any]:
    """Declare params on node, validate their values, guard later changes.

    Returns the current values by name. Raises ParameterValueError (naming
    every bad parameter) when an initial value is invalid.
    """
    by_name = {p.name: p for p in params}
    problems = []
    for p in params:
        try:
            node.declare_parameter(p.name, p.default, p.descriptor())
        except InvalidParameterTypeException as error:
            problems.append(f"{p.name} must be of type {type(p.default).__name__}: {error}")
    values = {}
    for p in params:
        if node.has_parameter(p.name):
            values[p.name] = node.get_parameter(p.name).value
            if (reason := p.problem(values[p.name])) is not None:
                problems.append(reason)
    if problems:
        raise ParameterValueError("invalid parameters: " + "; ".join(problems))
    # Store integer overrides of float parameters as floats.
    widened = [
        Parameter(p.name, value=float(values[p.name]))
        for p in params
        if isinstance(p.default, float) and isinstance(values[p.name], int)
    ]
    if widened:
        node.set_parameters(widened)
        values.update({w.name: w.value for w in widened})

    def on_set(changes: list[Parameter]) -> SetParametersResult:
        for change in changes:
            spec = by_name.get(change.name)
            if spec is None:
                continue
            reason = spec.problem(change.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values

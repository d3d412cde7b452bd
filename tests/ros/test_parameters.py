"""Parameter declaration: descriptors, initial validation, refused runtime changes."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter

from grounded_ros.parameters import Param, ParameterValueError, declare_parameters

PARAMS = (
    Param("rate_hz", 30.0, "Publish rate.", min=0.1, max=100.0),
    Param("count", 3, "A count.", min=1, max=10),
    Param("mode", "fast", "Mode.", choices=("fast", "slow")),
    Param("name", "x", "Non-empty name.", check=lambda v: None if v else "name must not be empty"),
)


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def make_node(context, overrides=()):
    return Node("param_test", context=context, parameter_overrides=list(overrides))


def test_defaults_and_descriptors(context):
    node = make_node(context)
    values = declare_parameters(node, PARAMS)
    assert values == {"rate_hz": 30.0, "count": 3, "mode": "fast", "name": "x"}
    descriptor = node.describe_parameter("rate_hz")
    assert descriptor.description == "Publish rate."
    assert descriptor.floating_point_range[0].to_value == 100.0
    assert node.describe_parameter("count").integer_range[0].from_value == 1
    assert "fast" in node.describe_parameter("mode").additional_constraints
    node.destroy_node()


def test_bad_initial_value_names_the_parameter(context):
    node = make_node(context, [Parameter("mode", value="medium")])
    with pytest.raises(ParameterValueError, match="mode must be one of"):
        declare_parameters(node, PARAMS)
    node.destroy_node()


def test_runtime_changes_are_validated(context):
    node = make_node(context)
    declare_parameters(node, PARAMS)
    result = node.set_parameters([Parameter("name", value="")])[0]
    assert not result.successful and result.reason == "name must not be empty"
    result = node.set_parameters([Parameter("count", value=11)])[0]
    # rclpy enforces the descriptor range itself, with its own reason
    assert not result.successful and "out of range" in result.reason
    result = node.set_parameters([Parameter("rate_hz", value=float("nan"))])[0]
    assert not result.successful and "nan" in result.reason
    # without a declared range our own check refuses NaN
    assert Param("gain", 1.0, "Gain.").problem(float("nan")) == "gain must be finite, got nan"
    assert node.set_parameters([Parameter("count", value=5)])[0].successful
    assert node.get_parameter("count").value == 5
    node.destroy_node()


def test_integer_for_a_float_parameter_is_widened(context):
    node = make_node(context, [Parameter("rate_hz", value=10)])
    values = declare_parameters(node, PARAMS)
    assert values["rate_hz"] == 10.0 and isinstance(values["rate_hz"], float)
    assert isinstance(node.get_parameter("rate_hz").value, float)
    node.destroy_node()


def test_wrong_type_is_a_clear_error(context):
    node = make_node(context, [Parameter("count", value="three")])
    with pytest.raises(ParameterValueError, match="count must be of type int"):
        declare_parameters(node, PARAMS)
    node.destroy_node()
    node = make_node(context)
    declare_parameters(node, PARAMS)
    result = node.set_parameters([Parameter("rate_hz", value="fast")])[0]
    assert not result.successful and "rate_hz must be of type float" in result.reason
    node.destroy_node()

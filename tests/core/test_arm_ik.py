"""IK on the Panda URDF and pick/place planning of the arm bridge core:
solutions reach their targets, heights follow stacks, every plan is checked
(workspace, NaN, reachability, joint limits, velocity limits) before use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grounded_core.arm import (
    PICK,
    PLACE,
    ArmConfig,
    ArmConfigError,
    Kinematics,
    MotionSettings,
    PickPlacePlanner,
    SafetyError,
    SafetyLimits,
    TrackedObject,
)
from grounded_core.arm.planner import GRIPPER, MOVE
from grounded_core.arm.trajectory import peak_joint_speeds


@pytest.fixture(scope="module")
def kin():
    with Kinematics() as k:
        yield k


@pytest.fixture(scope="module")
def planner(kin):
    return PickPlacePlanner(kin)


def test_home_pose_is_the_grasp_point_above_the_workspace_centre(kin):
    assert kin.forward(kin.home) == pytest.approx([0.5, 0.0, 0.18], abs=1e-3)
    assert kin.joint_names == tuple(f"panda_joint{i}" for i in range(1, 8))
    assert kin.urdf_velocity.tolist() == [2.175] * 4 + [2.61] * 3


@pytest.mark.parametrize("target", [(0.35, -0.15, 0.02), (0.65, 0.15, 0.3), (0.5, 0.0, 0.05)])
def test_ik_reaches_workspace_corners_within_a_millimetre(kin, target):
    q, residual = kin.solve(target, seed=kin.home)
    assert residual < 1e-3
    assert kin.forward(q) == pytest.approx(target, abs=1e-3)
    assert np.all(q >= kin.lower) and np.all(q <= kin.upper)


def test_unknown_joints_links_and_files_are_clear_errors():
    with pytest.raises(ArmConfigError, match="not in the URDF"):
        Kinematics(ArmConfig(arm_joints=(*ArmConfig().arm_joints[:6], "elbow")))
    with pytest.raises(ArmConfigError, match="link 'tool0' not in the URDF"):
        Kinematics(ArmConfig(ee_link="tool0"))
    with pytest.raises(ArmConfigError, match="URDF not found"):
        Kinematics(ArmConfig(urdf="/nonexistent/robot.urdf"))
    with pytest.raises(ArmConfigError, match="home_joints has 2 values"):
        ArmConfig(home_joints=(0.0, 1.0))


def _check_plan(planner, plan):
    q_moves = [s for s in plan.segments if s.kind == MOVE]
    assert q_moves
    for segment in q_moves:
        assert np.all(segment.positions >= planner.kin.lower + planner.limits.joint_margin)
        assert np.all(segment.positions <= planner.kin.upper - planner.limits.joint_margin)
        assert np.all(np.diff(segment.times) > 0) and segment.times[0] > 0
        peaks = peak_joint_speeds(segment.positions, segment.times)
        assert np.all(peaks <= planner.max_velocity * (1 + 1e-9))
        for q, point in zip(segment.positions, segment.waypoints[1:], strict=True):
            assert planner.kin.forward(q) == pytest.approx(point, abs=planner.motion.ik_tolerance)


def test_pick_descends_to_the_top_of_the_stack_under_the_target(planner, kin):
    objects = [
        TrackedObject("blue", (0.45, 0.08, 0.025), 0.05),
        TrackedObject("red", (0.45, 0.08, 0.075), 0.05),
        TrackedObject("green", (0.58, -0.08, 0.025), 0.05),
    ]
    plan = planner.plan_pick(0.45, 0.08, kin.home, objects)
    assert plan.kind == PICK and plan.object == "red" and plan.surface == "red"
    assert plan.z == pytest.approx(0.1 - 0.025)
    assert [s.label for s in plan.segments] == ["open", "approach", "descend", "close", "lift"]
    assert [s.kind for s in plan.segments] == [GRIPPER, MOVE, MOVE, GRIPPER, MOVE]
    _check_plan(planner, plan)
    # on the bare table: never below min_grasp_height
    table = planner.plan_pick(0.6, -0.1, kin.home, objects)
    assert table.surface == "table" and table.object is None
    assert table.z == pytest.approx(0.02)


def test_place_releases_the_held_object_just_above_its_support(planner, kin):
    objects = [
        TrackedObject("blue", (0.45, 0.08, 0.025), 0.05),
        TrackedObject("red", (0.5, 0.0, 0.17), 0.05),  # held
    ]
    q_holding, _ = kin.solve([0.5, 0.0, 0.18], seed=kin.home)
    plan = planner.plan_place(0.45, 0.08, q_holding, objects, held="red", held_offset=0.035)
    assert plan.kind == PLACE and plan.surface == "blue" and plan.object == "red"
    assert plan.z == pytest.approx(0.05 + 0.004 + 0.035)
    assert [s.label for s in plan.segments] == ["approach", "descend", "open", "retreat"]
    _check_plan(planner, plan)
    # the held object's own position never counts as a support
    beside = planner.plan_place(0.5, 0.0, q_holding, objects, held="red")
    assert beside.surface == "table"


def test_a_low_arm_lifts_before_travelling(planner, kin):
    q_low, _ = kin.solve([0.4, -0.1, 0.03], seed=kin.home)
    plan = planner.plan_pick(0.6, 0.1, q_low)
    assert [s.label for s in plan.segments][:3] == ["open", "lift", "approach"]
    assert plan.segments[1].waypoints[-1] == pytest.approx([0.4, -0.1, 0.18], abs=1e-3)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "needle"),
    [
        (math.nan, 0.0, {}, "finite"),
        (0.5, math.inf, {}, "finite"),
        (0.7, 0.0, {}, "outside the workspace"),
        (0.5, 0.0, {"z": -0.1}, "outside the workspace z"),
        (0.5, 0.0, {"z": math.nan}, "finite"),
    ],
)
def test_plans_reject_bad_targets_before_any_ik(planner, kin, x, y, kwargs, needle):
    with pytest.raises(SafetyError, match=needle):
        planner.plan_pick(x, y, kin.home, **kwargs)


def test_nan_current_joints_are_refused(planner, kin):
    q = kin.home.copy()
    q[3] = math.nan
    with pytest.raises(SafetyError, match="current joint positions are invalid"):
        planner.plan_pick(0.5, 0.0, q)


def test_joint_limit_violations_are_refused_naming_the_joint(kin):
    # a 0.8 rad margin leaves panda_joint4 (range [-3.14, 0]) no room for the poses
    strict = PickPlacePlanner(kin, SafetyLimits(joint_margin=0.8))
    with pytest.raises(SafetyError, match=r"panda_joint\d = .* violates its joint limits"):
        strict.plan_pick(0.5, 0.0, kin.home)


def test_unreachable_targets_are_refused_by_the_ik_residual():
    far = ArmConfig(base_position=(-1.2, 0.0, 0.0))
    with Kinematics(far) as kin:
        planner = PickPlacePlanner(kin)
        with pytest.raises(SafetyError, match="unreachable: IK misses it by"):
            planner.plan_pick(0.6, 0.0, kin.home)


def test_slower_velocity_limits_give_longer_trajectories(kin):
    fast = PickPlacePlanner(kin, SafetyLimits(max_joint_velocity=2.0), MotionSettings(ee_speed=2.0))
    slow = PickPlacePlanner(kin, SafetyLimits(max_joint_velocity=0.2), MotionSettings(ee_speed=2.0))
    a = fast.plan_pick(0.6, 0.12, kin.home)
    b = slow.plan_pick(0.6, 0.12, kin.home)
    assert b.duration > 3 * a.duration
    _check_plan(slow, b)

"""Safety checks of the arm bridge core: workspace, NaN/inf, joint limits,
velocity-limited timing, the stale-input watchdog and the latching e-stop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grounded_core.arm import (
    EmergencyStop,
    SafetyError,
    SafetyLimits,
    TrajectoryError,
    TrajectoryTracker,
    Watchdog,
    time_parameterize,
)
from grounded_core.arm.trajectory import peak_joint_speeds

LIMITS = SafetyLimits()
NAMES = [f"j{i}" for i in range(3)]
LOWER = [-1.0, -2.0, 0.0]
UPPER = [1.0, 2.0, 0.5]


@pytest.mark.parametrize(
    ("x", "y", "needle"),
    [
        (math.nan, 0.0, "finite"),
        (0.5, math.inf, "finite"),
        (0.5, -math.inf, "finite"),
        (0.9, 0.0, "outside the workspace"),
        (0.5, -0.3, "outside the workspace"),
        ("a", 0.0, "numbers"),
    ],
)
def test_bad_targets_are_rejected_with_a_reason(x, y, needle):
    with pytest.raises(SafetyError, match=needle):
        LIMITS.check_target(x, y)


def test_targets_inside_the_workspace_pass_unchanged():
    assert LIMITS.check_target(0.35, 0.15) == (0.35, 0.15)
    assert LIMITS.check_cartesian([0.5, 0.0, 0.1]).tolist() == [0.5, 0.0, 0.1]


@pytest.mark.parametrize(
    ("point", "needle"),
    [
        ([0.5, 0.0, 0.0], "z = 0.000 not in"),
        ([0.5, 0.0, 0.6], "z = 0.600 not in"),
        ([0.5, 0.0, math.nan], "finite"),
        ([0.5, 0.0], "shape"),
    ],
)
def test_cartesian_waypoints_are_checked_in_3d(point, needle):
    with pytest.raises(SafetyError, match=needle):
        LIMITS.check_cartesian(point)


def test_joint_limit_violations_name_the_joint_and_the_margin():
    limits = SafetyLimits(joint_margin=0.05)
    assert limits.check_joints([0.0, 1.9, 0.25], LOWER, UPPER, NAMES).shape == (3,)
    with pytest.raises(SafetyError, match=r"j1 = 1\.9600 violates its joint limits"):
        limits.check_joints([0.0, 1.96, 0.25], LOWER, UPPER, NAMES)
    with pytest.raises(SafetyError, match="j2"):
        limits.check_joints([0.0, 0.0, -0.01], LOWER, UPPER, NAMES)
    with pytest.raises(SafetyError, match="finite"):
        limits.check_joints([0.0, math.nan, 0.1], LOWER, UPPER, NAMES)
    with pytest.raises(SafetyError, match="2 values for 3 joints"):
        limits.check_joints([0.0, 0.1], LOWER, UPPER, NAMES)


def test_velocity_limits_cap_scale_and_fill_missing_urdf_limits():
    limits = SafetyLimits(max_joint_velocity=1.5, velocity_scale=0.5)
    assert limits.velocity_limits([2.175, 1.0, 0.0]).tolist() == [0.75, 0.5, 0.75]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"workspace_x": (0.6, 0.4)},
        {"workspace_z": (0.0, math.nan)},
        {"velocity_scale": 0.0},
        {"velocity_scale": 1.5},
        {"max_joint_velocity": -1.0},
        {"joint_margin": -0.1},
    ],
)
def test_inconsistent_limits_are_refused(kwargs):
    with pytest.raises(SafetyError):
        SafetyLimits(**kwargs)


@pytest.mark.parametrize("ramp", [0.0, 0.2, 0.4])
def test_trajectory_timing_keeps_every_joint_under_its_velocity_limit(ramp):
    rng = np.random.default_rng(0)
    path = np.cumsum(rng.normal(0, 0.1, size=(12, 3)), axis=0)
    vmax = np.array([0.5, 1.0, 2.0])
    times = time_parameterize(path, vmax, ramp_share=ramp)
    assert times[0] == 0.0 and np.all(np.diff(times) > 0)
    peaks = peak_joint_speeds(path, times)
    assert np.all(peaks <= vmax * (1 + 1e-9))
    # tight: some joint reaches its limit in the cruise phase
    assert np.max(peaks / vmax) > 0.9
    # the ramps make the whole motion last 1 / (1 - ramp) times the limit-speed time
    limit_time = np.sum(np.max(np.abs(np.diff(path, axis=0)) / vmax, axis=1))
    assert times[-1] == pytest.approx(limit_time / (1 - ramp), rel=1e-6)


def test_trajectory_timing_also_limits_the_end_effector_speed():
    path = np.array([[0.0], [0.001], [0.002]])
    times = time_parameterize(
        path, [1.0], lengths=[0.1, 0.1], ee_speed=0.2, ramp_share=0.0, min_duration=0.0
    )
    assert times[-1] == pytest.approx(1.0)  # 0.2 m at 0.2 m/s, joints nearly still


def test_trajectory_timing_rejects_nan_paths_and_bad_limits():
    with pytest.raises(TrajectoryError, match="NaN"):
        time_parameterize(np.array([[0.0], [math.nan]]), [1.0])
    with pytest.raises(TrajectoryError, match="> 0"):
        time_parameterize(np.array([[0.0], [1.0]]), [0.0])


def test_watchdog_detects_stale_input_without_sleeping():
    dog = Watchdog(0.5, "joint states")
    assert dog.stale(0.0) and dog.problem(0.0) == "no joint states received yet"
    dog.feed(10.0)
    assert not dog.stale(10.4) and dog.problem(10.4) is None
    assert dog.stale(10.6)
    assert "joint states stale: last one 0.600 s ago" in dog.problem(10.6)
    dog.feed(10.7)
    assert not dog.stale(10.8)
    with pytest.raises(SafetyError):
        Watchdog(0.0)


def test_emergency_stop_latches_until_released():
    estop = EmergencyStop()
    assert not estop.engaged and estop.problem() is None
    assert estop.update(True, now=1.0)
    assert estop.engaged and "latched" in estop.problem()
    # repeated presses change nothing; only an explicit release does
    assert not estop.update(True, now=2.0)
    assert estop.engaged and estop.presses == 1 and estop.since == 1.0
    assert estop.update(False)
    assert not estop.engaged and estop.problem() is None
    assert not estop.update(False)
    estop.update(True)
    assert estop.presses == 2


def test_tracker_interpolates_from_the_current_command_and_holds_the_end():
    tracker = TrajectoryTracker(NAMES, [0.0, 0.0, 0.0], now=0.0)
    tracker.set_trajectory(["j0", "j2"], [1.0, 2.0], [[1.0, 0.2], [2.0, 0.4]], now=10.0)
    assert tracker.sample(10.0).tolist() == [0.0, 0.0, 0.0]
    assert tracker.sample(10.5) == pytest.approx([0.5, 0.0, 0.1])
    assert tracker.sample(11.5) == pytest.approx([1.5, 0.0, 0.3])
    assert tracker.sample(99.0) == pytest.approx([2.0, 0.0, 0.4])
    assert tracker.finished(12.0) and not tracker.finished(11.9)
    # a new trajectory replaces the old one from where the command is now
    tracker.set_trajectory(["j1"], [1.0], [[1.0]], now=100.0)
    assert tracker.sample(100.5) == pytest.approx([2.0, 0.5, 0.4])
    # empty trajectory: hold the measured position
    tracker.set_trajectory([], [], [], now=101.0, actual=[0.1, 0.2, 0.3])
    assert tracker.sample(105.0) == pytest.approx([0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("names", "times", "points", "needle"),
    [
        (["j9"], [1.0], [[0.0]], "unknown joint"),
        (["j0", "j0"], [1.0], [[0.0, 0.0]], "twice"),
        (["j0"], [1.0, 1.0], [[0.0], [0.1]], "strictly increasing"),
        (["j0"], [-1.0], [[0.0]], "strictly increasing"),
        (["j0"], [1.0], [[math.nan]], "NaN"),
        (["j0", "j1"], [1.0], [[0.0]], "positions"),
    ],
)
def test_tracker_refuses_bad_trajectories_and_keeps_the_old_one(names, times, points, needle):
    tracker = TrajectoryTracker(NAMES, [0.0, 0.0, 0.0], now=0.0)
    tracker.set_trajectory(["j0"], [1.0], [[1.0]], now=0.0)
    with pytest.raises(TrajectoryError, match=needle):
        tracker.set_trajectory(names, times, points, now=0.5)
    assert tracker.sample(2.0) == pytest.approx([1.0, 0.0, 0.0])

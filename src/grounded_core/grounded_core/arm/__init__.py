"""Driving a real (or emulated) robot arm with pick/place primitives, ROS-free.

The ``arm_bridge`` node turns MISSION B1's pick/place commands into the
ros2_control interfaces of a real arm; this package is everything that node
does without ROS, so it is unit-tested on its own:

==============  ==============================================================
config          ``ArmConfig`` (URDF, joint names, end effector, gripper joints)
                and ``MotionSettings`` (heights, speeds, tolerances)
kinematics      ``Kinematics``: pybullet IK/FK on the URDF in a private DIRECT client
safety          ``SafetyLimits`` (workspace, joint limits, NaN/inf, velocities),
                ``Watchdog`` (stale inputs), ``EmergencyStop`` (latching)
trajectory      velocity-limited time parameterisation of joint paths and
                ``TrajectoryTracker`` (what a joint trajectory controller does
                with a trajectory: interpolate it over time; the simulator's
                ros2_control emulation uses it)
planner         ``PickPlacePlanner``: a pick or place at (x, y) -> checked joint
                trajectories and gripper commands
==============  ==============================================================

Every rejection is a :class:`SafetyError` (a ``ValueError``) whose message says why.
"""

from .config import ArmConfig, ArmConfigError, MotionSettings, resolve_urdf
from .kinematics import Kinematics
from .planner import PICK, PLACE, PickPlacePlanner, Plan, Segment, TrackedObject
from .safety import EmergencyStop, SafetyError, SafetyLimits, Watchdog
from .trajectory import TrajectoryError, TrajectoryTracker, time_parameterize

__all__ = [
    "PICK",
    "PLACE",
    "ArmConfig",
    "ArmConfigError",
    "EmergencyStop",
    "Kinematics",
    "MotionSettings",
    "PickPlacePlanner",
    "Plan",
    "SafetyError",
    "SafetyLimits",
    "Segment",
    "TrackedObject",
    "TrajectoryError",
    "TrajectoryTracker",
    "Watchdog",
    "resolve_urdf",
    "time_parameterize",
]

"""Which robot the arm bridge drives and how it moves (defaults: the Franka Panda).

``ArmConfig`` names the robot's URDF, its arm joints (in the order the joint
trajectory controller expects), the end-effector link whose position IK
solves for, and the gripper joints with their open/closed positions; any arm
whose URDF pybullet can load works by configuration. ``MotionSettings`` are
the pick/place heights, speeds and tolerances (same meaning as the
simulator's ``motion`` section in ``sim_worlds/tabletop.yaml``).

``pybullet_data/...`` URDF paths resolve into the pybullet_data package
(which ships ``franka_panda/panda.urdf``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

PYBULLET_DATA_PREFIX = "pybullet_data/"
PANDA_URDF = "pybullet_data/franka_panda/panda.urdf"
PANDA_ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
PANDA_GRIPPER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
#: The simulator's home pose: grasp point at (0.5, 0, 0.18), gripper down.
PANDA_HOME = (0.0, 0.0827, 0.0, -2.3867, 0.0, 2.4694, 0.7854)


class ArmConfigError(ValueError):
    """A robot description that cannot be used (missing file, unknown joint...)."""


def resolve_urdf(path: str | Path) -> Path:
    """The URDF file of ``path`` (``pybullet_data/...`` resolves into pybullet_data)."""
    text = str(path)
    if text.startswith(PYBULLET_DATA_PREFIX):
        import pybullet_data  # local import: only needed for these paths

        resolved = Path(pybullet_data.getDataPath()) / text[len(PYBULLET_DATA_PREFIX) :]
    else:
        resolved = Path(text).expanduser()
    if not resolved.is_file():
        raise ArmConfigError(f"URDF not found: {resolved}")
    return resolved


def _finite(name: str, values) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in out):
        raise ArmConfigError(f"{name} must be finite numbers, got {values!r}")
    return out


@dataclass(frozen=True)
class ArmConfig:
    """The robot: URDF, joints, end effector, gripper, base pose and IK rest pose."""

    urdf: str = PANDA_URDF
    arm_joints: tuple[str, ...] = PANDA_ARM_JOINTS
    ee_link: str = "panda_grasptarget"
    gripper_joints: tuple[str, ...] = PANDA_GRIPPER_JOINTS
    gripper_open: float = 0.04  # position of each gripper joint when open
    gripper_closed: float = 0.0  # ... and when closed (commanded; it stalls on an object)
    #: IK null-space rest pose (empty: the middle of every joint's range).
    home_joints: tuple[float, ...] = PANDA_HOME
    base_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    base_yaw: float = 0.0
    #: Rotation of the gripper about the vertical (0: fingers close along world y for the Panda).
    gripper_yaw: float = 0.0

    def __post_init__(self) -> None:
        if not self.arm_joints:
            raise ArmConfigError("arm_joints must name at least one joint")
        if len(set(self.arm_joints)) != len(self.arm_joints):
            raise ArmConfigError(f"arm_joints names a joint twice: {list(self.arm_joints)}")
        overlap = set(self.arm_joints) & set(self.gripper_joints)
        if overlap:
            raise ArmConfigError(f"joints {sorted(overlap)} are both arm and gripper joints")
        if not self.ee_link:
            raise ArmConfigError("ee_link must name a link of the URDF")
        if self.home_joints and len(self.home_joints) != len(self.arm_joints):
            raise ArmConfigError(
                f"home_joints has {len(self.home_joints)} values for "
                f"{len(self.arm_joints)} arm joints"
            )
        object.__setattr__(self, "home_joints", _finite("home_joints", self.home_joints))
        object.__setattr__(self, "base_position", _finite("base_position", self.base_position))
        _finite("gripper positions", (self.gripper_open, self.gripper_closed))

    @property
    def gripper_opening_range(self) -> float:
        """Opening (sum over the gripper joints) between closed and open."""
        return abs(self.gripper_open - self.gripper_closed) * len(self.gripper_joints)


@dataclass(frozen=True)
class MotionSettings:
    """Heights (m above the table), speeds and tolerances of pick and place."""

    table_height: float = 0.0  # world z of the table top
    travel_height: float = 0.18  # grasp point height between locations
    grasp_depth: float = 0.025  # grasp this far below the top of what is under (x, y)
    min_grasp_height: float = 0.02  # never lower the grasp point below this
    place_clearance: float = 0.004  # release with the object's bottom this far above support
    object_size: float = 0.05  # size of a held object when no object states say otherwise
    ee_speed: float = 0.25  # m/s, cruise speed of the grasp point along straight lines
    waypoint_spacing: float = 0.03  # m between IK waypoints of a straight line
    ik_tolerance: float = 0.005  # m; an IK solution further off means unreachable
    ramp_share: float = 0.2  # share of a motion spent accelerating (and decelerating)

    def __post_init__(self) -> None:
        for name in (
            "travel_height",
            "grasp_depth",
            "min_grasp_height",
            "object_size",
            "ee_speed",
            "waypoint_spacing",
            "ik_tolerance",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ArmConfigError(f"{name} must be a positive number, got {value}")
        if not (0.0 <= self.ramp_share < 0.5):
            raise ArmConfigError(f"ramp_share must be in [0, 0.5), got {self.ramp_share}")
        if self.travel_height <= self.min_grasp_height:
            raise ArmConfigError("travel_height must be above min_grasp_height")

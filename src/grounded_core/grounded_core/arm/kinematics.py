"""Inverse and forward kinematics of the configured robot (pybullet, private DIRECT client).

``Kinematics`` loads the URDF of an :class:`ArmConfig` into its own headless
pybullet client (a kinematic model only: nothing is simulated, joints are set
freely), finds the arm joints, gripper joints and end-effector link by name,
and reads the joint limits and velocity limits from the URDF.

``solve(position, seed)`` returns arm joint angles putting the end-effector
link at ``position`` with the gripper pointing down (rotated ``gripper_yaw``
about the vertical): pybullet's null-space IK kept near ``home_joints`` (so
the elbow does not wander over many motions), refined by two plain IK passes,
starting from ``seed`` (consecutive waypoints get consecutive solutions). The
residual (distance of the achieved position from the target, by forward
kinematics) comes back with the solution so the caller can refuse
unreachable targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..tabletop._quiet import connect, pybullet  # quiet import of pybullet
from .config import ArmConfig, ArmConfigError, resolve_urdf


class Kinematics:
    """IK/FK of one robot in a private pybullet client; close() when done."""

    def __init__(self, config: ArmConfig | None = None) -> None:
        self.config = config or ArmConfig()
        cfg = self.config
        urdf = resolve_urdf(cfg.urdf)
        self.client = connect(gui=False)
        try:
            self.robot = self.client.loadURDF(
                str(urdf),
                list(cfg.base_position),
                pybullet.getQuaternionFromEuler([0.0, 0.0, cfg.base_yaw]),
                useFixedBase=True,
            )
        except pybullet.error as error:
            self.client.disconnect()
            raise ArmConfigError(f"pybullet cannot load {urdf}: {error}") from error
        try:
            self._read_joints()
        except ArmConfigError:
            self.client.disconnect()
            raise
        self.orientation = pybullet.getQuaternionFromEuler(
            [math.pi, 0.0, cfg.base_yaw + cfg.gripper_yaw]
        )

    def _read_joints(self) -> None:
        cfg, p = self.config, self.client
        infos = [p.getJointInfo(self.robot, j) for j in range(p.getNumJoints(self.robot))]
        joints = {info[1].decode(): j for j, info in enumerate(infos)}
        links = {info[12].decode(): j for j, info in enumerate(infos)}
        missing = [n for n in (*cfg.arm_joints, *cfg.gripper_joints) if n not in joints]
        if missing:
            raise ArmConfigError(f"joint(s) {missing} not in the URDF; it has {sorted(joints)}")
        if cfg.ee_link not in links:
            raise ArmConfigError(f"link {cfg.ee_link!r} not in the URDF; it has {sorted(links)}")
        fixed = [n for n in cfg.arm_joints if infos[joints[n]][2] == pybullet.JOINT_FIXED]
        if fixed:
            raise ArmConfigError(f"arm joint(s) {fixed} are fixed joints")
        self.ee_index = links[cfg.ee_link]
        self.arm_indices = [joints[n] for n in cfg.arm_joints]
        self.gripper_indices = [joints[n] for n in cfg.gripper_joints]
        # pybullet's IK works on all movable joints in index order.
        self._movable = [j for j, info in enumerate(infos) if info[2] != pybullet.JOINT_FIXED]
        self._ik_columns = [self._movable.index(j) for j in self.arm_indices]
        self.lower = np.array([infos[j][8] for j in self.arm_indices])
        self.upper = np.array([infos[j][9] for j in self.arm_indices])
        # A continuous joint reports lower > upper: treat it as unlimited.
        unlimited = self.lower > self.upper
        self.lower[unlimited], self.upper[unlimited] = -1e3, 1e3
        self.urdf_velocity = np.array([infos[j][11] for j in self.arm_indices])
        lower = [infos[j][8] for j in self._movable]
        upper = [infos[j][9] for j in self._movable]
        home = cfg.home_joints or tuple((self.lower + self.upper) / 2.0)
        self.home = np.array(home, dtype=float)
        rest = [0.0] * len(self._movable)
        for column, q in zip(self._ik_columns, self.home, strict=True):
            rest[column] = float(q)
        for j in self.gripper_indices:
            rest[self._movable.index(j)] = cfg.gripper_open
        self._null_space = {
            "lowerLimits": lower,
            "upperLimits": upper,
            "jointRanges": [max(u - lo, 1e-3) for lo, u in zip(lower, upper, strict=True)],
            "restPoses": rest,
        }

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.config.arm_joints

    def _set(self, q: Sequence[float]) -> None:
        for j, value in zip(self.arm_indices, q, strict=True):
            self.client.resetJointState(self.robot, j, float(value))

    def forward(self, q: Sequence[float]) -> np.ndarray:
        """Position of the end-effector link for arm joint angles ``q``."""
        self._set(q)
        state = self.client.getLinkState(self.robot, self.ee_index, computeForwardKinematics=True)
        return np.array(state[4])

    def solve(
        self, position: Sequence[float], seed: Sequence[float] | None = None
    ) -> tuple[np.ndarray, float]:
        """(arm joint angles, residual in m) for the end effector at ``position``, gripper down."""
        target = [float(v) for v in position]
        self._set(self.home if seed is None else seed)
        solution = None
        for limits in (self._null_space, {}, {}):
            solution = self.client.calculateInverseKinematics(
                self.robot,
                self.ee_index,
                target,
                self.orientation,
                maxNumIterations=30,
                residualThreshold=1e-5,
                **limits,
            )
            self._set([solution[c] for c in self._ik_columns])
        q = np.array([solution[c] for c in self._ik_columns])
        residual = float(np.linalg.norm(self.forward(q) - np.asarray(target)))
        return q, residual

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client = None

    def __enter__(self) -> Kinematics:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

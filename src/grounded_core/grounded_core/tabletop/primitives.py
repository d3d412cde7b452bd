"""Pick/place primitives: the action space of MISSION B1 (Transporter/CLIPort style).

An action is an (x, y) location in the workspace. When the gripper is empty the
arm *picks* there; when it holds something it *places* there:

pick(x, y)
    open the gripper, travel at ``travel_height`` to above (x, y), cast a ray
    down to find the surface under (x, y) (table or the top object of a stack),
    descend to ``grasp_depth`` below that surface (never lower than
    ``min_grasp_height`` above the table) in a guarded move that stops where a
    finger touches something (then backs off 1 cm), close the fingers with a
    limited force until they stall, lift back to ``travel_height``. If the fingers closed on air
    the gripper reopens; nothing else in the world was touched.
place(x, y)
    travel to above (x, y) with the held object, cast rays under the object's
    footprint to find the highest surface below it, descend (guarded: the hand
    or the held object touching something stops it) until the object's bottom
    is ``place_clearance`` above that surface, open the fingers, wait
    ``release_time``, retreat to ``travel_height``.

Both end with ``settle_time`` of simulation so the state the caller sees is at
rest. Objects only move through finger contact and gravity (no teleporting,
no attach constraint). "Holding" is what a real parallel gripper reports: the
last command was *close* and the fingers stopped more than
``holding_min_width`` apart.

Speed (MISSION B5 needs many thousands of primitive steps): physics at 120 Hz;
the arm runs joint position control with high gains along joint-space
interpolations of IK solutions of Cartesian waypoints spaced
``waypoint_spacing`` apart, as fast as ``ee_speed`` and the joint velocity
limits allow; only the end of a descent is approached to
``position_tolerance`` and ``arrival_speed`` (so nothing is released or
grasped while the arm still swings), and the fingers stop as soon as they
stall. A primitive takes ~100-200 physics steps (~1-1.5 s simulated) while the
hand moves along nearly straight lines.

IK: pybullet's null-space IK (kept near the home pose, so the elbow does not
wander over thousands of motions) refined by two plain IK passes, computed on a
private kinematic copy of the robot synchronised to the real joint angles, so
the simulation being stepped is never teleported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pybullet

from . import predicates
from ._quiet import connect
from .errors import WorldConfigError
from .state import TABLE

if TYPE_CHECKING:
    from .world import TabletopWorld

PICK = "pick"
PLACE = "place"
#: How often (in physics steps) motion loops check whether a target is reached.
CHECK_EVERY = 2
#: Below this opening (m) the fingers count as closed on nothing.
CLOSED_WIDTH = 2e-3
#: The fingers count as stalled below this share of their velocity limit.
FINGER_STALL_SHARE = 0.05
#: Share of the joint velocity limit that streamed motions may use at peak speed.
JOINT_SPEED_SHARE = 0.8
#: Share of a motion's duration spent accelerating (and again decelerating).
RAMP_SHARE = 0.2
#: Contact normal force (N) that stops a guarded descent.
GUARD_FORCE = 1.0
#: After a guarded descent stopped, the gripper backs off this far (m) before closing.
GUARD_BACKOFF = 0.01
#: Rays start this far below the gripper or the held object.
RAY_MARGIN = 3e-3
#: Fraction of the held object's half size used for the footprint rays.
FOOTPRINT_INSET = 0.9


@dataclass(frozen=True)
class Move:
    """Outcome of one straight-line motion of the arm."""

    reached: bool  # got to the target (within tolerance, at rest if precise)
    steps: int  # physics steps used
    blocked: bool  # a guarded move stopped on contact


@dataclass(frozen=True)
class PrimitiveResult:
    """What one primitive did (the ROS node forwards it; the env puts it in ``info``)."""

    kind: str  # "pick" or "place"
    x: float
    y: float
    picked: str | None  # object held after a pick (None: closed on air or it slipped)
    placed: str | None  # object released by a place (None: nothing identifiable was held)
    placed_on: str | None  # what the released object rests on: object, "table", fixture, None
    surface: str  # body found under (x, y) by the height rays
    surface_height: float  # height of that surface (metres)
    reached: bool  # every motion segment reached its target within the time limits
    blocked: bool  # the guarded descent stopped on contact before its target height
    sim_steps: int  # physics steps the primitive took

    def to_dict(self) -> dict:
        return asdict(self)


def _trapezoid(u: float) -> float:
    """Progress 0 -> 1 along a motion at time share u of a trapezoidal speed profile."""
    peak = 1.0 / (1.0 - RAMP_SHARE)
    if u < RAMP_SHARE:
        return peak * u * u / (2.0 * RAMP_SHARE)
    if u > 1.0 - RAMP_SHARE:
        return 1.0 - peak * (1.0 - u) ** 2 / (2.0 * RAMP_SHARE)
    return peak * (u - RAMP_SHARE / 2.0)


class Arm:
    """Joint-level control of the robot of one :class:`TabletopWorld`."""

    def __init__(self, world: TabletopWorld) -> None:
        self.world = world
        self.p = world.client
        self.robot = world.robot_id
        self.cfg = world.config.robot
        self.motion = world.config.motion
        p = self.p
        n_joints = p.getNumJoints(self.robot)
        infos = [p.getJointInfo(self.robot, j) for j in range(n_joints)]
        # pybullet's IK works on all movable joints in index order.
        self._movable = [j for j, info in enumerate(infos) if info[2] != pybullet.JOINT_FIXED]
        missing = [
            j for j in (*self.cfg.arm_joints, *self.cfg.finger_joints) if j not in self._movable
        ]
        if missing:
            raise WorldConfigError(
                world.config.source,
                "robot.arm_joints",
                f"joint {missing[0]} is not a movable joint",
            )
        self._arm_ik_index = [self._movable.index(j) for j in self.cfg.arm_joints]
        lower = [infos[j][8] for j in self._movable]
        upper = [infos[j][9] for j in self._movable]
        rest = [0.0] * len(self._movable)
        for j, q in zip(self.cfg.arm_joints, self.cfg.home_joints, strict=True):
            rest[self._movable.index(j)] = q
        for j in self.cfg.finger_joints:
            rest[self._movable.index(j)] = self.cfg.finger_open
        self._ik_limits = {
            "lowerLimits": lower,
            "upperLimits": upper,
            "jointRanges": [max(u - lo, 1e-3) for lo, u in zip(lower, upper, strict=True)],
            "restPoses": rest,
        }
        self._dt = world.config.physics.time_step
        # Per-joint velocity limits: the URDF's, capped by robot.arm_max_velocity.
        self._max_joint_velocity = np.array(
            [
                min(infos[j][11], self.cfg.arm_max_velocity)
                if infos[j][11] > 0
                else self.cfg.arm_max_velocity
                for j in self.cfg.arm_joints
            ]
        )
        self.orientation = pybullet.getQuaternionFromEuler(
            [math.pi, 0.0, self.cfg.base_yaw + self.cfg.gripper_yaw]
        )
        # A kinematic copy of the robot in its own client: IK may set its joints freely.
        self._ik_client = connect(gui=False)
        self._ik_robot = self._ik_client.loadURDF(
            str(self.cfg.urdf),
            self.cfg.base_position,
            pybullet.getQuaternionFromEuler([0.0, 0.0, self.cfg.base_yaw]),
            useFixedBase=True,
        )
        self.gripper_closed = False

    # ------------------------------------------------------------------ low level

    def reset(self) -> None:
        """Home pose, gripper open, motors holding that pose (used by world reset)."""
        p = self.p
        for j, q in zip(self.cfg.arm_joints, self.cfg.home_joints, strict=True):
            p.resetJointState(self.robot, j, q, 0.0)
        for j in self.cfg.finger_joints:
            p.resetJointState(self.robot, j, self.cfg.finger_open, 0.0)
        self._command_arm(self.cfg.home_joints)
        self._command_fingers(self.cfg.finger_open)
        self.gripper_closed = False

    def _command_arm(self, joint_targets) -> None:
        for j, q, force, limit in zip(
            self.cfg.arm_joints,
            joint_targets,
            self.cfg.arm_max_forces,
            self._max_joint_velocity,
            strict=True,
        ):
            self.p.setJointMotorControl2(
                self.robot,
                j,
                pybullet.POSITION_CONTROL,
                targetPosition=float(q),
                force=force,
                positionGain=self.cfg.position_gain,
                maxVelocity=limit,
            )

    def _command_fingers(self, target: float) -> None:
        for j in self.cfg.finger_joints:
            self.p.setJointMotorControl2(
                self.robot,
                j,
                pybullet.POSITION_CONTROL,
                targetPosition=target,
                force=self.cfg.finger_force,
                positionGain=self.cfg.position_gain,
                maxVelocity=self.cfg.finger_max_velocity,
            )

    def command_joints(self, joint_targets) -> None:
        """Position targets of the arm joints (held until changed; physics moves there).

        For callers that drive the arm joint by joint, e.g. the ROS node's
        emulation of a joint trajectory controller, instead of by primitives.
        """
        self._command_arm(joint_targets)

    def command_gripper(self, target: float) -> None:
        """Move every finger to ``target`` (m per finger) with the limited finger force.

        A target below half the open position counts as a close command, so
        :meth:`is_holding` works as after a pick (a gripper reporting its state).
        """
        self.gripper_closed = float(target) < self.cfg.finger_open / 2.0
        self._command_fingers(float(target))

    def joint_positions(self) -> list[float]:
        return [s[0] for s in self.p.getJointStates(self.robot, list(self.cfg.arm_joints))]

    def ee_speed(self) -> float:
        state = self.p.getLinkState(
            self.robot, self.cfg.ee_link, computeLinkVelocity=1, computeForwardKinematics=True
        )
        return float(np.linalg.norm(state[6]))

    def ee_position(self) -> np.ndarray:
        state = self.p.getLinkState(self.robot, self.cfg.ee_link, computeForwardKinematics=True)
        return np.array(state[4])

    def gripper_width(self) -> float:
        states = self.p.getJointStates(self.robot, list(self.cfg.finger_joints))
        return float(states[0][0] + states[1][0])

    def is_holding(self) -> bool:
        return self.gripper_closed and self.gripper_width() > self.motion.holding_min_width

    def lowest_finger_z(self) -> float:
        return min(self.p.getAABB(self.robot, j)[0][2] for j in self.cfg.finger_joints)

    def solve_ik(self, target, seed: list[float] | None = None) -> list[float]:
        """Arm joint angles putting the grasp point at ``target`` pointing down.

        The search starts from ``seed`` (default: the current joint angles), so
        consecutive waypoints get consecutive solutions.
        """
        ik, robot = self._ik_client, self._ik_robot
        start = self.joint_positions() if seed is None else seed
        for j, q in zip(self.cfg.arm_joints, start, strict=True):
            ik.resetJointState(robot, j, q)
        solution = None
        for limits in (self._ik_limits, {}, {}):
            solution = ik.calculateInverseKinematics(
                robot,
                self.cfg.ee_link,
                list(target),
                self.orientation,
                maxNumIterations=20,
                residualThreshold=1e-5,
                **limits,
            )
            for index, j in zip(self._arm_ik_index, self.cfg.arm_joints, strict=True):
                ik.resetJointState(robot, j, solution[index])
        return [solution[i] for i in self._arm_ik_index]

    # ------------------------------------------------------------------ motions

    def move_to(
        self, target, precise: bool = True, guard: Callable[[], bool] | None = None
    ) -> Move:
        """Move the grasp point to ``target`` along a straight line.

        IK solutions of waypoints ``waypoint_spacing`` apart are interpolated
        in joint space and streamed to the position controllers along a
        trapezoidal speed profile at ``ee_speed`` on average (slower when a
        joint would exceed its velocity limit); then the last one is held until
        the grasp point is within ``position_tolerance`` and slower than
        ``arrival_speed``. With ``precise=False`` (travel and retreat moves,
        whose end is the start of the next straight line) it only waits until
        the grasp point is within ``waypoint_spacing``. Streaming a moving
        target (rather than jumping to far waypoints) keeps every joint below
        its velocity limit, so the joints stay synchronised and the hand does
        not sag off the line into the stacks it passes over.

        ``guard`` makes it a guarded move (as real pick/place primitives
        descend): it is checked every few physics steps and the arm stops where
        it is as soon as it returns True (something was touched).

        ``reached`` is False when the segment stopped early (guard) or timed
        out (e.g. the fingers pushed against an object).
        """
        target = np.asarray(target, dtype=float)
        start = self.ee_position()
        distance = float(np.linalg.norm(target - start))
        n_waypoints = max(1, math.ceil(distance / self.motion.waypoint_spacing))
        path = [np.array(self.joint_positions())]
        for i in range(1, n_waypoints + 1):
            waypoint = start + (target - start) * (i / n_waypoints)
            path.append(np.array(self.solve_ik(waypoint, seed=list(path[-1]))))
        # Duration: ee_speed on average, but slow enough that no joint exceeds
        # JOINT_SPEED_SHARE of its velocity limit at the profile's peak speed.
        joint_travel = np.sum(np.abs(np.diff(np.array(path), axis=0)), axis=0)
        peak = 1.0 / (1.0 - RAMP_SHARE)  # peak / mean speed of the trapezoidal profile
        duration = max(
            distance / self.motion.ee_speed,
            float(np.max(joint_travel / self._max_joint_velocity)) * peak / JOINT_SPEED_SHARE,
        )
        tick = CHECK_EVERY * self._dt
        n_ticks = max(1, math.ceil(duration / tick))
        used = 0
        for k in range(1, n_ticks + 1):
            progress = _trapezoid(k / n_ticks)
            position = progress * n_waypoints
            index = min(int(position), n_waypoints - 1)
            fraction = position - index
            self._command_arm(path[index] + (path[index + 1] - path[index]) * fraction)
            self.world.step_simulation(CHECK_EVERY)
            used += CHECK_EVERY
            if guard is not None and guard():
                return self._stop(used)
        self._command_arm(path[-1])
        budget = used + max(CHECK_EVERY, round(self.motion.max_segment_time / self._dt))
        tolerance = self.motion.position_tolerance if precise else self.motion.waypoint_spacing
        while used < budget:
            if np.linalg.norm(self.ee_position() - target) < tolerance and (
                not precise or self.ee_speed() < self.motion.arrival_speed
            ):
                return Move(reached=True, steps=used, blocked=False)
            self.world.step_simulation(CHECK_EVERY)
            used += CHECK_EVERY
            if guard is not None and guard():
                return self._stop(used)
        return Move(reached=False, steps=used, blocked=False)

    def _stop(self, used: int) -> Move:
        """Hold the arm where it is (a guarded move touched something)."""
        self._command_arm(self.joint_positions())
        return Move(reached=False, steps=used, blocked=True)

    def touching(self, ignore: tuple[int, ...] = ()) -> bool:
        """The robot presses on a body not in ``ignore`` with more than GUARD_FORCE."""
        return any(
            point[2] not in ignore and point[9] > GUARD_FORCE
            for point in self.p.getContactPoints(bodyA=self.robot)
        )

    def open_gripper(self) -> int:
        """Open the fingers fully; returns physics steps."""
        self.gripper_closed = False
        self._command_fingers(self.cfg.finger_open)
        budget = max(CHECK_EVERY, round(self.motion.gripper_time / self._dt))
        used = 0
        while used < budget and self.gripper_width() < 2 * self.cfg.finger_open - 2e-3:
            self.world.step_simulation(CHECK_EVERY)
            used += CHECK_EVERY
        return used

    def finger_speed(self) -> float:
        states = self.p.getJointStates(self.robot, list(self.cfg.finger_joints))
        return max(abs(states[0][1]), abs(states[1][1]))

    def close_gripper(self) -> int:
        """Close the fingers with the configured force until they stop; returns physics steps."""
        self.gripper_closed = True
        self._command_fingers(0.0)
        budget = max(CHECK_EVERY, round(self.motion.gripper_time / self._dt))
        stall_speed = FINGER_STALL_SHARE * self.cfg.finger_max_velocity
        used = 0
        while used < budget:
            self.world.step_simulation(CHECK_EVERY)
            used += CHECK_EVERY
            # Fully closed, or stalled on an object: the motor then pushes with
            # its full force, so the grasp is as firm as it will get.
            if self.gripper_width() < CLOSED_WIDTH or (
                used > CHECK_EVERY and self.finger_speed() < stall_speed
            ):
                break
        return used

    def close(self) -> None:
        """Disconnect the kinematic copy used for IK."""
        self._ik_client.disconnect()

    def wait(self, seconds: float) -> int:
        steps = round(seconds / self._dt)
        if steps > 0:
            self.world.step_simulation(steps)
        return steps


# ---------------------------------------------------------------------- primitives


def _footprint(world: TabletopWorld, name: str, x: float, y: float) -> list[tuple[float, float]]:
    """Centre and four inset bottom corners of object ``name`` if its centre were at (x, y)."""
    state = world.object_state(name)
    rotation = np.array(pybullet.getMatrixFromQuaternion(state.orientation)).reshape(3, 3)
    half = state.size / 2.0 * FOOTPRINT_INSET
    points = [(x, y)]
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            offset = rotation @ np.array([sx * half, sy * half, 0.0])
            points.append((x + offset[0], y + offset[1]))
    return points


def pick(world: TabletopWorld, x: float, y: float) -> PrimitiveResult:
    """Pick at (x, y); see the module docstring."""
    arm, motion = world.arm, world.config.motion
    table = world.table_height
    steps = arm.open_gripper()
    travel = arm.move_to([x, y, table + motion.travel_height], precise=False)
    surface_z, surface = world.surface_below([(x, y)], arm.lowest_finger_z() - RAY_MARGIN)
    grasp_z = max(surface_z - motion.grasp_depth, table + motion.min_grasp_height)
    # Guarded: a finger landing on a cube stops the descent instead of ramming it.
    descent = arm.move_to([x, y, grasp_z], guard=arm.touching)
    steps += travel.steps + descent.steps
    if descent.blocked:
        # Back off before closing, so a finger resting on a cube does not drag it.
        stopped_z = float(arm.ee_position()[2])
        steps += arm.move_to([x, y, stopped_z + GUARD_BACKOFF], precise=False).steps
    steps += arm.close_gripper()
    lift = arm.move_to([x, y, table + motion.travel_height], precise=False)
    steps += lift.steps + arm.wait(motion.settle_time)
    picked = predicates.held_object(world.state(), world.config.tolerances)
    if not arm.is_holding():
        steps += arm.open_gripper()  # closed on air: be ready for the next pick
    return PrimitiveResult(
        kind=PICK,
        x=x,
        y=y,
        picked=picked,
        placed=None,
        placed_on=None,
        surface=surface,
        surface_height=surface_z,
        reached=travel.reached and descent.reached and lift.reached,
        blocked=descent.blocked,
        sim_steps=steps,
    )


def place(world: TabletopWorld, x: float, y: float) -> PrimitiveResult:
    """Place what the gripper holds at (x, y); see the module docstring."""
    arm, motion = world.arm, world.config.motion
    table = world.table_height
    held = predicates.held_object(world.state(), world.config.tolerances)
    travel = arm.move_to([x, y, table + motion.travel_height], precise=False)
    ee_z = float(arm.ee_position()[2])
    if held is not None:
        body = world.object_ids[held]
        bottom_z = world.client.getAABB(body)[0][2]
        held_xy = world.object_state(held).position[:2]
        points = _footprint(world, held, float(held_xy[0]), float(held_xy[1]))

        def guard() -> bool:
            # The hand touches something, or the held object lands early.
            return arm.touching(ignore=(body,)) or any(
                point[2] != world.robot_id and point[9] > GUARD_FORCE
                for point in world.client.getContactPoints(bodyA=body)
            )
    else:
        bottom_z = arm.lowest_finger_z()
        points = [(x, y)]
        guard = arm.touching
    surface_z, surface = world.surface_below(points, bottom_z - RAY_MARGIN)
    # Lower the object until its bottom is place_clearance above that surface.
    release_z = ee_z - (bottom_z - (surface_z + motion.place_clearance))
    release_z = max(release_z, table + motion.min_grasp_height)
    descent = arm.move_to([x, y, release_z], guard=guard)
    steps = travel.steps + descent.steps + arm.open_gripper() + arm.wait(motion.release_time)
    retreat = arm.move_to([x, y, table + motion.travel_height], precise=False)
    steps += retreat.steps + arm.wait(motion.settle_time)
    return PrimitiveResult(
        kind=PLACE,
        x=x,
        y=y,
        picked=None,
        placed=held,
        placed_on=_support_of(world, held) if held is not None else None,
        surface=surface,
        surface_height=surface_z,
        reached=travel.reached and descent.reached and retreat.reached,
        blocked=descent.blocked,
        sim_steps=steps,
    )


def _support_of(world: TabletopWorld, name: str) -> str | None:
    """What object ``name`` rests on after a place: an object, the table, a fixture or None."""
    state = world.state()
    tol = world.config.tolerances
    for other in state.object_names:
        if predicates.is_on_top(state, name, other, tol):
            return other
    if state.touching(name, TABLE):
        return TABLE
    for pair in state.contacts:
        if name in pair and len(pair) == 2:
            (other,) = pair - {name}
            if other in world.fixture_ids:
                return other
    return None


def execute_primitive(world: TabletopWorld, x: float, y: float) -> PrimitiveResult:
    """Place when the gripper holds something, else pick (MISSION B1)."""
    if world.arm.is_holding():
        return place(world, x, y)
    return pick(world, x, y)

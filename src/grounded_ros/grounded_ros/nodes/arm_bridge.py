"""arm_bridge: pick/place commands -> a real arm's ros2_control controllers, safely.

The same command interface as the simulator (``tabletop_sim``), for a robot
driven by ros2_control (or the simulator in ``hardware_interface:
ros2_control`` mode, which emulates one):

Subscribes:
- ``arm_command`` (grounded_interfaces/ArmCommand): pick/place at (x, y)
  (``use_z``: at the given grasp-point height). Answered on
  ``arm_command_result`` (ArmCommandResult) with the reason of every
  rejection: NaN/inf or out-of-workspace targets, unreachable (IK) or
  joint-limit-violating motions, a wrong frame, PICK while holding / PLACE
  while empty, busy, a stale command (stamp older than ``command_timeout``),
  no or stale joint states, a latched emergency stop;
- ``joint_states`` (sensor_msgs/JointState, ``joint_states_topic``): where
  the arm is; every segment must arrive (``arrival_tolerance``) before the
  next one starts;
- ``object_states`` (ObjectStates, ``object_states_topic``; empty: none): what
  is under (x, y), so pick and place heights follow stacks (from the
  simulator or a perception tracker; ignored when older than
  ``object_state_timeout``); without it the table height is used; the
  grasp point itself always comes from forward kinematics of the joint states;
- ``emergency_stop`` (std_msgs/Bool): true halts the arm at once (a hold
  trajectory at the current position, published from the callback) and
  latches: every command is refused until false is published. The gripper
  is left as it is, so a held object is not dropped.

Publishes:
- ``trajectory_topic`` (trajectory_msgs/JointTrajectory, default
  ``joint_trajectory_controller/joint_trajectory``): one velocity-limited
  trajectory per straight-line segment of the primitive;
- ``gripper_topic`` (default ``gripper_controller/commands``): the gripper
  command, std_msgs/Float64MultiArray (a forward command controller; one
  position per gripper joint) or a JointTrajectory of the gripper joints
  (``gripper_msg_type: joint_trajectory``).

Safety (grounded_core.arm.safety): every target and every joint waypoint is
checked before anything is published; trajectory timing comes from the joint
velocity limits; a watchdog on a ``control_rate_hz`` timer holds the arm
when joint states go stale during motion; ``dry_run`` plans and checks but
publishes nothing (the result message starts with "dry run").
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from builtin_interfaces.msg import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from grounded_core.arm import (
    PICK,
    ArmConfig,
    Kinematics,
    MotionSettings,
    PickPlacePlanner,
    Plan,
    SafetyError,
    SafetyLimits,
    Segment,
    TrackedObject,
    Watchdog,
)
from grounded_core.arm.config import PANDA_ARM_JOINTS, PANDA_GRIPPER_JOINTS, PANDA_HOME, PANDA_URDF
from grounded_core.arm.planner import MOVE, TABLE
from grounded_core.arm.safety import EmergencyStop
from grounded_interfaces.msg import ArmCommand, ArmCommandResult, ObjectStates
from grounded_ros.node_runtime import run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.qos import STATE

WORLD_FRAMES = ("", "world")
GRIPPER_ARRAY = "float64_multi_array"
GRIPPER_TRAJECTORY = "joint_trajectory"
#: A gripper counts as stopped when its opening changed less than this (m) ...
GRIPPER_STILL = 2e-4
#: ... over this much joint-state time (s).
GRIPPER_STILL_TIME = 0.1


def _names(text: str) -> str | None:
    return None if [n for n in text.split(",") if n.strip()] else "must name at least one joint"


def _numbers(text: str) -> str | None:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        return f"must be comma-separated numbers, got {text!r}"
    return None if all(math.isfinite(v) for v in values) else "must be finite"


def _split(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


PARAMS = (
    # --- the robot
    Param("urdf", PANDA_URDF, "Robot URDF (pybullet_data/... or a path).", read_only=True),
    Param(
        "arm_joints",
        ",".join(PANDA_ARM_JOINTS),
        "Comma-separated arm joints, in the trajectory controller's order.",
        read_only=True,
        check=_names,
    ),
    Param("ee_link", "panda_grasptarget", "End-effector link IK solves for.", read_only=True),
    Param(
        "gripper_joints",
        ",".join(PANDA_GRIPPER_JOINTS),
        "Comma-separated gripper joints (one command value each).",
        read_only=True,
        check=_names,
    ),
    Param("gripper_open", 0.04, "Gripper joint position when open.", read_only=True),
    Param("gripper_closed", 0.0, "Gripper joint position commanded to close.", read_only=True),
    Param(
        "home_joints",
        ",".join(str(q) for q in PANDA_HOME),
        "IK rest pose, comma-separated (empty: middle of the joint ranges).",
        read_only=True,
        check=_numbers,
    ),
    Param("base_x", 0.0, "Robot base position in the world frame (m).", read_only=True),
    Param("base_y", 0.0, "Robot base position in the world frame (m).", read_only=True),
    Param("base_z", 0.0, "Robot base position in the world frame (m).", read_only=True),
    Param("base_yaw", 0.0, "Robot base yaw in the world frame (rad).", read_only=True),
    Param("gripper_yaw", 0.0, "Gripper rotation about the vertical (rad).", read_only=True),
    # --- interfaces
    Param(
        "trajectory_topic",
        "joint_trajectory_controller/joint_trajectory",
        "JointTrajectory topic of the joint trajectory controller.",
        read_only=True,
    ),
    Param("gripper_topic", "gripper_controller/commands", "Gripper command topic.", read_only=True),
    Param(
        "gripper_msg_type",
        GRIPPER_ARRAY,
        "Gripper command message: a forward command controller's Float64MultiArray, or a "
        "JointTrajectory of the gripper joints.",
        choices=(GRIPPER_ARRAY, GRIPPER_TRAJECTORY),
        read_only=True,
    ),
    Param("joint_states_topic", "joint_states", "JointState topic.", read_only=True),
    Param(
        "object_states_topic",
        "object_states",
        "ObjectStates topic for stack heights (empty: none, the table height is assumed).",
        read_only=True,
    ),
    Param(
        "object_state_timeout",
        1.0,
        "Object states older than this (s) are ignored (heights from the table).",
        min=0.01,
        max=60.0,
    ),
    Param("emergency_stop_topic", "emergency_stop", "std_msgs/Bool e-stop.", read_only=True),
    Param("frame_id", "world", "Frame of command targets (empty frame_id also accepted)."),
    # --- safety
    Param("workspace_x_min", 0.35, "Workspace box (m, world frame).", read_only=True),
    Param("workspace_x_max", 0.65, "Workspace box (m, world frame).", read_only=True),
    Param("workspace_y_min", -0.15, "Workspace box (m, world frame).", read_only=True),
    Param("workspace_y_max", 0.15, "Workspace box (m, world frame).", read_only=True),
    Param("workspace_z_min", 0.015, "Lowest grasp point height (m).", read_only=True),
    Param("workspace_z_max", 0.40, "Highest grasp point height (m).", read_only=True),
    Param(
        "joint_margin", 0.02, "Kept clear of URDF joint limits.", min=0.0, max=1.0, read_only=True
    ),
    Param(
        "max_joint_velocity",
        1.0,
        "Cap on the URDF joint velocity limits (rad/s).",
        min=0.01,
        max=10.0,
        read_only=True,
    ),
    Param(
        "velocity_scale",
        1.0,
        "Share of the capped velocity limits trajectories use.",
        min=0.01,
        max=1.0,
        read_only=True,
    ),
    Param("control_rate_hz", 50.0, "Watchdog / supervision rate.", min=1.0, max=1000.0),
    Param(
        "joint_state_timeout",
        0.5,
        "Joint states older than this (s) are stale: motion holds, commands are refused.",
        min=0.01,
        max=60.0,
    ),
    Param(
        "command_timeout",
        2.0,
        "Commands stamped longer ago than this (s) are refused (0: no check).",
        min=0.0,
        max=3600.0,
    ),
    Param(
        "arrival_tolerance",
        0.005,
        "Largest joint error (rad) that counts as arrived.",
        min=1e-4,
        max=1.0,
    ),
    Param(
        "arrival_timeout",
        3.0,
        "Time (s, joint-state clock) allowed beyond a trajectory's duration to arrive.",
        min=0.1,
        max=120.0,
    ),
    Param("gripper_time", 1.5, "Longest wait for the gripper to stop (s).", min=0.05, max=30.0),
    Param(
        "holding_min_opening",
        0.01,
        "Gripper opening (summed distance of the gripper joints from closed) above which a "
        "closed gripper holds something.",
        min=0.0,
        max=1.0,
    ),
    Param("dry_run", False, "Plan and check only: publish nothing, log what would move."),
    # --- motion
    Param("table_height", 0.0, "World z of the table top (m).", read_only=True),
    Param(
        "travel_height",
        0.18,
        "Grasp point height above the table when travelling (m).",
        read_only=True,
    ),
    Param("grasp_depth", 0.025, "Grasp this far below the top under (x, y) (m).", read_only=True),
    Param("min_grasp_height", 0.02, "Lowest grasp point above the table (m).", read_only=True),
    Param("place_clearance", 0.004, "Release height of the object's bottom (m).", read_only=True),
    Param("object_size", 0.05, "Held object size when not tracked (m).", read_only=True),
    Param(
        "ee_speed",
        0.25,
        "Cruise speed of the grasp point (m/s).",
        min=0.01,
        max=2.0,
        read_only=True,
    ),
    Param("waypoint_spacing", 0.03, "IK waypoint spacing (m).", min=0.002, max=0.5, read_only=True),
    Param(
        "ik_tolerance", 0.005, "Largest IK position error (m).", min=1e-4, max=0.1, read_only=True
    ),
)


def build_core(p: dict) -> tuple[ArmConfig, SafetyLimits, MotionSettings]:
    """Core configuration from the node's parameters (ValueError on bad values)."""
    arm = ArmConfig(
        urdf=p["urdf"],
        arm_joints=_split(p["arm_joints"]),
        ee_link=p["ee_link"],
        gripper_joints=_split(p["gripper_joints"]),
        gripper_open=p["gripper_open"],
        gripper_closed=p["gripper_closed"],
        home_joints=tuple(float(v) for v in _split(p["home_joints"])),
        base_position=(p["base_x"], p["base_y"], p["base_z"]),
        base_yaw=p["base_yaw"],
        gripper_yaw=p["gripper_yaw"],
    )
    limits = SafetyLimits(
        workspace_x=(p["workspace_x_min"], p["workspace_x_max"]),
        workspace_y=(p["workspace_y_min"], p["workspace_y_max"]),
        workspace_z=(p["workspace_z_min"], p["workspace_z_max"]),
        joint_margin=p["joint_margin"],
        max_joint_velocity=p["max_joint_velocity"],
        velocity_scale=p["velocity_scale"],
    )
    motion = MotionSettings(
        table_height=p["table_height"],
        travel_height=p["travel_height"],
        grasp_depth=p["grasp_depth"],
        min_grasp_height=p["min_grasp_height"],
        place_clearance=p["place_clearance"],
        object_size=p["object_size"],
        ee_speed=p["ee_speed"],
        waypoint_spacing=p["waypoint_spacing"],
        ik_tolerance=p["ik_tolerance"],
    )
    return arm, limits, motion


def _duration(seconds: float) -> Duration:
    sec = math.floor(seconds)
    return Duration(sec=int(sec), nanosec=round((seconds - sec) * 1e9) % 1_000_000_000)


class Aborted(Exception):
    """A segment stopped early (e-stop, stale joint states, no arrival); says why."""


class ArmBridgeNode(Node):
    """Executes pick/place commands on a ros2_control arm, one segment at a time."""

    def __init__(self) -> None:
        super().__init__("arm_bridge")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        arm_config, limits, motion = build_core(p)
        self.kin = Kinematics(arm_config)
        self.planner = PickPlacePlanner(self.kin, limits, motion)
        self.config = arm_config
        self.limits = limits
        self.arm_names = list(arm_config.arm_joints)
        self.gripper_names = list(arm_config.gripper_joints)
        self.period = 1.0 / p["control_rate_hz"]

        self.cond = threading.Condition()
        self.q_arm: np.ndarray | None = None
        self.q_gripper: np.ndarray | None = None
        self.state_time = 0.0  # joint-state clock: header stamps (or receive time)
        self._use_stamps: bool | None = None
        self.joint_watchdog = Watchdog(p["joint_state_timeout"], "joint states")
        self.estop = EmergencyStop()
        self.abort_reason: str | None = None
        self.busy = False
        self.closed_commanded = False  # last gripper command was "close"
        self.held: str | None = None
        self.objects: list[TrackedObject] = []
        self.objects_time = -math.inf
        self.object_held_name = ""

        self.result_pub = self.create_publisher(ArmCommandResult, "arm_command_result", STATE)
        self.trajectory_pub = self.create_publisher(JointTrajectory, p["trajectory_topic"], STATE)
        gripper_type = (
            Float64MultiArray if p["gripper_msg_type"] == GRIPPER_ARRAY else JointTrajectory
        )
        self.gripper_pub = self.create_publisher(gripper_type, p["gripper_topic"], STATE)
        self.create_subscription(JointState, p["joint_states_topic"], self.on_joint_states, STATE)
        self.create_subscription(Bool, p["emergency_stop_topic"], self.on_emergency_stop, STATE)
        if p["object_states_topic"]:
            self.create_subscription(
                ObjectStates, p["object_states_topic"], self.on_object_states, STATE
            )
        self.create_subscription(ArmCommand, "arm_command", self.on_command, STATE)
        self.create_timer(self.period, self.supervise)
        self.get_logger().info(
            f"arm {self.arm_names} (ee {arm_config.ee_link}) -> {p['trajectory_topic']}, "
            f"gripper {self.gripper_names} -> {p['gripper_topic']} ({p['gripper_msg_type']}), "
            f"workspace x {limits.workspace_x} y {limits.workspace_y} z {limits.workspace_z}"
            + (", DRY RUN: nothing will move" if p["dry_run"] else "")
        )

    @property
    def dry_run(self) -> bool:
        """Live value (``ros2 param set /arm_bridge dry_run true`` takes effect at once)."""
        return bool(self.get_parameter("dry_run").value)

    # --- inputs ------------------------------------------------------------------------

    def on_joint_states(self, msg: JointState) -> None:
        index = {name: i for i, name in enumerate(msg.name)}
        missing = [n for n in (*self.arm_names, *self.gripper_names) if n not in index]
        if missing or len(msg.position) != len(msg.name):
            self.get_logger().error(
                f"joint_states without positions of {missing or 'every named joint'}: ignored",
                throttle_duration_sec=5.0,
            )
            return
        arm = np.array([msg.position[index[n]] for n in self.arm_names], dtype=float)
        gripper = np.array([msg.position[index[n]] for n in self.gripper_names], dtype=float)
        if not (np.all(np.isfinite(arm)) and np.all(np.isfinite(gripper))):
            self.get_logger().error("joint_states with NaN/inf: ignored", throttle_duration_sec=5.0)
            return
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if self._use_stamps is None:
            self._use_stamps = stamp > 0.0
        now = time.monotonic()
        with self.cond:
            self.q_arm, self.q_gripper = arm, gripper
            self.state_time = stamp if self._use_stamps else now
            self.joint_watchdog.feed(now)
            self.cond.notify_all()

    def on_emergency_stop(self, msg: Bool) -> None:
        if not self.estop.update(msg.data, time.monotonic()):
            return
        if self.estop.engaged:
            # Halt within this callback. The worker publishes only while holding
            # cond after checking abort_reason, so no segment can follow the hold.
            with self.cond:
                self.abort_reason = "emergency stop"
                self._hold()
                self.cond.notify_all()
            self.get_logger().error("EMERGENCY STOP engaged: arm held, commands refused")
        else:
            self.get_logger().warning("emergency stop released")

    @survive_bad_input
    def on_object_states(self, msg: ObjectStates) -> None:
        objects = []
        for o in msg.objects:
            position = (o.pose.position.x, o.pose.position.y, o.pose.position.z)
            size = o.size.z if o.size.z > 0 else self.planner.motion.object_size
            if all(math.isfinite(v) for v in (*position, size)):
                objects.append(TrackedObject(o.name, position, size))
        with self.cond:
            self.objects = objects
            self.object_held_name = msg.held_object
            self.objects_time = time.monotonic()
            self.cond.notify_all()

    # --- supervision -------------------------------------------------------------------

    def supervise(self) -> None:
        """Watchdog: hold the arm when joint states go stale while it moves."""
        if not self.busy or self.abort_reason is not None:
            return
        problem = self.joint_watchdog.problem(time.monotonic())
        if problem is not None:
            with self.cond:
                self.abort_reason = problem
                self._hold()
                self.cond.notify_all()
            self.get_logger().error(f"watchdog: {problem}: arm held")

    def _hold(self) -> None:
        """Command the arm to stay where it is (last measured position)."""
        if self.dry_run:
            return
        with self.cond:
            q = None if self.q_arm is None else self.q_arm.copy()
        msg = JointTrajectory(joint_names=list(self.arm_names))
        if q is not None:  # no position known: an empty trajectory (controller holds)
            msg.points = [
                JointTrajectoryPoint(
                    positions=q.tolist(),
                    velocities=[0.0] * len(q),
                    time_from_start=_duration(self.period),
                )
            ]
        self.trajectory_pub.publish(msg)

    # --- commands ----------------------------------------------------------------------

    @survive_bad_input
    def on_command(self, msg: ArmCommand) -> None:
        try:
            kind, plan = self._check_and_plan(msg)
        except SafetyError as error:
            self._reply(msg, False, str(error))
            self.get_logger().warning(f"command {msg.command_id} rejected: {error}")
            return
        if self.dry_run:
            for segment in plan.segments:
                self.get_logger().info(f"dry run: {_describe(segment)}")
            self._reply(msg, True, f"dry run: {plan.describe()}; nothing moved", kind)
            return
        self.busy = True
        with self.cond:
            self.abort_reason = None
        threading.Thread(target=self._execute, args=(msg, plan), daemon=True).start()

    def _check_and_plan(self, msg: ArmCommand) -> tuple[int, Plan]:
        """The primitive to run and its checked plan, or SafetyError with the reason."""
        if self.busy:
            raise SafetyError("busy: another command is executing")
        if (problem := self.estop.problem()) is not None:
            raise SafetyError(problem)
        if msg.header.frame_id not in (*WORLD_FRAMES, self.params["frame_id"]):
            raise SafetyError(
                f"target frame must be {self.params['frame_id']!r} (or empty), "
                f"got {msg.header.frame_id!r}"
            )
        if msg.primitive not in (ArmCommand.AUTO, ArmCommand.PICK, ArmCommand.PLACE):
            raise SafetyError(
                f"unknown primitive {msg.primitive}; use AUTO (0), PICK (1) or PLACE (2)"
            )
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        timeout = self.params["command_timeout"]
        if timeout > 0 and stamp > 0:
            age = self.get_clock().now().nanoseconds * 1e-9 - stamp
            if age > timeout:
                raise SafetyError(f"stale command: stamped {age:.2f} s ago (timeout {timeout} s)")
        x, y = self.limits.check_target(msg.target.x, msg.target.y)
        z = None
        if msg.use_z:
            z = float(msg.target.z)
            if not math.isfinite(z):
                raise SafetyError(f"target z must be finite, got {z}")
        with self.cond:
            problem = self.joint_watchdog.problem(time.monotonic())
            q = None if self.q_arm is None else self.q_arm.copy()
            opening = self._opening(self.q_gripper)
            objects = list(self.objects)
            fresh = time.monotonic() - self.objects_time < self.params["object_state_timeout"]
        if problem is not None:
            raise SafetyError(f"cannot move: {problem}")
        # Holding: closed last, and the fingers stopped between closed and fully open
        # (fully open after a close: something else opened the gripper, e.g. a sim reset).
        fully_open = self.config.gripper_opening_range - 2e-3
        holding = (
            self.closed_commanded and self.params["holding_min_opening"] < opening < fully_open
        )
        kind = msg.primitive
        if kind == ArmCommand.AUTO:
            kind = ArmCommand.PLACE if holding else ArmCommand.PICK
        if kind == ArmCommand.PICK and holding:
            raise SafetyError("PICK requested but the gripper already holds an object")
        if kind == ArmCommand.PLACE and not holding:
            raise SafetyError("PLACE requested but the gripper is empty")
        if not fresh:
            objects = []
        if kind == ArmCommand.PICK:
            return kind, self.planner.plan_pick(x, y, q, objects, z=z)
        offset = None
        held = next((o for o in objects if o.name == self.held), None)
        if held is not None:
            # grasp point (forward kinematics of the measured joints) above the object's bottom
            ee = self.kin.forward(q)
            offset = float(ee[2] - (held.position[2] - held.size / 2.0))
        return kind, self.planner.plan_place(
            x, y, q, objects, held=self.held, held_offset=offset, z=z
        )

    def _execute(self, msg: ArmCommand, plan: Plan) -> None:
        kind = ArmCommand.PICK if plan.kind == PICK else ArmCommand.PLACE
        try:
            self.get_logger().info(f"command {msg.command_id}: {plan.describe()}")
            for segment in plan.segments:
                self._run(segment)
            if plan.kind == PICK:
                self._finish_pick(msg, plan, kind)
            else:
                self._finish_place(msg, plan, kind)
        except Aborted as error:
            self.get_logger().error(f"command {msg.command_id} aborted: {error}")
            self._reply(msg, False, f"aborted: {error}", kind)
        except Exception as error:  # a failed command must not kill the node
            self._hold()
            self.get_logger().error(f"command {msg.command_id} failed: {error!r}")
            self._reply(msg, False, f"execution failed: {error}", kind)
        finally:
            self.busy = False

    def _finish_pick(self, msg: ArmCommand, plan: Plan, kind: int) -> None:
        with self.cond:
            opening = self._opening(self.q_gripper)
        if opening <= self.params["holding_min_opening"]:
            self._run(Segment("gripper", "open", gripper=self.config.gripper_open))
            self.held = None
            self._reply(msg, True, f"pick at ({plan.x:.3f}, {plan.y:.3f}): closed on nothing", kind)
            return
        name = self._confirmed_held() or plan.object or ""
        self.held = name or None
        self._reply(
            msg,
            True,
            f"pick at ({plan.x:.3f}, {plan.y:.3f}): holding {name or 'an untracked object'} "
            f"(gripper opening {opening * 1000:.1f} mm)",
            kind,
            picked=name,
        )

    def _finish_place(self, msg: ArmCommand, plan: Plan, kind: int) -> None:
        placed = self.held
        self.held = None
        support = self._confirmed_support(placed) if placed else None
        if support is None:
            support = plan.surface
        self._reply(
            msg,
            True,
            f"place at ({plan.x:.3f}, {plan.y:.3f}): released {placed or 'the object'} "
            f"on {support}",
            kind,
            placed_on=support,
        )

    def _fresh_objects(self, timeout: float = 1.0) -> list[TrackedObject] | None:
        """Object states received after now (waits up to ``timeout``), or None."""
        start = time.monotonic()
        with self.cond:
            got = self.cond.wait_for(lambda: self.objects_time > start, timeout)
            return list(self.objects) if got else None

    def _confirmed_held(self) -> str | None:
        if not self.params["object_states_topic"]:
            return None
        objects = self._fresh_objects()
        if objects is None:
            return None
        with self.cond:
            name, q = self.object_held_name, self.q_arm.copy()
        if name:
            return name
        ee = self.kin.forward(q)  # safe here: no planning while busy
        near = [o for o in objects if np.linalg.norm(np.array(o.position) - ee) < o.size]
        return near[0].name if near else None

    def _confirmed_support(self, placed: str) -> str | None:
        if not self.params["object_states_topic"]:
            return None
        objects = self._fresh_objects()
        obj = next((o for o in objects or () if o.name == placed), None)
        if obj is None:
            return None
        bottom = obj.position[2] - obj.size / 2.0
        for other in objects:
            close_xy = math.dist(other.position[:2], obj.position[:2]) < other.size / 2.0
            if other.name != placed and close_xy and abs(other.top - bottom) < 0.01:
                return other.name
        if abs(bottom - self.planner.motion.table_height) < 0.01:
            return TABLE
        return ""

    # --- segments ----------------------------------------------------------------------

    def _run(self, segment: Segment) -> None:
        if segment.kind == MOVE:
            self._run_move(segment)
        else:
            self._run_gripper(segment)

    def _check_abort(self) -> None:
        """Raise Aborted when the e-stop or the watchdog stopped the arm (cond held)."""
        if self.abort_reason is not None:
            raise Aborted(self.abort_reason)
        problem = self.joint_watchdog.problem(time.monotonic())
        if problem is not None:
            self.abort_reason = problem
            self._hold()
            raise Aborted(problem)

    def _run_move(self, segment: Segment) -> None:
        msg = JointTrajectory(joint_names=list(self.arm_names))
        msg.points = [
            JointTrajectoryPoint(positions=q.tolist(), time_from_start=_duration(t))
            for t, q in zip(segment.times, segment.positions, strict=True)
        ]
        goal = segment.positions[-1]
        limit = segment.duration + self.params["arrival_timeout"]
        wall_limit = time.monotonic() + 5.0 * limit + 5.0
        with self.cond:
            self._check_abort()
            self.trajectory_pub.publish(msg)
            start = self.state_time
            while True:
                self.cond.wait(self.period)
                self._check_abort()
                elapsed = self.state_time - start
                error = np.abs(self.q_arm - goal)
                if (
                    elapsed >= segment.duration
                    and float(error.max()) <= self.params["arrival_tolerance"]
                ):
                    return
                if elapsed > limit or time.monotonic() > wall_limit:
                    worst = int(np.argmax(error))
                    self.abort_reason = "no arrival"
                    break
        self._hold()
        raise Aborted(
            f"{segment.label} did not arrive within {limit:.2f} s: {self.arm_names[worst]} is "
            f"{error[worst]:.4f} rad off (tolerance {self.params['arrival_tolerance']})"
        )

    def _opening(self, q: np.ndarray | None) -> float:
        """Gripper opening: summed distance of the gripper joints from closed (0 if unknown)."""
        if q is None:
            return 0.0
        return float(np.sum(np.abs(np.asarray(q) - self.config.gripper_closed)))

    def _run_gripper(self, segment: Segment) -> None:
        target = float(segment.gripper)
        n = len(self.gripper_names)
        opening_goal = self._opening(np.full(n, target))
        if segment.label == "open":
            with self.cond:
                already = (
                    not self.closed_commanded
                    and abs(self._opening(self.q_gripper) - opening_goal) < 2e-3
                )
            if already:
                return
        if self.params["gripper_msg_type"] == GRIPPER_ARRAY:
            command = Float64MultiArray(data=[target] * n)
        else:
            command = JointTrajectory(joint_names=list(self.gripper_names))
            command.points = [
                JointTrajectoryPoint(
                    positions=[target] * n, time_from_start=_duration(self.params["gripper_time"])
                )
            ]
        closing = abs(target - self.config.gripper_closed) < abs(target - self.config.gripper_open)
        history: list[tuple[float, float]] = []
        with self.cond:
            self._check_abort()
            self.gripper_pub.publish(command)
            self.closed_commanded = closing
            start = self.state_time
            while True:
                self.cond.wait(self.period)
                self._check_abort()
                elapsed = self.state_time - start
                opening = self._opening(self.q_gripper)
                history.append((self.state_time, opening))
                if abs(opening - opening_goal) < 1e-3 and elapsed > GRIPPER_STILL_TIME:
                    return
                earlier = [o for t, o in history if t <= self.state_time - GRIPPER_STILL_TIME]
                if (
                    elapsed > 2 * GRIPPER_STILL_TIME
                    and earlier
                    and abs(opening - earlier[-1]) < GRIPPER_STILL
                ):
                    return  # stalled (on an object)
                if elapsed > self.params["gripper_time"]:
                    self.get_logger().warning(
                        f"gripper {segment.label}: still moving after "
                        f"{self.params['gripper_time']} s (opening {opening * 1000:.1f} mm)"
                    )
                    return

    # --- replies -----------------------------------------------------------------------

    def _reply(
        self,
        msg: ArmCommand,
        accepted: bool,
        message: str,
        primitive: int = ArmCommand.AUTO,
        picked: str = "",
        placed_on: str = "",
    ) -> None:
        result = ArmCommandResult(
            command_id=msg.command_id,
            accepted=accepted,
            message=message,
            executed_primitive=primitive if accepted else ArmCommand.AUTO,
            picked_object=picked,
            placed_on=placed_on,
        )
        result.header.stamp = self.get_clock().now().to_msg()
        result.header.frame_id = self.params["frame_id"]
        self.result_pub.publish(result)

    def destroy_node(self) -> None:
        self.kin.close()
        super().destroy_node()


def _describe(segment: Segment) -> str:
    if segment.kind == MOVE:
        end = segment.waypoints[-1]
        return (
            f"{segment.label}: {len(segment.times)} waypoints to "
            f"({end[0]:.3f}, {end[1]:.3f}, {end[2]:.3f}) in {segment.duration:.2f} s"
        )
    return f"{segment.label}: gripper joints to {segment.gripper:.4f}"


def main(args: list[str] | None = None) -> int:
    return run_node(ArmBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

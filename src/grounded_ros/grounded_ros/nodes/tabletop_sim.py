"""tabletop_sim: the pybullet tabletop world served as a ROS 2 node (MISSION B1).

Wraps ``grounded_core.tabletop.TabletopEnv`` (one world + one task). Topics and
services are relative to the node's namespace, so one actor per namespace
(``/actor_0/...``) works out of the box.

Subscribes:
- ``arm_command`` (grounded_interfaces/ArmCommand): a pick/place primitive at
  (x, y). Executed on a worker thread; the node answers every command on
  ``arm_command_result`` (ArmCommandResult), rejecting with a reason: NaN or
  out-of-workspace targets, a frame other than the world, ``use_z`` (the
  simulator computes the height from what is under (x, y)), PICK while holding
  or PLACE while empty, a command while another one runs, a finished episode.

Publishes:
- ``camera/<name>/image_raw`` (rgb8), ``camera/<name>/depth`` (32FC1, metres),
  ``camera/<name>/camera_info`` for every camera in ``cameras`` (default: the
  world file's enabled ones), at ``camera_rate_hz``;
- ``joint_states`` (sensor_msgs/JointState), ``object_states``
  (ObjectStates) and ``task_status`` (TaskStatus) at ``state_rate_hz`` and after
  every command and reset;
- ``/clock`` (rosgraph_msgs/Clock) with the simulated time when ``publish_clock``.

Services: ``reset_world`` (ResetWorld: task, seed or explicit layout) and
``list_tasks`` (ListTasks).

While a primitive runs, the world is locked and periodic publishing pauses;
everything is published again when it ends.

Hardware emulation (``hardware_interface: ros2_control``): instead of
primitives the node exposes what a real arm driven by ros2_control does, so
``arm_bridge`` (or any ros2_control client) can drive the simulated arm
exactly as it drives a real one:

- subscribes ``trajectory_topic`` (trajectory_msgs/JointTrajectory, default
  ``joint_trajectory_controller/joint_trajectory``): the arm joints follow it
  with position control in the physics loop, interpolated over simulated time
  as joint_trajectory_controller does (a new trajectory replaces the current
  one and starts on receipt; an empty one holds the arm where it is; unknown
  joints, NaN or non-increasing times are refused with an error in the log);
- subscribes ``gripper_topic`` (std_msgs/Float64MultiArray: one position per
  finger joint, or one for both, as a forward command controller takes; or
  JointTrajectory of the finger joints with ``gripper_msg_type:
  joint_trajectory``): the fingers move there with the finger force limit,
  stalling on a grasped object like a real parallel gripper;
- publishes ``joint_states`` at ``joint_state_rate_hz`` of simulated time,
  stamped with simulated time; the physics runs in real time (scaled by
  ``real_time_factor``) on a ``control_rate_hz`` timer.

``arm_command`` is then not subscribed (the bridge answers it);
object states, task status (success from the live state; ``step`` counts
gripper open/close changes, one per primitive), cameras, /clock and the
services work as in primitives mode.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from grounded_core.arm import TrajectoryError, TrajectoryTracker
from grounded_core.tabletop import (
    InvalidActionError,
    TabletopEnv,
    TabletopError,
    get_task,
    held_object,
    load_world_config,
    task_names,
)
from grounded_interfaces.msg import ArmCommand, ArmCommandResult, ObjectState, ObjectStates
from grounded_interfaces.msg import TaskStatus as TaskStatusMsg
from grounded_interfaces.srv import ListTasks, ResetWorld
from grounded_ros.image_conversions import numpy_to_image
from grounded_ros.node_runtime import run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.qos import PROFILES, STATE

WORLD_FRAMES = ("", "world")
PRIMITIVES = "primitives"
ROS2_CONTROL = "ros2_control"
GRIPPER_ARRAY = "float64_multi_array"
GRIPPER_TRAJECTORY = "joint_trajectory"
#: The physics loop catches up at most this much simulated time per tick (s);
#: beyond it the simulation runs slower than real time instead of in bursts.
MAX_CATCH_UP = 0.25

PARAMS = (
    Param(
        "world",
        "tabletop",
        "World name in sim_worlds/ or a path to a world YAML file.",
        read_only=True,
    ),
    Param("task", "stack_red_on_blue", "Task of the first episode (see list_tasks)."),
    Param("seed", 0, "Seed of the first episode's layout.", min=0, max=2**62),
    Param(
        "max_steps", 0, "Primitive steps per episode (0 = the task's default).", min=0, max=100_000
    ),
    Param(
        "cameras",
        "",
        "Comma-separated cameras to publish (empty = the world's enabled ones).",
        read_only=True,
    ),
    Param(
        "camera_rate_hz",
        5.0,
        "Rate of camera images (0 = no images).",
        min=0.0,
        max=60.0,
        read_only=True,
    ),
    Param("publish_depth", True, "Publish depth images beside the RGB ones.", read_only=True),
    Param(
        "camera_qos",
        "reliable_frames",
        "QoS of camera topics.",
        choices=tuple(PROFILES),
        read_only=True,
    ),
    Param(
        "state_rate_hz",
        10.0,
        "Rate of joint_states, object_states and task_status.",
        min=0.1,
        max=500.0,
        read_only=True,
    ),
    Param("publish_clock", False, "Publish /clock with the simulated time.", read_only=True),
    Param("frame_id", "world", "frame_id of states and camera poses.", read_only=True),
    Param("gui", False, "Open the pybullet GUI (needs a display).", read_only=True),
    Param(
        "hardware_interface",
        PRIMITIVES,
        "primitives: execute arm_command pick/place primitives; ros2_control: emulate a real "
        "arm's controllers (joint trajectory + gripper command topics, joint_states).",
        choices=(PRIMITIVES, ROS2_CONTROL),
        read_only=True,
    ),
    Param(
        "trajectory_topic",
        "joint_trajectory_controller/joint_trajectory",
        "ros2_control mode: JointTrajectory topic of the emulated joint trajectory controller.",
        read_only=True,
    ),
    Param(
        "gripper_topic",
        "gripper_controller/commands",
        "ros2_control mode: gripper command topic.",
        read_only=True,
    ),
    Param(
        "gripper_msg_type",
        GRIPPER_ARRAY,
        "ros2_control mode: gripper command type (forward command controller array or a "
        "JointTrajectory of the finger joints).",
        choices=(GRIPPER_ARRAY, GRIPPER_TRAJECTORY),
        read_only=True,
    ),
    Param(
        "control_rate_hz",
        100.0,
        "ros2_control mode: rate of the physics loop timer (wall clock).",
        min=10.0,
        max=1000.0,
        read_only=True,
    ),
    Param(
        "joint_state_rate_hz",
        50.0,
        "ros2_control mode: joint_states rate in simulated time.",
        min=1.0,
        max=500.0,
        read_only=True,
    ),
    Param(
        "real_time_factor",
        1.0,
        "ros2_control mode: simulated seconds per wall-clock second (slower when the CPU "
        "cannot keep up).",
        min=0.05,
        max=20.0,
        read_only=True,
    ),
)


def _stamp(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=sec, nanosec=round((seconds - sec) * 1e9) % 1_000_000_000)


def camera_info_msg(camera, width: int, height: int, frame_id: str) -> CameraInfo:
    """CameraInfo of a pinhole camera without distortion (K from the core camera)."""
    k = np.asarray(camera.K, dtype=float)
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.header.frame_id = frame_id
    info.k = k.reshape(-1).tolist()
    info.d = [0.0] * 5
    info.r = np.eye(3).reshape(-1).tolist()
    info.p = np.hstack([k, np.zeros((3, 1))]).reshape(-1).tolist()
    return info


class TabletopSimNode(Node):
    """Serves one tabletop world: commands in; images, states and task status out."""

    def __init__(self) -> None:
        super().__init__("tabletop_sim")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        config = load_world_config(p["world"])
        if p["task"] not in task_names(config):
            raise ValueError(f"unknown task {p['task']!r}; tasks: {', '.join(task_names(config))}")
        self.env = TabletopEnv(p["task"], config, max_steps=p["max_steps"] or None, gui=p["gui"])
        self.world = self.env.world
        self.lock = threading.Lock()
        self.busy = False
        self.seed = p["seed"]
        self.episode_done = False
        self.last_reward = 0.0
        # Simulated time is continuous across episodes (for /clock).
        self.time_offset = 0.0
        self.env.reset(seed=self.seed)
        self._joint_names, self._joint_ids = self._joints()

        self.result_pub = self.create_publisher(ArmCommandResult, "arm_command_result", STATE)
        self.joint_pub = self.create_publisher(JointState, "joint_states", STATE)
        self.objects_pub = self.create_publisher(ObjectStates, "object_states", STATE)
        self.status_pub = self.create_publisher(TaskStatusMsg, "task_status", STATE)
        self.clock_pub = self.create_publisher(Clock, "/clock", 10) if p["publish_clock"] else None
        camera_qos = PROFILES[p["camera_qos"]]
        self.cameras = {}
        if p["cameras"].strip():
            wanted = [name.strip() for name in p["cameras"].split(",") if name.strip()]
            unknown = [name for name in wanted if name not in self.world.cameras]
            if unknown:
                raise ValueError(
                    f"unknown camera(s) {unknown}; the world has {sorted(self.world.cameras)}"
                )
            selected = [config.camera(name) for name in wanted]
        else:
            selected = list(config.enabled_cameras)
        for cam in selected:
            base = f"camera/{cam.name}"
            self.cameras[cam.name] = {
                "rgb": self.create_publisher(Image, f"{base}/image_raw", camera_qos),
                "depth": (
                    self.create_publisher(Image, f"{base}/depth", camera_qos)
                    if p["publish_depth"]
                    else None
                ),
                "info": self.create_publisher(CameraInfo, f"{base}/camera_info", camera_qos),
                "msg": camera_info_msg(
                    self.world.cameras[cam.name],
                    cam.width,
                    cam.height,
                    f"{cam.name}_optical_frame",
                ),
            }
        self.emulation = None
        if p["hardware_interface"] == ROS2_CONTROL:
            self.emulation = Ros2ControlEmulation(self)
        else:
            self.create_subscription(ArmCommand, "arm_command", self.on_command, STATE)
        self.create_service(ResetWorld, "reset_world", self.on_reset)
        self.create_service(ListTasks, "list_tasks", self.on_list_tasks)
        self.create_timer(1.0 / p["state_rate_hz"], self.publish_state)
        if p["camera_rate_hz"] > 0 and self.cameras:
            self.create_timer(1.0 / p["camera_rate_hz"], self.publish_images)
        self.get_logger().info(
            f"world {config.name!r}, task {self.env.task.name!r}, seed {self.seed}, "
            f"cameras {list(self.cameras)}, hardware interface {p['hardware_interface']}"
        )

    def _joints(self) -> tuple[list[str], list[int]]:
        robot = self.world.config.robot
        ids = [*robot.arm_joints, *robot.finger_joints]
        client = self.world.client
        names = [client.getJointInfo(self.world.robot_id, j)[1].decode() for j in ids]
        return names, ids

    # --- time ------------------------------------------------------------------------

    def sim_seconds(self) -> float:
        """Simulated time, continuous across episodes."""
        return self.time_offset + self.world.sim_time

    def sim_now(self) -> Time:
        return _stamp(self.sim_seconds())

    # --- commands ----------------------------------------------------------------------

    @survive_bad_input
    def on_command(self, msg: ArmCommand) -> None:
        reason = self._command_problem(msg)
        if reason is not None:
            self._reply(msg, accepted=False, message=reason)
            raise InvalidActionError(f"command {msg.command_id} rejected: {reason}")
        self.busy = True
        threading.Thread(target=self._execute, args=(msg,), daemon=True).start()

    def _command_problem(self, msg: ArmCommand) -> str | None:
        """Why msg cannot run now, or None. Cheap checks first; no physics here."""
        if self.busy:
            return "busy: another command is executing"
        if msg.header.frame_id not in WORLD_FRAMES:
            return f"target frame must be 'world' (or empty), got {msg.header.frame_id!r}"
        if msg.primitive not in (ArmCommand.AUTO, ArmCommand.PICK, ArmCommand.PLACE):
            return f"unknown primitive {msg.primitive}; use AUTO (0), PICK (1) or PLACE (2)"
        if msg.use_z:
            return "use_z is not supported: the simulator computes the height under (x, y)"
        try:
            self.world.validate_action(msg.target.x, msg.target.y)
        except InvalidActionError as error:
            return str(error)
        if self.episode_done:
            return "the episode is over; call reset_world"
        with self.lock:
            holding = self.env.state.holding
        if msg.primitive == ArmCommand.PICK and holding:
            return "PICK requested but the gripper already holds an object"
        if msg.primitive == ArmCommand.PLACE and not holding:
            return "PLACE requested but the gripper is empty"
        return None

    def _execute(self, msg: ArmCommand) -> None:
        try:
            with self.lock:
                _, reward, terminated, truncated, info = self.env.step((msg.target.x, msg.target.y))
                self.last_reward = float(reward)
                self.episode_done = bool(terminated or truncated)
            primitive = info["primitive"]
            result = ArmCommandResult(
                command_id=msg.command_id,
                accepted=True,
                executed_primitive=ArmCommand.PICK
                if primitive["kind"] == "pick"
                else ArmCommand.PLACE,
                picked_object=primitive["picked"] or "",
                placed_on=primitive["placed_on"] or "",
                message=(
                    f"{primitive['kind']} at ({msg.target.x:.3f}, {msg.target.y:.3f}): "
                    f"reward {reward:g}" + (", task done" if self.episode_done else "")
                ),
            )
            result.header.stamp = self.sim_now()
            self.result_pub.publish(result)
        except Exception as error:  # a failed primitive must not kill the node
            self.get_logger().error(f"command {msg.command_id} failed: {error}")
            self._reply(msg, accepted=False, message=f"execution failed: {error}")
        finally:
            self.busy = False
        self.publish_state()

    def _reply(self, msg: ArmCommand, accepted: bool, message: str) -> None:
        result = ArmCommandResult(command_id=msg.command_id, accepted=accepted, message=message)
        result.header.stamp = self.get_clock().now().to_msg()
        self.result_pub.publish(result)

    # --- services --------------------------------------------------------------------

    def on_reset(self, request: ResetWorld.Request, response: ResetWorld.Response):
        if self.busy:
            response.success, response.message = False, "busy: a command is executing"
            return response
        config = self.world.config
        task = request.task or self.env.task.name
        try:
            get_task(task, config)
            if request.seed < 0:
                raise ValueError(f"seed must be non-negative, got {request.seed}")
            layout = None
            if request.layout:
                layout = {
                    o.name: (o.pose.position.x, o.pose.position.y, _yaw(o.pose.orientation))
                    for o in request.layout
                }
                if len(layout) != len(request.layout):
                    raise ValueError("layout names an object twice")
            with self.lock:
                self.time_offset += self.world.sim_time
                options = {"task": task}
                if layout is not None:
                    options["layout"] = layout
                self.env.reset(seed=int(request.seed), options=options)
                self.seed = int(request.seed)
                self.episode_done = False
                self.last_reward = 0.0
                if self.emulation is not None:
                    self.emulation.reset()
        except (TabletopError, ValueError, KeyError) as error:
            response.success, response.message = False, str(error)
            self.get_logger().warning(f"reset refused: {error}")
            return response
        response.success = True
        response.message = f"task {task}, seed {self.seed}"
        response.state = self._object_states()
        response.status = self._status()
        self.publish_state()
        return response

    def on_list_tasks(self, request: ListTasks.Request, response: ListTasks.Response):
        config = self.world.config
        names = task_names(config)
        response.tasks = names
        response.instructions = [get_task(n, config).instruction for n in names]
        return response

    # --- publishing --------------------------------------------------------------------

    def _object_states(self) -> ObjectStates:
        state = self.env.state
        msg = ObjectStates()
        msg.header.stamp = self.sim_now()
        msg.header.frame_id = self.params["frame_id"]
        held = held_object(state, self.world.config.tolerances) or ""
        for name in state.object_names:
            obj = state.objects[name]
            x, y, z = (float(v) for v in obj.position)
            qx, qy, qz, qw = (float(v) for v in obj.orientation)
            msg.objects.append(
                ObjectState(
                    name=name,
                    pose=Pose(
                        position=Point(x=x, y=y, z=z),
                        orientation=Quaternion(x=qx, y=qy, z=qz, w=qw),
                    ),
                    size=Vector3(x=obj.size, y=obj.size, z=obj.size),
                    held=name == held,
                )
            )
        ex, ey, ez = (float(v) for v in state.ee_position)
        msg.end_effector = Point(x=ex, y=ey, z=ez)
        opening = state.gripper_width / (2.0 * self.world.config.robot.finger_open)
        msg.gripper_opening = float(min(max(opening, 0.0), 1.0))
        msg.held_object = held
        return msg

    def _status(self) -> TaskStatusMsg:
        task = self.env.task
        success = task.is_success(self.env.state, self.world.config.tolerances)
        msg = TaskStatusMsg(
            task=task.name,
            instruction=task.instruction,
            seed=self.seed,
            step=self.env.steps,
            max_steps=task.max_steps,
            reward=self.last_reward,
            success=bool(success),
            done=self.episode_done,
        )
        msg.header.stamp = self.sim_now()
        return msg

    def publish_state(self) -> None:
        if not self.lock.acquire(blocking=False):
            return  # a primitive is running; its end publishes the new state
        try:
            stamp = self.sim_now()
            if self.emulation is None:
                self.publish_joint_states()
            else:
                self.emulation.refresh_task_state()
            self.objects_pub.publish(self._object_states())
            self.status_pub.publish(self._status())
            if self.clock_pub is not None:
                self.clock_pub.publish(Clock(clock=stamp))
        finally:
            self.lock.release()

    def publish_joint_states(self) -> None:
        """Publish every robot joint's state (call with the world locked)."""
        client = self.world.client
        joints = JointState(name=list(self._joint_names))
        joints.header.stamp = self.sim_now()
        for j in self._joint_ids:
            position, velocity, _, effort = client.getJointState(self.world.robot_id, j)
            joints.position.append(float(position))
            joints.velocity.append(float(velocity))
            joints.effort.append(float(effort))
        self.joint_pub.publish(joints)

    def publish_images(self) -> None:
        if not self.lock.acquire(blocking=False):
            return
        try:
            stamp = self.sim_now()
            frames = {name: self.world.render(name) for name in self.cameras}
        finally:
            self.lock.release()
        for name, frame in frames.items():
            pubs = self.cameras[name]
            frame_id = pubs["msg"].header.frame_id
            pubs["rgb"].publish(numpy_to_image(frame.rgb, "rgb8", frame_id, stamp))
            if pubs["depth"] is not None:
                depth = np.ascontiguousarray(frame.depth, dtype=np.float32)
                pubs["depth"].publish(numpy_to_image(depth, "32FC1", frame_id, stamp))
            pubs["msg"].header.stamp = stamp
            pubs["info"].publish(pubs["msg"])

    def destroy_node(self) -> None:
        with self.lock:
            self.env.close()
        super().destroy_node()


class Ros2ControlEmulation:
    """The simulated arm behind ros2_control-style topics (see the module docstring).

    Runs on the node's executor thread: the physics timer, the trajectory and
    gripper callbacks and the state publishers never run at the same time;
    the world lock keeps the services and images consistent with them.
    """

    def __init__(self, node: TabletopSimNode) -> None:
        self.node = node
        self.world = node.world
        p = node.params
        robot = self.world.config.robot
        client, body = self.world.client, self.world.robot_id
        self.arm_names = [client.getJointInfo(body, j)[1].decode() for j in robot.arm_joints]
        self.finger_names = [client.getJointInfo(body, j)[1].decode() for j in robot.finger_joints]
        self.dt = self.world.config.physics.time_step
        self.rate_factor = p["real_time_factor"]
        self.state_period = 1.0 / p["joint_state_rate_hz"]
        self.tracker = TrajectoryTracker(
            self.arm_names, self.world.arm.joint_positions(), node.sim_seconds()
        )
        self.trajectories = 0
        self.gripper_commands = 0
        self._anchor()
        node.create_subscription(JointTrajectory, p["trajectory_topic"], self.on_trajectory, STATE)
        if p["gripper_msg_type"] == GRIPPER_ARRAY:
            node.create_subscription(
                Float64MultiArray, p["gripper_topic"], self.on_gripper_array, STATE
            )
        else:
            node.create_subscription(
                JointTrajectory, p["gripper_topic"], self.on_gripper_trajectory, STATE
            )
        node.create_timer(1.0 / p["control_rate_hz"], self.tick)

    def get_logger(self):  # for survive_bad_input
        return self.node.get_logger()

    def _anchor(self) -> None:
        self.wall_anchor = time.monotonic()
        self.sim_anchor = self.node.sim_seconds()
        self.next_state = self.sim_anchor

    def reset(self) -> None:
        """After a world reset (world locked): hold the home pose, restart the clock anchor."""
        self.tracker.hold(self.world.arm.joint_positions(), self.node.sim_seconds())
        self._anchor()

    # --- commands --------------------------------------------------------------------

    @survive_bad_input
    def on_trajectory(self, msg: JointTrajectory) -> None:
        times = [pt.time_from_start.sec + pt.time_from_start.nanosec * 1e-9 for pt in msg.points]
        positions = [list(pt.positions) for pt in msg.points]
        with self.node.lock:
            now = self.node.sim_seconds()
            self.tracker.set_trajectory(
                msg.joint_names, times, positions, now, actual=self.world.arm.joint_positions()
            )
            self.trajectories += 1
        self.get_logger().debug(
            f"trajectory {self.trajectories}: {len(msg.points)} points, "
            f"{self.tracker.duration:.2f} s"
        )

    @survive_bad_input
    def on_gripper_array(self, msg: Float64MultiArray) -> None:
        values = list(msg.data)
        if len(values) not in (1, len(self.finger_names)):
            raise TrajectoryError(
                f"gripper command needs 1 or {len(self.finger_names)} values "
                f"({self.finger_names}), got {len(values)}"
            )
        self._command_gripper(values)

    @survive_bad_input
    def on_gripper_trajectory(self, msg: JointTrajectory) -> None:
        if not msg.points or sorted(msg.joint_names) != sorted(self.finger_names):
            raise TrajectoryError(
                f"gripper trajectory must name {self.finger_names} and have points, "
                f"got {list(msg.joint_names)} with {len(msg.points)} points"
            )
        self._command_gripper(list(msg.points[-1].positions))

    def _command_gripper(self, values: list[float]) -> None:
        limit = self.world.config.robot.finger_open
        if not all(math.isfinite(v) for v in values):
            raise TrajectoryError(f"gripper command must be finite, got {values}")
        if not all(-1e-6 <= v <= limit + 1e-6 for v in values):
            raise TrajectoryError(f"gripper positions must be in [0, {limit}], got {values}")
        # The fingers are coupled (one motor on the real Panda hand): one target for both.
        target = float(sum(values) / len(values))
        with self.node.lock:
            arm = self.world.arm
            was_closed = arm.gripper_closed
            arm.command_gripper(target)
            if arm.gripper_closed != was_closed:
                self.node.env.steps += 1  # one close per pick, one open per place
            self.gripper_commands += 1

    # --- physics loop ----------------------------------------------------------------

    def tick(self) -> None:
        """Step the physics up to the wall clock, tracking the trajectory every step."""
        node = self.node
        if not node.lock.acquire(blocking=False):
            return  # a reset is running; catch up on the next tick
        try:
            now = node.sim_seconds()
            due = self.sim_anchor + (time.monotonic() - self.wall_anchor) * self.rate_factor
            steps = math.floor((due - now) / self.dt + 1e-9)
            if steps <= 0:
                return
            cap = max(1, round(MAX_CATCH_UP / self.dt))
            behind = steps > cap
            arm = self.world.arm
            for _ in range(min(steps, cap)):
                arm.command_joints(self.tracker.sample(now))
                self.world.step_simulation(1)
                now = node.sim_seconds()
                if now >= self.next_state - 1e-9:
                    node.publish_joint_states()
                    self.next_state = max(self.next_state + self.state_period, now)
            if behind:  # the CPU cannot keep up: slow the simulation down, no bursts
                self.wall_anchor = time.monotonic()
                self.sim_anchor = now
        finally:
            node.lock.release()

    def refresh_task_state(self) -> None:
        """Task success and done from the live world (world locked by the caller)."""
        node = self.node
        env = node.env
        env.state = self.world.state()
        success = env.task.is_success(env.state, self.world.config.tolerances)
        if success and not node.episode_done:
            node.last_reward = 1.0
        if success or env.steps >= env.task.max_steps:
            node.episode_done = True


def _yaw(q: Quaternion) -> float:
    """Yaw (rotation about z) of a quaternion; 0 for the all-zero default quaternion."""
    if q.x == q.y == q.z == q.w == 0.0:
        return 0.0
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def main(args: list[str] | None = None) -> int:
    return run_node(TabletopSimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

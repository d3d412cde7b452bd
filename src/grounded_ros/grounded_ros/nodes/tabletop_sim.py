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
"""

from __future__ import annotations

import math
import threading

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState

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
        self.create_subscription(ArmCommand, "arm_command", self.on_command, STATE)
        self.create_service(ResetWorld, "reset_world", self.on_reset)
        self.create_service(ListTasks, "list_tasks", self.on_list_tasks)
        self.create_timer(1.0 / p["state_rate_hz"], self.publish_state)
        if p["camera_rate_hz"] > 0 and self.cameras:
            self.create_timer(1.0 / p["camera_rate_hz"], self.publish_images)
        self.get_logger().info(
            f"world {config.name!r}, task {self.env.task.name!r}, seed {self.seed}, "
            f"cameras {list(self.cameras)}"
        )

    def _joints(self) -> tuple[list[str], list[int]]:
        robot = self.world.config.robot
        ids = [*robot.arm_joints, *robot.finger_joints]
        client = self.world.client
        names = [client.getJointInfo(self.world.robot_id, j)[1].decode() for j in ids]
        return names, ids

    # --- time ------------------------------------------------------------------------

    def sim_now(self) -> Time:
        return _stamp(self.time_offset + self.world.sim_time)

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
            client = self.world.client
            joints = JointState(name=list(self._joint_names))
            joints.header.stamp = stamp
            for j in self._joint_ids:
                position, velocity, _, effort = client.getJointState(self.world.robot_id, j)
                joints.position.append(float(position))
                joints.velocity.append(float(velocity))
                joints.effort.append(float(effort))
            self.joint_pub.publish(joints)
            self.objects_pub.publish(self._object_states())
            self.status_pub.publish(self._status())
            if self.clock_pub is not None:
                self.clock_pub.publish(Clock(clock=stamp))
        finally:
            self.lock.release()

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


def _yaw(q: Quaternion) -> float:
    """Yaw (rotation about z) of a quaternion; 0 for the all-zero default quaternion."""
    if q.x == q.y == q.z == q.w == 0.0:
        return 0.0
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def main(args: list[str] | None = None) -> int:
    return run_node(TabletopSimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

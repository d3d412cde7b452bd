"""arm_bridge driving tabletop_sim's ros2_control emulation over real DDS.

The full stack a real robot would use: pick/place ArmCommands -> arm_bridge
(IK, safety checks, velocity-limited JointTrajectory + gripper commands) ->
the simulator's emulated joint trajectory controller and gripper ->
joint_states back. The bridge reads joint states through a relay in this
test process (``relayed_joint_states``), so the test can make them stale.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Header
from trajectory_msgs.msg import JointTrajectory

from grounded_interfaces.msg import ArmCommand, ArmCommandResult, ObjectStates, TaskStatus
from grounded_interfaces.msg import ObjectState as ObjectStateMsg
from grounded_interfaces.srv import ResetWorld
from grounded_ros.qos import STATE
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

ARM = [f"panda_joint{i}" for i in range(1, 8)]
LAYOUT = {"red": (0.45, -0.08), "green": (0.58, 0.08), "blue": (0.45, 0.08)}
TRAJECTORY_TOPIC = "joint_trajectory_controller/joint_trajectory"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    logs = tmp_path_factory.mktemp("arm_bridge")
    sim = NodeProcess(
        node_command(
            "tabletop_sim",
            "-p",
            "hardware_interface:=ros2_control",
            "-p",
            "task:=stack_red_on_blue",
            "-p",
            "camera_rate_hz:=0.0",
            "-p",
            "state_rate_hz:=10.0",
            "-p",
            "joint_state_rate_hz:=50.0",
        ),
        logs / "sim.log",
    )
    bridge = NodeProcess(
        node_command(
            "arm_bridge",
            "-p",
            "joint_states_topic:=relayed_joint_states",
            "-p",
            "joint_state_timeout:=0.4",
            "-p",
            "arrival_timeout:=6.0",
            "-p",
            "ee_speed:=0.4",
        ),
        logs / "bridge.log",
    )
    yield sim, bridge
    alive = {"tabletop_sim": sim, "arm_bridge": bridge}
    dead = {n: p.output() for n, p in alive.items() if p.proc.poll() is not None}
    sim.stop()
    bridge.stop()
    assert not dead, f"nodes died: {dead}"


class Client:
    """Commands, results, a joint-state relay that can be paused, and the sim's outputs."""

    def __init__(self, c: ClientNode) -> None:
        self.c = c
        node = c.node
        self.results: list[ArmCommandResult] = []
        self.joints: list[JointState] = []
        self.status: list[TaskStatus] = []
        self.objects: list[ObjectStates] = []
        self.trajectories: list[JointTrajectory] = []
        self.relay_on = True
        self.relay = node.create_publisher(JointState, "relayed_joint_states", STATE)
        node.create_subscription(JointState, "joint_states", self._on_joints, STATE)
        node.create_subscription(ArmCommandResult, "arm_command_result", self.results.append, STATE)
        node.create_subscription(TaskStatus, "task_status", self.status.append, STATE)
        node.create_subscription(ObjectStates, "object_states", self.objects.append, STATE)
        node.create_subscription(JointTrajectory, TRAJECTORY_TOPIC, self.trajectories.append, STATE)
        self.commands = node.create_publisher(ArmCommand, "arm_command", STATE)
        self.estop = node.create_publisher(Bool, "emergency_stop", STATE)
        self.reset = node.create_client(ResetWorld, "reset_world")
        self.set_params = node.create_client(SetParameters, "arm_bridge/set_parameters")
        self.next_id = 1
        assert self.reset.wait_for_service(timeout_sec=30.0)
        assert self.set_params.wait_for_service(timeout_sec=30.0)
        assert c.spin_until(
            lambda: (
                self.commands.get_subscription_count() > 0
                and self.estop.get_subscription_count() > 0
                and self.relay.get_subscription_count() > 0
                and len(self.joints) > 5
            ),
            30.0,
        )

    def _on_joints(self, msg: JointState) -> None:
        self.joints.append(msg)
        if self.relay_on:
            self.relay.publish(msg)

    def arm(self) -> np.ndarray:
        msg = self.joints[-1]
        index = {n: i for i, n in enumerate(msg.name)}
        return np.array([msg.position[index[n]] for n in ARM])

    def send(self, x: float, y: float, primitive=ArmCommand.AUTO, **fields) -> int:
        msg = ArmCommand(command_id=self.next_id, primitive=primitive, **fields)
        msg.target.x, msg.target.y = x, y
        self.next_id += 1
        self.commands.publish(msg)
        return msg.command_id

    def result(self, command_id: int, timeout: float = 40.0) -> ArmCommandResult:
        ok = self.c.spin_until(
            lambda: any(r.command_id == command_id for r in self.results), timeout
        )
        assert ok, f"no result for command {command_id}"
        return next(r for r in self.results if r.command_id == command_id)

    def command(self, x, y, primitive=ArmCommand.AUTO, **fields) -> ArmCommandResult:
        return self.result(self.send(x, y, primitive, **fields))

    def do_reset(self, layout: dict | None = None) -> ResetWorld.Response:
        request = ResetWorld.Request(task="stack_red_on_blue", seed=0)
        for name, (x, y) in (layout or LAYOUT).items():
            pose = Pose()
            pose.position.x, pose.position.y = x, y
            request.layout.append(ObjectStateMsg(name=name, pose=pose))
        reply = self.c.wait_future(self.reset.call_async(request), 30.0)
        assert reply.success, reply.message
        # let the bridge see the home pose and fresh object states
        n = len(self.objects)
        assert self.c.spin_until(lambda: len(self.objects) > n + 1, 10.0)
        return reply

    def set_dry_run(self, value: bool) -> None:
        param = Parameter(
            name="dry_run",
            value=ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value),
        )
        reply = self.c.wait_future(
            self.set_params.call_async(SetParameters.Request(parameters=[param]))
        )
        assert reply.results[0].successful, reply.results[0].reason

    def moving(self, threshold: float = 0.02) -> bool:
        """The arm moved more than ``threshold`` rad since the last call's reference."""
        return float(np.max(np.abs(self.arm() - self._reference))) > threshold

    def mark(self) -> None:
        self._reference = self.arm()

    def step_motion(self, since: int) -> float:
        """Joint change between the last two joint states received after index ``since``."""
        if len(self.joints) < since + 2:
            return math.inf
        index = {n: i for i, n in enumerate(self.joints[-1].name)}
        a, b = (np.array([m.position[index[n]] for n in ARM]) for m in self.joints[-2:])
        return float(np.max(np.abs(a - b)))

    def motion_over(self, seconds: float) -> float:
        """Largest joint change (rad) over ``seconds`` of spinning."""
        start = self.arm()
        self.c.spin_until(lambda: False, seconds)
        return float(np.max(np.abs(self.arm() - start)))


@pytest.fixture
def client(stack):
    with ClientNode("arm_bridge_client") as c:
        yield Client(c)


def test_pick_on_empty_table_moves_the_arm_and_reports_nothing_grasped(client):
    client.do_reset()
    client.mark()
    trajectories = len(client.trajectories)
    result = client.command(0.55, -0.1)
    assert result.accepted, result.message
    assert result.executed_primitive == ArmCommand.PICK
    assert "closed on nothing" in result.message and result.picked_object == ""
    assert len(client.trajectories) - trajectories >= 3  # approach, descend, lift
    traj = client.trajectories[trajectories]
    assert list(traj.joint_names) == ARM and len(traj.points) >= 2
    # the arm is back at travel height above (0.55, -0.1): far from home
    assert client.moving(0.05)
    ee = client.objects[-1].end_effector
    assert ee.x == pytest.approx(0.55, abs=0.01) and ee.y == pytest.approx(-0.1, abs=0.01)
    assert ee.z == pytest.approx(0.18, abs=0.02)


def test_pick_red_then_place_on_blue_stacks_them(client):
    client.do_reset()
    red, blue = LAYOUT["red"], LAYOUT["blue"]
    picked = client.command(*red)
    assert picked.accepted, picked.message
    assert picked.executed_primitive == ArmCommand.PICK and picked.picked_object == "red"
    placed = client.command(*blue)
    assert placed.accepted, placed.message
    assert placed.executed_primitive == ArmCommand.PLACE and placed.placed_on == "blue"
    assert client.c.spin_until(lambda: client.status and client.status[-1].success, 10.0)
    state = {o.name: o.pose.position for o in client.objects[-1].objects}
    assert math.dist((state["red"].x, state["red"].y), (state["blue"].x, state["blue"].y)) < 0.02
    assert state["red"].z == pytest.approx(state["blue"].z + 0.05, abs=0.01)
    assert client.objects[-1].held_object == ""


def test_emergency_stop_halts_within_a_control_period_and_latches(client):
    client.do_reset()
    client.mark()
    command_id = client.send(0.6, 0.12)
    # press while the arm is in full motion (> 0.1 rad/s), not between two segments
    assert client.c.spin_until(
        lambda: client.moving(0.05) and client.step_motion(len(client.joints) - 2) > 2e-3, 20.0
    ), "the arm never moved"
    trajectories = len(client.trajectories)
    client.estop.publish(Bool(data=True))
    pressed = time.monotonic()
    seen = len(client.joints)

    # the bridge answers the e-stop at once with a one-point hold trajectory
    def holds():
        return [
            t
            for t in client.trajectories[trajectories:]
            if len(t.points) == 1 and list(t.points[0].velocities) == [0.0] * len(ARM)
        ]

    assert client.c.spin_until(lambda: bool(holds()), 1.0)
    hold_s = time.monotonic() - pressed
    assert holds()[0].points[0].time_from_start.nanosec == 20_000_000  # one control period
    # halted: consecutive joint states (20 ms apart) differ by < 0.5 mrad
    assert client.c.spin_until(lambda: client.step_motion(seen) < 5e-4, 2.0)
    halt_s = time.monotonic() - pressed
    print(f"e-stop to hold trajectory {hold_s * 1000:.0f} ms, to standstill {halt_s * 1000:.0f} ms")
    assert halt_s < 0.5
    result = client.result(command_id, 10.0)
    assert not result.accepted and "emergency stop" in result.message
    # and it stays still
    assert client.motion_over(0.6) < 2e-3
    refused = client.command(0.5, 0.0)
    assert not refused.accepted and "emergency stop" in refused.message
    client.estop.publish(Bool(data=False))
    client.c.spin_until(lambda: False, 0.3)
    client.set_dry_run(True)
    try:
        released = client.command(0.5, 0.0)
    finally:
        client.set_dry_run(False)
    assert released.accepted, released.message


def test_stale_joint_states_stop_the_motion(client):
    client.do_reset()
    client.mark()
    command_id = client.send(0.6, -0.12)
    assert client.c.spin_until(lambda: client.moving(0.05), 20.0), "the arm never moved"
    client.relay_on = False  # the bridge stops hearing from the robot
    try:
        result = client.result(command_id, 10.0)
        assert not result.accepted and "joint states stale" in result.message
        client.c.spin_until(lambda: False, 0.3)
        assert client.motion_over(0.6) < 2e-3
        # joint states with NaN (or missing joints) do not count as fresh ones
        broken = JointState(name=[*ARM, "panda_finger_joint1", "panda_finger_joint2"])
        broken.position = [math.nan] * 9
        client.relay.publish(broken)
        client.relay.publish(JointState(name=["panda_joint1"], position=[0.0]))
        # no joint states: new commands are refused before anything moves
        refused = client.command(0.5, 0.0)
        assert not refused.accepted and "joint states stale" in refused.message
    finally:
        client.relay_on = True


def test_dry_run_moves_nothing(client):
    client.do_reset()
    client.set_dry_run(True)
    try:
        client.mark()
        trajectories = len(client.trajectories)
        result = client.command(*LAYOUT["red"])
        assert result.accepted and result.message.startswith("dry run")
        assert "pick" in result.message and "joint waypoints" in result.message
        assert client.motion_over(0.5) < 1e-3
        assert len(client.trajectories) == trajectories
    finally:
        client.set_dry_run(False)


@pytest.mark.parametrize(
    ("x", "y", "fields", "needle"),
    [
        (math.nan, 0.0, {}, "finite"),
        (0.5, math.inf, {}, "finite"),
        (0.9, 0.0, {}, "outside the workspace"),
        (0.5, 0.0, {"primitive": ArmCommand.PLACE}, "gripper is empty"),
        (0.5, 0.0, {"primitive": 9}, "unknown primitive"),
        (0.5, 0.0, {"use_z": True}, "outside the workspace z"),
        (0.5, 0.0, {"header": Header(frame_id="camera")}, "target frame"),
        (0.5, 0.0, {"header": Header(stamp=Time(sec=1))}, "stale command"),
    ],
)
def test_bad_commands_are_rejected_with_a_reason(client, x, y, fields, needle):
    client.mark()
    result = client.command(x, y, **fields)
    assert not result.accepted and needle in result.message, result.message
    assert client.motion_over(0.1) < 1e-3

"""tabletop_sim over DDS from a separate process: tasks, reset, images, states,
an expert-driven stack over ROS, and bad commands rejected while the node keeps
running (including a NaN target)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image, JointState

from grounded_core.tabletop import ScriptedExpert, TabletopWorld, get_task
from grounded_interfaces.msg import ArmCommand, ArmCommandResult, ObjectStates, TaskStatus
from grounded_interfaces.srv import ListTasks, ResetWorld
from grounded_ros.image_conversions import image_to_numpy
from grounded_ros.qos import RELIABLE_FRAMES, STATE
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

SEED = 3


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    log = tmp_path_factory.mktemp("tabletop") / "sim.log"
    process = NodeProcess(
        node_command(
            "tabletop_sim",
            "-p",
            "task:=stack_red_on_blue",
            "-p",
            f"seed:={SEED}",
            "-p",
            "camera_rate_hz:=4.0",
            "-p",
            "state_rate_hz:=10.0",
        ),
        log,
    )
    yield process
    assert process.proc.poll() is None, f"tabletop_sim died:\n{process.output()}"
    process.stop()


class Client:
    def __init__(self, c: ClientNode) -> None:
        self.c = c
        node = c.node
        self.results: list[ArmCommandResult] = []
        self.status: list[TaskStatus] = []
        self.states: list[ObjectStates] = []
        node.create_subscription(ArmCommandResult, "arm_command_result", self.results.append, STATE)
        node.create_subscription(TaskStatus, "task_status", self.status.append, STATE)
        node.create_subscription(ObjectStates, "object_states", self.states.append, STATE)
        self.commands = node.create_publisher(ArmCommand, "arm_command", STATE)
        self.reset = node.create_client(ResetWorld, "reset_world")
        self.tasks = node.create_client(ListTasks, "list_tasks")
        self.next_id = 1
        assert self.reset.wait_for_service(timeout_sec=30.0)
        assert c.spin_until(lambda: self.commands.get_subscription_count() > 0, 20.0)

    def command(self, x, y, primitive=ArmCommand.AUTO, **fields) -> ArmCommandResult:
        msg = ArmCommand(command_id=self.next_id, primitive=primitive, **fields)
        msg.target.x, msg.target.y = x, y
        self.next_id += 1
        self.commands.publish(msg)
        ok = self.c.spin_until(
            lambda: any(r.command_id == msg.command_id for r in self.results), 60.0
        )
        assert ok, f"no result for command {msg.command_id}"
        return next(r for r in self.results if r.command_id == msg.command_id)

    def do_reset(self, **kwargs) -> ResetWorld.Response:
        return self.c.wait_future(self.reset.call_async(ResetWorld.Request(**kwargs)), 30.0)


@pytest.fixture
def client(sim):
    with ClientNode("tabletop_client") as c:
        yield Client(c)


def test_tasks_images_and_states_arrive(client):
    tasks = client.c.wait_future(client.tasks.call_async(ListTasks.Request()))
    assert {"grasp_red", "stack_red_on_blue", "stack_all"} <= set(tasks.tasks)
    assert len(tasks.tasks) == len(tasks.instructions)
    node = client.c.node
    rgb, depth, info, joints = [], [], [], []
    node.create_subscription(Image, "camera/front_left/image_raw", rgb.append, RELIABLE_FRAMES)
    node.create_subscription(Image, "camera/front_left/depth", depth.append, RELIABLE_FRAMES)
    node.create_subscription(
        CameraInfo, "camera/front_left/camera_info", info.append, RELIABLE_FRAMES
    )
    node.create_subscription(JointState, "joint_states", joints.append, STATE)
    assert client.c.spin_until(lambda: rgb and depth and info and joints and client.states, 30.0)
    image = image_to_numpy(rgb[-1])
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8 and image.std() > 5
    d = image_to_numpy(depth[-1])
    assert d.dtype == np.float32 and 0.05 < float(np.median(d)) < 3.0
    k = np.array(info[-1].k).reshape(3, 3)
    assert info[-1].width == 128 and k[0, 0] > 0 and k[2, 2] == 1.0
    assert len(joints[-1].name) == 9 and "panda_joint1" in joints[-1].name
    names = [o.name for o in client.states[-1].objects]
    assert names == ["red", "green", "blue"]


def test_expert_stacks_red_on_blue_over_ros(client):
    reply = client.do_reset(task="stack_red_on_blue", seed=SEED)
    assert reply.success, reply.message
    assert reply.status.task == "stack_red_on_blue" and not reply.status.done
    # the expert plans on an identical world in this process
    local = TabletopWorld("tabletop", seed=0)
    try:
        state = local.reset(seed=SEED)
        remote = {o.name: o.pose.position for o in reply.state.objects}
        for name, obj in state.objects.items():
            assert math.isclose(remote[name].x, obj.position[0], abs_tol=1e-6)
        expert = ScriptedExpert(local.config, get_task("stack_red_on_blue", local.config))
        kinds = []
        for _ in range(4):
            x, y = expert.act(state)
            result = client.command(float(x), float(y))
            assert result.accepted, result.message
            kinds.append(result.executed_primitive)
            local.act(x, y)
            state = local.state()
            if "task done" in result.message:
                break
    finally:
        local.close()
    assert kinds[:2] == [ArmCommand.PICK, ArmCommand.PLACE]
    assert client.c.spin_until(lambda: client.status and client.status[-1].success, 10.0)
    status = client.status[-1]
    assert status.done and status.reward == 1.0 and status.step == len(kinds)
    placed = [r for r in client.results if r.executed_primitive == ArmCommand.PLACE]
    assert placed[-1].placed_on == "blue"
    # a finished episode takes no more commands until reset
    late = client.command(0.5, 0.0)
    assert not late.accepted and "reset_world" in late.message


@pytest.mark.parametrize(
    ("x", "y", "fields", "needle"),
    [
        (math.nan, 0.0, {}, "finite"),
        (0.5, math.inf, {}, "finite"),
        (2.0, 0.0, {}, "outside the workspace"),
        (0.5, 0.0, {"primitive": ArmCommand.PLACE}, "gripper is empty"),
        (0.5, 0.0, {"primitive": 7}, "unknown primitive"),
        (0.5, 0.0, {"use_z": True}, "use_z"),
    ],
)
def test_bad_commands_are_rejected_with_a_reason(client, x, y, fields, needle):
    assert client.do_reset(task="grasp_red", seed=SEED).success
    result = client.command(x, y, **fields)
    assert not result.accepted and needle in result.message
    # still alive and serving
    assert client.do_reset(seed=SEED + 1).success


def test_reset_with_an_explicit_layout(client):
    from geometry_msgs.msg import Pose

    from grounded_interfaces.msg import ObjectState as ObjectStateMsg

    wanted = {"red": (0.45, -0.08), "green": (0.55, 0.0), "blue": (0.45, 0.08)}
    layout = []
    for name, (x, y) in wanted.items():
        pose = Pose()
        pose.position.x, pose.position.y = x, y
        layout.append(ObjectStateMsg(name=name, pose=pose))
    reply = client.do_reset(task="stack_all", seed=0, layout=layout)
    assert reply.success, reply.message
    got = {o.name: (o.pose.position.x, o.pose.position.y) for o in reply.state.objects}
    for name, (x, y) in wanted.items():
        assert got[name] == pytest.approx((x, y), abs=2e-3)
    assert reply.status.task == "stack_all"
    overlap = [ObjectStateMsg(name=n, pose=layout[0].pose) for n in wanted]
    bad = client.do_reset(layout=overlap)
    assert not bad.success and "overlap" in bad.message


def test_wrong_frame_busy_and_bad_resets(client, sim):
    assert client.do_reset(task="grasp_red", seed=SEED).success
    msg_frame = ArmCommand(command_id=999, primitive=ArmCommand.AUTO)
    msg_frame.header.frame_id = "camera"
    msg_frame.target.x, msg_frame.target.y = 0.5, 0.0
    client.commands.publish(msg_frame)
    assert client.c.spin_until(lambda: any(r.command_id == 999 for r in client.results), 20.0)
    assert "frame" in next(r for r in client.results if r.command_id == 999).message
    # two commands back to back: the second arrives while the first runs
    first = ArmCommand(command_id=1001, primitive=ArmCommand.AUTO)
    second = ArmCommand(command_id=1002, primitive=ArmCommand.AUTO)
    for m in (first, second):
        m.target.x, m.target.y = 0.5, 0.0
        client.commands.publish(m)
    assert client.c.spin_until(lambda: {1001, 1002} <= {r.command_id for r in client.results}, 60.0)
    by_id = {r.command_id: r for r in client.results}
    assert by_id[1001].accepted and not by_id[1002].accepted and "busy" in by_id[1002].message
    unknown = client.do_reset(task="juggle")
    assert not unknown.success and "juggle" in unknown.message
    negative = client.do_reset(seed=-1)
    assert not negative.success and "non-negative" in negative.message
    assert "rejected" in sim.output() and "finite" in sim.output()


def test_unknown_camera_parameter_is_a_clear_startup_error(tmp_path):
    process = NodeProcess(
        node_command("tabletop_sim", "-p", "cameras:=front_left,ceiling"), tmp_path / "bad.log"
    )
    try:
        code = process.proc.wait(timeout=60)
    finally:
        process.stop()
    assert code == 2
    assert "unknown camera(s) ['ceiling']" in process.output()


def test_clock_is_published_with_simulated_time(tmp_path):
    from rosgraph_msgs.msg import Clock

    process = NodeProcess(
        node_command(
            "tabletop_sim",
            "-p",
            "publish_clock:=true",
            "-p",
            "camera_rate_hz:=0.0",
            "-p",
            "state_rate_hz:=20.0",
        ),
        tmp_path / "clock.log",
    )
    try:
        with ClientNode("clock_client") as c:
            ticks: list[Clock] = []
            c.node.create_subscription(Clock, "/clock", ticks.append, 10)
            assert c.spin_until(lambda: len(ticks) >= 3, 30.0), process.output()
            # the world settles at reset, so simulated time starts at zero and only
            # moves while primitives run: idle ticks repeat the same stamp
            stamps = {(t.clock.sec, t.clock.nanosec) for t in ticks}
            assert len(stamps) == 1
            # a primitive advances simulated time by its physics steps
            results: list[ArmCommandResult] = []
            c.node.create_subscription(
                ArmCommandResult, "arm_command_result", results.append, STATE
            )
            commands = c.node.create_publisher(ArmCommand, "arm_command", STATE)
            assert c.spin_until(lambda: commands.get_subscription_count() > 0, 20.0)
            command = ArmCommand(command_id=5)
            command.target.x, command.target.y = 0.5, 0.0
            commands.publish(command)
            assert c.spin_until(lambda: bool(results), 60.0)
            before = len(ticks)
            assert c.spin_until(lambda: len(ticks) > before + 2, 20.0)
            last = ticks[-1].clock
            assert last.sec + last.nanosec * 1e-9 > 0.5  # a primitive is >1 s simulated
    finally:
        process.stop()


def test_ros2_control_emulation_tracks_trajectories_and_gripper_commands(tmp_path):
    from builtin_interfaces.msg import Duration
    from std_msgs.msg import Float64MultiArray
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    process = NodeProcess(
        node_command(
            "tabletop_sim",
            "-r",
            "__ns:=/emu",  # apart from the module's primitives-mode simulator
            "-p",
            "hardware_interface:=ros2_control",
            "-p",
            "camera_rate_hz:=0.0",
            "-p",
            "joint_state_rate_hz:=50.0",
        ),
        tmp_path / "ros2_control.log",
    )
    try:
        with ClientNode("ros2_control_client") as c:
            joints: list[JointState] = []
            c.node.create_subscription(JointState, "/emu/joint_states", joints.append, STATE)
            trajectory = c.node.create_publisher(
                JointTrajectory, "/emu/joint_trajectory_controller/joint_trajectory", STATE
            )
            gripper = c.node.create_publisher(
                Float64MultiArray, "/emu/gripper_controller/commands", STATE
            )
            commands = c.node.create_publisher(ArmCommand, "/emu/arm_command", STATE)
            assert c.spin_until(
                lambda: (
                    trajectory.get_subscription_count() > 0
                    and gripper.get_subscription_count() > 0
                    and len(joints) > 10
                ),
                30.0,
            ), process.output()
            # primitives are not served: a real arm's controllers take no ArmCommand
            assert commands.get_subscription_count() == 0

            def stamp(msg):
                return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

            def position(name, msg=None):
                msg = msg or joints[-1]
                return msg.position[list(msg.name).index(name)]

            # joint states at a fixed rate of simulated time, which runs while idle
            steps = np.diff([stamp(m) for m in joints[-10:]])
            assert np.all(steps > 0) and np.median(steps) == pytest.approx(0.02, abs=0.005)
            start1, start7 = position("panda_joint1"), position("panda_joint7")
            msg = JointTrajectory(joint_names=["panda_joint1", "panda_joint7"])
            for t, delta in ((0.5, 0.15), (1.0, 0.3)):
                msg.points.append(
                    JointTrajectoryPoint(
                        positions=[start1 + delta, start7 - delta],
                        time_from_start=Duration(sec=int(t), nanosec=int((t % 1) * 1e9)),
                    )
                )
            sent = stamp(joints[-1])
            trajectory.publish(msg)
            assert c.spin_until(lambda: stamp(joints[-1]) > sent + 1.5, 20.0)
            assert position("panda_joint1") == pytest.approx(start1 + 0.3, abs=0.01)
            assert position("panda_joint7") == pytest.approx(start7 - 0.3, abs=0.01)
            # halfway through, the arm was on its way (interpolated, not a jump)
            middle = [m for m in joints if sent + 0.4 < stamp(m) < sent + 0.6]
            assert middle and 0.05 < position("panda_joint1", middle[0]) - start1 < 0.25
            # gripper: one value for both fingers closes them; two values open them
            gripper.publish(Float64MultiArray(data=[0.0]))
            assert c.spin_until(lambda: position("panda_finger_joint1") < 0.002, 20.0)
            gripper.publish(Float64MultiArray(data=[0.04, 0.04]))
            assert c.spin_until(lambda: position("panda_finger_joint2") > 0.038, 20.0)
            # bad commands are refused with a reason and the node keeps serving
            bad = JointTrajectory(joint_names=["elbow"])
            bad.points.append(JointTrajectoryPoint(positions=[1.0]))
            trajectory.publish(bad)
            gripper.publish(Float64MultiArray(data=[0.5]))
            before = len(joints)
            assert c.spin_until(lambda: len(joints) > before + 20, 20.0)
            assert position("panda_joint1") == pytest.approx(start1 + 0.3, abs=0.01)
        output = process.output()
        assert "unknown joint(s) ['elbow']" in output
        assert "gripper positions must be in [0, 0.04]" in output
        assert process.proc.poll() is None
    finally:
        process.stop()


def test_ros2_control_gripper_as_a_joint_trajectory_controller(tmp_path):
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    process = NodeProcess(
        node_command(
            "tabletop_sim",
            "-r",
            "__ns:=/emu_jtc",
            "-p",
            "hardware_interface:=ros2_control",
            "-p",
            "gripper_msg_type:=joint_trajectory",
            "-p",
            "gripper_topic:=hand_controller/joint_trajectory",
            "-p",
            "camera_rate_hz:=0.0",
        ),
        tmp_path / "jtc.log",
    )
    try:
        with ClientNode("jtc_client") as c:
            joints: list[JointState] = []
            c.node.create_subscription(JointState, "/emu_jtc/joint_states", joints.append, STATE)
            hand = c.node.create_publisher(
                JointTrajectory, "/emu_jtc/hand_controller/joint_trajectory", STATE
            )
            assert c.spin_until(
                lambda: hand.get_subscription_count() > 0 and len(joints) > 3, 30.0
            ), process.output()

            def finger():
                return joints[-1].position[list(joints[-1].name).index("panda_finger_joint1")]

            assert finger() > 0.038
            close = JointTrajectory(joint_names=["panda_finger_joint1", "panda_finger_joint2"])
            close.points.append(
                JointTrajectoryPoint(positions=[0.0, 0.0], time_from_start=Duration(sec=1))
            )
            hand.publish(close)
            assert c.spin_until(lambda: finger() < 0.002, 20.0)
            wrong = JointTrajectory(joint_names=["panda_joint1"])
            wrong.points.append(JointTrajectoryPoint(positions=[0.0]))
            hand.publish(wrong)
            before = len(joints)
            assert c.spin_until(lambda: len(joints) > before + 10, 20.0)
        assert "gripper trajectory must name" in process.output()
        assert process.proc.poll() is None
    finally:
        process.stop()

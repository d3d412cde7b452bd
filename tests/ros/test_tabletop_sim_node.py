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

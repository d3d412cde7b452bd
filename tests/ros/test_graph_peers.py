"""Two separate processes exchange the project's own types: topic, service, action.

The peer (tests/ros/peer_server.py) runs as its own process; this test's node
is the other participant. Nothing is mocked: real rclpy over Fast DDS on the
run's isolated domain.
"""

from __future__ import annotations

import sys

import pytest
from rclpy.action import ActionClient

from grounded_interfaces.action import ExecuteTask
from grounded_interfaces.msg import ArmCommand, ArmCommandResult
from grounded_interfaces.srv import MakePlan
from tests.ros.harness import ClientNode, NodeProcess

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    log = tmp_path_factory.mktemp("peer") / "peer.log"
    process = NodeProcess([sys.executable, "-m", "tests.ros.peer_server"], log)
    yield process
    code = process.stop()
    assert code in (0, -2), f"peer exited with {code}:\n{process.output()}"


@pytest.fixture
def client(peer):
    with ClientNode("graph_test_client") as c:
        yield c


def test_topic_round_trip(client):
    received: list[ArmCommandResult] = []
    client.node.create_subscription(ArmCommandResult, "arm_command_result", received.append, 10)
    publisher = client.node.create_publisher(ArmCommand, "arm_command", 10)
    assert client.spin_until(lambda: publisher.get_subscription_count() > 0, 20.0)
    command = ArmCommand(command_id=42, primitive=ArmCommand.PLACE)
    command.target.x, command.target.y = 0.5, -0.1
    for _ in range(50):  # resend until the reply arrives (discovery of the reply path)
        publisher.publish(command)
        if client.spin_until(lambda: bool(received), 0.2):
            break
    assert received, "no ArmCommandResult came back"
    assert received[0].command_id == 42
    assert received[0].executed_primitive == ArmCommand.PLACE
    assert received[0].message == "target 0.500 -0.100"


def test_service_success_and_error(client):
    service = client.node.create_client(MakePlan, "make_plan")
    assert service.wait_for_service(timeout_sec=20.0)
    ok = client.wait_future(service.call_async(MakePlan.Request(instruction="grasp red then lift")))
    assert ok.success and list(ok.plan.sub_goals) == ["grasp red", "lift"]
    bad = client.wait_future(service.call_async(MakePlan.Request(instruction="  ")))
    assert not bad.success and bad.message == "empty instruction"


def test_action_feedback_and_result(client):
    action = ActionClient(client.node, ExecuteTask, "execute_task")
    assert action.wait_for_server(timeout_sec=20.0)
    feedback: list[ExecuteTask.Feedback] = []
    goal = ExecuteTask.Goal(instruction="two steps", sub_goals=["first", "second"])
    handle = client.wait_future(
        action.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
    )
    assert handle.accepted
    wrapped = client.wait_future(handle.get_result_async(), timeout=20.0)
    assert wrapped.result.success
    assert list(wrapped.result.sub_goals) == ["first", "second"]
    seen = [f.current_sub_goal for f in feedback]
    assert "first" in seen and "second" in seen
    assert seen.index("first") < seen.index("second")


def test_action_cancel(client):
    action = ActionClient(client.node, ExecuteTask, "execute_task")
    assert action.wait_for_server(timeout_sec=20.0)
    feedback: list[ExecuteTask.Feedback] = []
    goal = ExecuteTask.Goal(sub_goals=["a", "b", "c", "d"])
    handle = client.wait_future(
        action.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
    )
    assert client.spin_until(lambda: bool(feedback), 10.0), "no feedback before cancel"
    cancel = client.wait_future(handle.cancel_goal_async())
    assert len(cancel.goals_canceling) == 1
    wrapped = client.wait_future(handle.get_result_async(), timeout=20.0)
    assert not wrapped.result.success
    assert wrapped.result.message.startswith("canceled during sub-goal")
    assert wrapped.result.failed_sub_goal < 3

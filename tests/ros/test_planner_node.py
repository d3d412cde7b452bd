"""The planner node over DDS from a separate process (tiny-llama, constrained mode): the
make_plan service, the plan_instruction action (feedback, cancel, refusal), the
instruction -> plan topics, and bad instructions refused while the node keeps running."""

from __future__ import annotations

import time

import pytest
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from std_msgs.msg import String

from grounded_core.llm.planner_space import PlanSpace
from grounded_core.tabletop.captions import caption_list
from grounded_interfaces.action import PlanInstruction
from grounded_interfaces.msg import SubGoalPlan
from grounded_interfaces.srv import MakePlan
from tests.ros.harness import REPO_ROOT, ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

FIVE_OBJECTS = ["red", "green", "blue", "yellow", "purple"]


def start_planner(tmp, namespace: str, *params: str) -> NodeProcess:
    args = ["-p", "model:=tiny-llama", "-p", "torch_threads:=1", "-r", f"__ns:=/{namespace}"]
    for param in params:
        args += ["-p", param]
    return NodeProcess(node_command("planner", *args), tmp / f"{namespace}.log")


@pytest.fixture(scope="module")
def planners(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planner")
    # A caption file with five objects: 1225 executable plans, scored 5 per batch, so a
    # plan takes long enough to be canceled between batches.
    captions = tmp / "captions5.yaml"
    captions.write_text("captions:\n" + "".join(f"  - {c}\n" for c in caption_list(FIVE_OBJECTS)))
    main = start_planner(
        tmp,
        "plan",
        f"caption_file:={REPO_ROOT / 'config' / 'captions.yaml'}",
        f"prompt_file:={REPO_ROOT / 'config' / 'planner_prompt.yaml'}",
    )
    slow = start_planner(tmp, "big", f"caption_file:={captions}", "plans_per_batch:=5")
    yield main, slow
    for process in (main, slow):
        assert process.proc.poll() is None, f"planner died:\n{process.output()}"
        process.stop()


SPACE = PlanSpace(caption_list(["red", "green", "blue"]))


def call(client: ClientNode, service, instruction: str) -> MakePlan.Response:
    return client.wait_future(
        service.call_async(MakePlan.Request(instruction=instruction)), timeout=120.0
    )


def send(client: ClientNode, action, instruction: str, cancel_after_feedback=False):
    feedback: list[PlanInstruction.Feedback] = []
    handle = client.wait_future(
        action.send_goal_async(
            PlanInstruction.Goal(instruction=instruction),
            feedback_callback=lambda f: feedback.append(f.feedback),
        ),
        timeout=30.0,
    )
    assert handle.accepted
    if cancel_after_feedback:
        assert client.spin_until(lambda: bool(feedback), 60.0), "no feedback"
        client.wait_future(handle.cancel_goal_async(), timeout=30.0)
    wrapped = client.wait_future(handle.get_result_async(), timeout=120.0)
    return wrapped.status, wrapped.result, feedback


def test_service_action_and_topic(planners):
    main, _ = planners
    with ClientNode("planner_client") as client:
        service = client.node.create_client(MakePlan, "/plan/make_plan")
        assert service.wait_for_service(timeout_sec=120.0), main.output()

        reply = call(client, service, "stack the red object on the blue object")
        assert reply.success, reply.message
        assert SPACE.is_valid(list(reply.plan.sub_goals))
        assert reply.plan.instruction == "stack the red object on the blue object"
        assert reply.plan.model == "tiny-llama" and reply.plan.raw_output == ""

        for bad, why in (("", "empty"), ("   ", "empty"), ("?!", "no word")):
            reply = call(client, service, bad)
            assert not reply.success and why in reply.message
            assert list(reply.plan.sub_goals) == []

        action = ActionClient(client.node, PlanInstruction, "/plan/plan_instruction")
        assert action.wait_for_server(timeout_sec=30.0)
        status, result, feedback = send(client, action, "grasp the green object")
        assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
        assert SPACE.is_valid(list(result.plan.sub_goals))
        stages = [f.stage for f in feedback]
        assert stages[0] == "scoring 21 executable plans" and stages[-1] == "done"
        assert list(feedback[-1].sub_goals) == list(result.plan.sub_goals)

        status, result, _ = send(client, action, "")
        assert status == GoalStatus.STATUS_ABORTED and not result.success
        assert "empty" in result.message

        plans: list[SubGoalPlan] = []
        client.node.create_subscription(SubGoalPlan, "/plan/plan", plans.append, 10)
        publisher = client.node.create_publisher(String, "/plan/instruction", 10)
        assert client.spin_until(lambda: publisher.get_subscription_count() > 0, 20.0)
        publisher.publish(String(data=""))  # refused: logged, nothing published
        publisher.publish(String(data="stack all three objects"))
        assert client.spin_until(lambda: bool(plans), 60.0), main.output()[-2000:]
        assert len(plans) == 1 and plans[0].instruction == "stack all three objects"
        assert SPACE.is_valid(list(plans[0].sub_goals))

        # still serving after every bad input
        assert call(client, service, "grasp the red object").success
    assert main.proc.poll() is None
    deadline = time.monotonic() + 10.0
    while "instruction is empty" not in main.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "instruction is empty" in main.output()


def test_action_cancel_between_batches(planners):
    _, slow = planners
    with ClientNode("planner_cancel_client") as client:
        action = ActionClient(client.node, PlanInstruction, "/big/plan_instruction")
        assert action.wait_for_server(timeout_sec=120.0), slow.output()
        status, result, feedback = send(
            client, action, "stack the yellow object on the purple object", True
        )
        assert status == GoalStatus.STATUS_CANCELED, result.message + slow.output()[-2000:]
        assert not result.success and "canceled" in result.message
        assert feedback[0].stage == "scoring 1225 executable plans"
        scored = [f for f in feedback if f.stage.startswith("scored")]
        assert len(scored) < 245  # stopped before the last batch
    assert slow.proc.poll() is None

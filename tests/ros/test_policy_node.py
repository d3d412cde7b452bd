"""The policy node over DDS against a real tabletop_sim node: execute_task with an
explicit plan (failure report with an untrained policy, success with a policy
the test trains by behaviour cloning on scripted-expert demonstrations of
grasp-red and sends over the PolicyWeights topic; the test stands in for the
captioner, publishing simulator-truth Captions), a plan from the plan topic,
and bad / older PolicyWeights ignored while the node keeps running."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient

from grounded_core.learning.buffers import BCDataset
from grounded_core.learning.goal_bc import GoalBCTrainer
from grounded_core.policy.config import PolicyConfig
from grounded_core.policy.io import to_bytes
from grounded_core.policy.model import GoalPolicy, state_features
from grounded_core.tabletop import ScriptedExpert, TabletopWorld, get_task
from grounded_core.tabletop.captions import caption_list
from grounded_core.tabletop.world_config import load_world_config
from grounded_interfaces.action import ExecuteTask
from grounded_interfaces.msg import (
    Caption,
    Captions,
    Metrics,
    ObjectStates,
    PolicyWeights,
    SubGoalPlan,
)
from grounded_interfaces.srv import MakePlan, ResetWorld
from grounded_ros.episode_messages import blob_to_msg
from grounded_ros.qos import LATCHED, STATE
from grounded_ros.state_captions import state_detections
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

GRASP_RED = "The robot is grasping the red object"
TASK = "grasp_red"


def small_config(world, **changes) -> PolicyConfig:
    base = {
        "text_encoder": "hashing",
        "text_dim": 32,
        "d_model": 32,
        "n_heads": 2,
        "n_layers": 1,
        "workspace_x": list(world.workspace.x),
        "workspace_y": list(world.workspace.y),
    }
    return PolicyConfig(**{**base, **changes})


def expert_trained_policy(world: TabletopWorld) -> GoalPolicy:
    """BC on 12 scripted-expert grasp-red demonstrations (one primitive each)."""
    expert = ScriptedExpert(world.config, get_task(TASK, world.config))
    feats, actions = [], []
    for seed in range(12):
        state = world.reset(seed=100 + seed)
        feats.append(state_features(state))
        actions.append(expert.act(state))
    data = BCDataset(
        [GRASP_RED] * len(feats),
        np.stack([f["objects"] for f in feats]),
        np.stack([f["ee"] for f in feats]),
        np.stack([f["gripper"] for f in feats]),
        np.stack(actions),
    )
    torch.manual_seed(0)
    policy = GoalPolicy(small_config(world.config))
    GoalBCTrainer(policy, lr=3e-3, batch_size=16).fit(data, 80)
    return policy


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    logs = tmp_path_factory.mktemp("policy_node")
    sim = NodeProcess(
        node_command(
            "tabletop_sim",
            "-p",
            f"task:={TASK}",
            "-p",
            "camera_rate_hz:=0.0",
            "-p",
            "state_rate_hz:=10.0",
        ),
        logs / "sim.log",
    )
    policy = NodeProcess(
        node_command(
            "policy",
            "-p",
            "caption_source:=topic",
            "-p",
            "debounce:=2",
            "-p",
            "observe_interval_s:=0.05",
            "-p",
            "planner_timeout_s:=0.2",
            "-p",
            "timeout_s:=30.0",
        ),
        logs / "policy.log",
    )
    world = TabletopWorld("tabletop", seed=0)
    trained = expert_trained_policy(world)
    world.close()
    with ClientNode("policy_test_client") as c:
        yield {"c": c, "sim": sim, "policy": policy, "trained": trained}
    for process in (policy, sim):
        alive = process.proc.poll() is None
        process.stop()
        assert alive, f"a node died:\n{process.output()}"


class Client:
    """The test's node: sends weights and goals, and stands in for the captioner.

    Captions are the simulator truth of each ``object_states`` message (judged
    by ``state_captions``), published on ``captions`` with the state's stamp as
    the captioner does with a frame's, as calibrated scores around a per-caption
    threshold of 0.6.
    """

    def __init__(self, c: ClientNode) -> None:
        self.c = c
        node = c.node
        world = load_world_config("tabletop")
        self.vocabulary = caption_list(world.object_names)
        self.tolerances = world.tolerances
        self.captions = node.create_publisher(Captions, "captions", STATE)
        node.create_subscription(ObjectStates, "object_states", self.on_states, STATE)
        self.weights = node.create_publisher(PolicyWeights, "/policy_weights", LATCHED)
        self.plans = node.create_publisher(SubGoalPlan, "plan", STATE)
        self.metrics: list[Metrics] = []
        node.create_subscription(Metrics, "/policy/metrics", self.metrics.append, STATE)
        self.reset = node.create_client(ResetWorld, "reset_world")
        self.action = ActionClient(node, ExecuteTask, "execute_task")
        assert self.reset.wait_for_service(timeout_sec=60.0)
        assert self.action.wait_for_server(timeout_sec=60.0)

    def on_states(self, msg: ObjectStates) -> None:
        truth = state_detections(msg, self.vocabulary, self.tolerances)
        captions = Captions(model="simulator truth")
        captions.header = msg.header
        for text, holds in zip(self.vocabulary, truth, strict=True):
            score = 0.9 if holds else 0.2
            captions.captions.append(Caption(text=text, score=score, threshold=0.6, detected=holds))
        self.captions.publish(captions)

    def version(self) -> float:
        return self.metrics[-1].values[0] if self.metrics else -1.0

    def send_weights(self, msg: PolicyWeights, expect_version: int | None) -> None:
        self.weights.publish(msg)
        if expect_version is not None:
            ok = self.c.spin_until(lambda: self.version() == expect_version, 30.0)
            assert ok, f"policy node did not load version {expect_version}"

    def do_reset(self, seed: int) -> None:
        reply = self.c.wait_future(
            self.reset.call_async(ResetWorld.Request(task=TASK, seed=seed)), 30.0
        )
        assert reply.success, reply.message

    def execute(self, goal: ExecuteTask.Goal):
        feedback = []
        send = self.action.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f))
        handle = self.c.wait_future(send, 30.0)
        assert handle.accepted
        result = self.c.wait_future(handle.get_result_async(), 90.0)
        self.c.spin_until(lambda: False, 0.3)  # feedback may trail the result
        return result, [f.feedback for f in feedback]


@pytest.fixture(scope="module")
def client(graph):
    return Client(graph["c"])


def test_untrained_policy_fails_with_a_report(client):
    world = TabletopWorld("tabletop", seed=0)
    # A plain grid head at its initial weights: uniform, so its mode is a corner cell.
    torch.manual_seed(0)
    untrained = GoalPolicy(small_config(world.config, action_head="grid"))
    world.close()
    client.send_weights(blob_to_msg(to_bytes(untrained, version=1)), expect_version=1)
    client.do_reset(seed=7)
    goal = ExecuteTask.Goal(instruction="grasp the red object", sub_goals=[GRASP_RED])
    goal.max_steps_per_sub_goal = 2
    outcome, feedback = client.execute(goal)
    result = outcome.result
    assert not result.success
    assert result.failed_sub_goal == 0
    assert GRASP_RED in result.message and "failed" in result.message
    assert GRASP_RED not in result.detected_captions
    assert result.steps == 2 and list(result.sub_goals) == [GRASP_RED]
    assert [f.step for f in feedback] == [1, 2]
    assert all(f.current_sub_goal == GRASP_RED and f.sub_goal_index == 0 for f in feedback)


def test_bad_and_older_weights_are_ignored_and_the_node_survives(graph, client):
    good = to_bytes(graph["trained"], version=5)
    tampered = dataclasses.replace(good, sha256="0" * 64)
    client.send_weights(blob_to_msg(tampered), expect_version=None)
    policy = graph["policy"]
    assert client.c.spin_until(lambda: "SHA-256 mismatch" in policy.output(), 20.0)
    assert policy.proc.poll() is None
    assert client.version() == 1  # still the previous weights
    client.send_weights(blob_to_msg(good), expect_version=5)
    client.send_weights(blob_to_msg(to_bytes(graph["trained"], version=3)), expect_version=None)
    assert client.c.spin_until(lambda: "ignored weights version 3" in policy.output(), 20.0)
    assert client.version() == 5


def test_trained_policy_grasps_red_from_the_plan_topic(graph, client):
    trained = to_bytes(graph["trained"], version=6)
    client.send_weights(blob_to_msg(trained), expect_version=6)
    client.do_reset(seed=11)
    # No sub_goals and no planner service: the latest plan message is used.
    plan = SubGoalPlan(instruction="grasp the red object", sub_goals=[GRASP_RED], model="test")
    client.c.spin_until(lambda: client.plans.get_subscription_count() > 0, 20.0)
    client.plans.publish(plan)
    client.c.spin_until(lambda: False, 0.5)
    goal = ExecuteTask.Goal(instruction="grasp the red object")
    goal.max_steps_per_sub_goal = 3
    outcome, feedback = client.execute(goal)
    result = outcome.result
    assert result.success, result.message
    assert result.failed_sub_goal == -1 and list(result.sub_goals) == [GRASP_RED]
    assert GRASP_RED in result.detected_captions
    assert 1 <= result.steps <= 3
    assert feedback and GRASP_RED in feedback[-1].detected_captions


def test_plan_from_the_planner_service(graph, client):
    """With a MakePlan service (here the test's own), an empty goal plan asks it."""
    asked = []

    def make_plan(request, response):
        asked.append(request.instruction)
        response.success = True
        response.plan = SubGoalPlan(instruction=request.instruction, sub_goals=[GRASP_RED])
        return response

    client.c.node.create_service(MakePlan, "make_plan", make_plan)
    client.do_reset(seed=12)
    goal = ExecuteTask.Goal(instruction="pick up the red cube")
    goal.max_steps_per_sub_goal = 3
    outcome, _ = client.execute(goal)
    assert asked == ["pick up the red cube"]
    assert outcome.result.success, outcome.result.message


def test_cancel_stops_execution(graph, client):
    world = TabletopWorld("tabletop", seed=0)
    torch.manual_seed(0)
    untrained = GoalPolicy(small_config(world.config, action_head="grid"))
    world.close()
    client.send_weights(blob_to_msg(to_bytes(untrained, version=7)), expect_version=7)
    client.do_reset(seed=13)
    goal = ExecuteTask.Goal(instruction="grasp the red object", sub_goals=[GRASP_RED])
    goal.max_steps_per_sub_goal = 200
    feedback = []
    send = client.action.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f))
    handle = client.c.wait_future(send, 30.0)
    assert client.c.spin_until(lambda: len(feedback) >= 1, 60.0)
    client.c.wait_future(handle.cancel_goal_async(), 30.0)
    outcome = client.c.wait_future(handle.get_result_async(), 60.0)
    assert outcome.status == GoalStatus.STATUS_CANCELED
    assert len(feedback) < 200

"""glam_learner trains against the babyai_text_env node over DDS (separate
processes): the train action gives feedback, finishes with a checkpoint, resumes
from it, and a cancel stops training with a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient

from grounded_interfaces.action import Train
from grounded_interfaces.msg import Metrics
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

OVERRIDES = (
    "model.name=tiny-t5 env.level=GoToRedBallNoDists ppo.num_envs=2 ppo.steps_per_env=4 "
    "ppo.minibatch_size=4 ppo.epochs=1 ppo.lr=1e-4 train.progress=false "
    "train.tensorboard=false train.torch_threads=1"
)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("glam")
    env = NodeProcess(
        node_command("babyai_text_env", "-p", "level:=GoToRedBallNoDists", "-p", "num_envs:=2"),
        tmp / "env.log",
    )
    learner = NodeProcess(
        node_command(
            "glam_learner", "-p", f"overrides:={OVERRIDES}", "-p", f"run_dir:={tmp / 'run'}"
        ),
        tmp / "learner.log",
    )
    yield tmp / "run", learner
    for process in (learner, env):
        assert process.proc.poll() is None, f"node died:\n{process.output()}"
        process.stop()


def run_goal(client: ClientNode, action: ActionClient, env_steps: int, cancel_after_feedback=False):
    feedback: list[Train.Feedback] = []
    handle = client.wait_future(
        action.send_goal_async(
            Train.Goal(env_steps=env_steps), feedback_callback=lambda f: feedback.append(f.feedback)
        ),
        timeout=30.0,
    )
    assert handle.accepted
    if cancel_after_feedback:
        assert client.spin_until(lambda: bool(feedback), 180.0), "no feedback"
        client.wait_future(handle.cancel_goal_async(), timeout=30.0)
    wrapped = client.wait_future(handle.get_result_async(), timeout=300.0)
    return wrapped.status, wrapped.result, feedback


def test_train_feedback_checkpoint_resume_and_cancel(graph):
    run_dir, learner = graph
    with ClientNode("glam_client") as client:
        metrics: list[Metrics] = []
        client.node.create_subscription(Metrics, "/glam_learner/metrics", metrics.append, 10)
        action = ActionClient(client.node, Train, "/glam_learner/train")
        assert action.wait_for_server(timeout_sec=30.0)

        status, result, feedback = run_goal(client, action, env_steps=8)
        assert status == GoalStatus.STATUS_SUCCEEDED, result.message + learner.output()[-2000:]
        assert result.success and result.env_steps == 8
        assert [f.update for f in feedback] == [1] and feedback[0].env_steps == 8
        assert "losses/value" in feedback[0].metric_names
        assert Path(result.checkpoint).is_dir() and str(run_dir) in result.checkpoint
        assert client.spin_until(lambda: bool(metrics), 10.0)

        # a second goal resumes the run directory's checkpoint
        status, result, feedback = run_goal(client, action, env_steps=8)
        assert status == GoalStatus.STATUS_SUCCEEDED and result.env_steps == 16
        assert feedback[-1].update == 2

        # cancel: stops between rollout steps and writes a checkpoint
        status, result, feedback = run_goal(
            client, action, env_steps=800, cancel_after_feedback=True
        )
        assert status == GoalStatus.STATUS_CANCELED
        assert not result.success and 16 < result.env_steps < 16 + 800
        assert Path(result.checkpoint).is_dir()

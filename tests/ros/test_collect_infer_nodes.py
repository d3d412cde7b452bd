"""Collect & Infer over DDS through launch/collect_infer.launch.yaml: two actors
(a tabletop_sim + a policy node in /actor_0 and /actor_1) and the
collect_infer_trainer. A train goal runs a short grasp-red run; episodes arrive
from both actors, a weights update reaches both (the policy version in their
records increases), and the trained agent's success rate is reported (train
result and Metrics). Captions are judged from the simulator's object states."""

from __future__ import annotations

import copy
import itertools
import json
import math
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from action_msgs.msg import GoalStatus
from builtin_interfaces.msg import Time
from rclpy.action import ActionClient
from std_msgs.msg import String

from grounded_core.learning.collect_infer import CollectInferConfig, CollectInferConfigError
from grounded_core.policy.config import PolicyConfig
from grounded_core.policy.model import GoalPolicy, state_features
from grounded_core.tabletop import ScriptedExpert, TabletopWorld, get_task
from grounded_core.tabletop.captions import caption_list, caption_truth
from grounded_core.tabletop.predicates import held_object
from grounded_interfaces.action import Train
from grounded_interfaces.msg import (
    EpisodeRecord,
    EpisodeStep,
    Metrics,
    ObjectState,
    ObjectStates,
    PolicyWeights,
)
from grounded_ros.episode_messages import (
    EpisodeLog,
    features_from_states,
    record_to_episode,
    threshold_centred,
)
from grounded_ros.nodes.policy import EPISODES_QOS
from grounded_ros.policy_io import RosObservation, WorldLink
from grounded_ros.qos import LATCHED
from grounded_ros.remote_learner import RemoteLearner, apply_overrides, parse_overrides
from grounded_ros.state_captions import state_detections
from tests.ros.harness import REPO_ROOT, VENV_BIN, ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

RED_ON_BLUE = "The red object is on top of the blue object"
OVERRIDES = " ".join(
    [
        "policy.text_encoder=hashing",
        "policy.text_dim=32",
        "policy.d_model=32",
        "policy.n_heads=2",
        "policy.n_layers=1",
        "policy.init_free_logit=-5.0",  # explore by pointing at the cubes
        "episodes_per_update=6",
        "bc_steps=40",
        "batch_size=16",
        "eval_episodes=4",
        "eval_max_steps=3",
        "stop_success=null",
        # Let the initial policy explore (it points at cubes) instead of uniform random
        # actions for goals without demonstrations: grasps happen in a few episodes.
        "explore_untrained_goals=false",
    ]
)


@pytest.fixture
def launch(tmp_path):
    process = NodeProcess(
        [
            str(VENV_BIN / "grounded-launch"),
            str(REPO_ROOT / "launch" / "collect_infer.launch.yaml"),
            "n_actors:=2",
            "task:=grasp_red",
            "max_episode_steps:=3",
            f"run_dir:={tmp_path / 'run'}",
            f"overrides:={OVERRIDES}",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        tmp_path / "launch.log",
    )
    yield {"process": process, "run_dir": tmp_path / "run"}
    alive = process.proc.poll() is None
    process.stop(timeout=20.0)
    assert alive, f"the launch ended early:\n{process.output()}"


def test_two_actors_and_trainer_learn_grasp_red(launch):
    with ClientNode("collect_infer_test") as c:
        node = c.node
        records: list[EpisodeRecord] = []
        metrics: list[Metrics] = []
        weights: list[PolicyWeights] = []
        node.create_subscription(EpisodeRecord, "/episodes", records.append, EPISODES_QOS)
        node.create_subscription(Metrics, "/collect_infer_trainer/metrics", metrics.append, 10)
        node.create_subscription(PolicyWeights, "/policy_weights", weights.append, LATCHED)
        goal_sets: list[String] = []
        node.create_subscription(String, "/policy_trained_goals", goal_sets.append, LATCHED)
        action = ActionClient(node, Train, "/collect_infer_trainer/train")
        assert action.wait_for_server(timeout_sec=90.0), launch["process"].output()
        # Actors start collecting as soon as the trainer's version 0 reaches them.
        assert c.spin_until(
            lambda: {r.actor_id for r in records} >= {"actor_0", "actor_1"}, 90.0
        ), launch["process"].output()
        # A malformed record is logged and dropped; the trainer keeps going.
        bad = node.create_publisher(EpisodeRecord, "/episodes", EPISODES_QOS)
        bad.publish(EpisodeRecord(actor_id="bad", task="grasp_red", steps=[EpisodeStep()]))
        assert c.spin_until(
            lambda: "on_episode: rejected input" in launch["process"].output(), 30.0
        )
        feedback = []
        goal = Train.Goal(env_steps=48, overrides=["bc_steps=60"])
        handle = c.wait_future(
            action.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback)),
            30.0,
        )
        assert handle.accepted
        outcome = c.wait_future(handle.get_result_async(), 150.0)
        result = outcome.result
        assert result.success, result.message
        assert result.env_steps >= 48
        assert (launch["run_dir"] / "tasks" / "grasp_red" / "checkpoints").is_dir()
        assert result.checkpoint and "policy_" in result.checkpoint
        # The weights update reaches both actors: their episodes use a newer version.
        newest = max(w.version for w in weights)
        assert newest >= 1
        assert c.spin_until(lambda: any(json.loads(g.data)["version"] == newest for g in goal_sets))
        assert all(json.loads(g.data)["goals"] is None for g in goal_sets)  # exploration off

        def updated(actor: str) -> bool:
            return any(r.actor_id == actor and r.policy_version >= 1 for r in records)

        assert c.spin_until(lambda: updated("actor_0") and updated("actor_1"), 60.0), [
            (r.actor_id, r.policy_version) for r in records
        ]
        # Records are well formed: reset step + one step per primitive.
        for record in [r for r in records if r.actor_id != "bad"][:4]:
            assert len(record.steps) >= 2 and not record.steps[0].action
            assert all(len(s.caption_scores) == len(record.captions) for s in record.steps)
            assert all(len(s.state) == 3 * 3 + 5 for s in record.steps)
        # The success rate of the trained agent: train result, feedback and Metrics.
        assert feedback and feedback[-1].update >= 1
        assert 0.0 <= result.success_rate <= 1.0
        assert metrics
        values = dict(zip(metrics[-1].names, metrics[-1].values, strict=True))
        assert values["eval/success_rate"] == pytest.approx(result.success_rate)
        assert values["version"] >= 1 and not math.isnan(values["losses/bc"])
        assert result.success_rate >= 0.5, (result.message, values)
        # Cancel: the trainer checkpoints and stops training.
        feedback.clear()
        handle = c.wait_future(
            action.send_goal_async(
                Train.Goal(env_steps=100_000),
                feedback_callback=lambda f: feedback.append(f.feedback),
            ),
            30.0,
        )
        assert handle.accepted
        assert c.spin_until(lambda: len(feedback) >= 1, 90.0)
        c.wait_future(handle.cancel_goal_async(), 30.0)
        outcome = c.wait_future(handle.get_result_async(), 60.0)
        assert outcome.status == GoalStatus.STATUS_CANCELED
        assert "canceled" in outcome.result.message
        checkpoint = Path(outcome.result.checkpoint)
        assert checkpoint.is_dir() and checkpoint.name.startswith("policy_")


# ---------------------------------------------------------------------- without DDS


def states_msg(state, world) -> ObjectStates:
    """The ObjectStates message tabletop_sim publishes for a core WorldState."""
    tol = world.config.tolerances
    held = held_object(state, tol) or ""
    msg = ObjectStates(held_object=held)
    for name in state.object_names:
        obj = state.objects[name]
        item = ObjectState(name=name, held=name == held)
        item.pose.position.x, item.pose.position.y, item.pose.position.z = (
            float(v) for v in obj.position
        )
        item.size.x = item.size.y = item.size.z = obj.size
        msg.objects.append(item)
    msg.end_effector.x, msg.end_effector.y, msg.end_effector.z = (
        float(v) for v in state.ee_position
    )
    msg.gripper_opening = float(state.gripper_width / (2.0 * world.config.robot.finger_open))
    return msg


@pytest.fixture(scope="module")
def expert_states():
    """States of an expert stacking red on blue: reset, red held, red on blue."""
    world = TabletopWorld("tabletop", seed=0)
    task = get_task("stack_red_on_blue", world.config)
    expert = ScriptedExpert(world.config, task)
    states = [world.reset(seed=4)]
    while not task.is_success(states[-1], world.config.tolerances):
        world.act(*expert.act(states[-1]))
        states.append(world.state())
    yield world, states
    world.close()


def test_ros_policy_input_and_captions_match_the_core(expert_states):
    world, states = expert_states
    config = world.config
    vocabulary = caption_list(config.object_names)
    seen = set()
    for state in states:
        msg = states_msg(state, world)
        features = features_from_states(
            msg, config.object_names, config.table.top, config.robot.finger_open
        )
        core = state_features(state)
        for key in ("objects", "ee", "gripper"):
            np.testing.assert_allclose(features[key], core[key], atol=1e-5)
        truth = caption_truth(state, config.tolerances)
        detected = state_detections(msg, vocabulary, config.tolerances)
        assert detected == [truth[c] for c in vocabulary]
        seen |= {c for c, d in zip(vocabulary, detected, strict=True) if d}
    assert {"The robot is grasping the red object", RED_ON_BLUE} <= seen
    broken = states_msg(states[0], world)
    broken.objects.pop()
    with pytest.raises(ValueError, match="lacks object"):
        features_from_states(broken, config.object_names, 0.0, 0.04)


def test_threshold_centred_is_monotone_and_keeps_the_decision():
    scores = np.linspace(0.0, 1.0, 41)
    for threshold in (0.2, 0.5, 0.8):
        mapped = [threshold_centred(s, threshold) for s in scores]
        assert all(b >= a for a, b in itertools.pairwise(mapped))
        assert all((m > 0.5) == (s > threshold) for m, s in zip(mapped, scores, strict=True))
        assert mapped[0] == 0.0 and mapped[-1] == pytest.approx(1.0)


def episode_log(world, states, version=0) -> EpisodeLog:
    vocabulary = caption_list(world.config.object_names)
    tol = world.config.tolerances
    log = EpisodeLog("stack_red_on_blue", "stack red on blue", 4, version, vocabulary)
    task = get_task("stack_red_on_blue", world.config)
    for k, state in enumerate(states):
        truth = caption_truth(state, tol)
        log.observe(state_features(state), [float(truth[c]) for c in vocabulary], Time(sec=k))
        if k + 1 < len(states):
            nxt = states[k + 1]
            log.step((nxt.ee_position[0], nxt.ee_position[1]), RED_ON_BLUE, task.reward(nxt, tol))
    return log


def test_episode_record_round_trip_and_bad_records(expert_states):
    world, states = expert_states
    log = episode_log(world, states)
    msg = log.to_msg("/actor_3", 7, Time(sec=99))
    assert len(msg.steps) == len(states) and not msg.steps[0].action and msg.success
    episode = record_to_episode(msg, 3, "e-1")
    assert episode.actor == 3 and episode.length == len(states) - 1 and episode.success
    np.testing.assert_allclose(
        episode.objects[-1], state_features(states[-1])["objects"], atol=1e-6
    )
    assert episode.detections[-1, episode.captions.index(RED_ON_BLUE)]
    bad = copy.deepcopy(msg)
    bad.steps[1].action = [float("nan"), 0.0]
    with pytest.raises(ValueError, match="action"):
        record_to_episode(bad, 3, "e-2")
    bad = copy.deepcopy(msg)
    bad.steps[2].caption_scores = [1.0]
    with pytest.raises(ValueError, match="caption scores"):
        record_to_episode(bad, 3, "e-3")
    with pytest.raises(ValueError, match="state vector"):
        record_to_episode(msg, 4, "e-4")


def test_remote_learner_relabels_trains_and_resumes(tmp_path, expert_states):
    world, states = expert_states
    torch.set_num_threads(1)
    config = apply_overrides(
        CollectInferConfig(),
        parse_overrides(
            [
                *OVERRIDES.split(),
                "episodes_per_update=2",
                "bc_steps=5",
                "eval_episodes=1",
                "explore_untrained_goals=true",
            ]
        ),
    )
    learner = RemoteLearner(config, tmp_path, "stack_red_on_blue")
    assert learner.plan[-1] == RED_ON_BLUE and learner.version == 0
    for i in range(2):
        episode = record_to_episode(episode_log(world, states).to_msg("a", i, Time()), 3, f"e{i}")
        assert learner.add(episode)
    assert not learner.add(episode)  # the same id again
    assert learner.due and learner.episodes == 2
    labels = {label.goal for label in learner.buffer.episodes()[0].labels}
    assert RED_ON_BLUE in labels and "stack the red object on the blue object" in labels
    assert learner.actor_goals() == []  # nothing trained yet: actors explore every goal
    assert learner.update() is not None and learner.version == 1
    assert RED_ON_BLUE in learner.actor_goals()
    assert 0.0 <= learner.evaluate() <= 1.0
    path = learner.checkpoint()
    assert path.name.endswith("1")
    with pytest.raises(CollectInferConfigError, match="cannot change"):
        learner.set_live({"n_actors": 3})
    learner.close()
    resumed = RemoteLearner(config, tmp_path, "stack_red_on_blue")
    assert resumed.version == 1 and resumed.episodes == 2 and len(resumed.buffer) == 2
    assert resumed.env_steps == 2 * (len(states) - 1) and len(resumed.curve) == 1
    resumed.close()


def test_actor_explores_untrained_goals_uniformly(expert_states):
    """Sampling a goal without demonstrations gives a uniform cell, not the network's."""
    world, states = expert_states
    config = world.config
    torch.manual_seed(0)
    policy = GoalPolicy(
        PolicyConfig(
            text_encoder="hashing",
            text_dim=32,
            d_model=32,
            n_heads=2,
            n_layers=1,
            init_free_logit=-20.0,  # the network points at the cubes only
            workspace_x=list(config.workspace.x),
            workspace_y=list(config.workspace.y),
        )
    )
    link = WorldLink(
        None,
        caption_list(config.object_names),
        config.object_names,
        config.table.top,
        config.robot.finger_open,
        config.tolerances,
        caption_source="state",
        command_pub=None,
        timeout_s=1.0,
    )
    link.policy = policy
    observation = RosObservation(state_features(states[0]), [], set(), Time(), ObjectStates())
    cubes = states[0].positions_array()[:, :2]

    def near_a_cube(goal: str, trained) -> float:
        link.trained_goals = trained
        rng = np.random.default_rng(0)
        xy = np.array([link.choose(goal, observation, False, rng) for _ in range(40)])
        distance = np.linalg.norm(xy[:, None] - cubes[None], axis=-1).min(axis=1)
        return float(np.mean(distance < 0.02))

    assert near_a_cube(RED_ON_BLUE, None) > 0.9  # no goal list: the network
    assert near_a_cube(RED_ON_BLUE, frozenset([RED_ON_BLUE])) > 0.9
    assert near_a_cube(RED_ON_BLUE, frozenset()) < 0.3  # untrained: uniform over the table


@pytest.mark.slow
def test_killed_trainer_resumes_its_run_over_ros(tmp_path, expert_states):
    """Episodes published to a trainer node, SIGKILL, restart: version and episodes kept."""
    world, states = expert_states
    argv = node_command(
        "collect_infer_trainer",
        "-p",
        "task:=stack_red_on_blue",
        "-p",
        f"run_dir:={tmp_path / 'run'}",
        "-p",
        "auto_train:=true",
        "-p",
        "overrides:=" + OVERRIDES + " episodes_per_update=2 bc_steps=5 eval_episodes=0",
    )
    with ClientNode("resume_test") as c:
        weights: list[PolicyWeights] = []
        c.node.create_subscription(PolicyWeights, "/policy_weights", weights.append, LATCHED)
        episodes = c.node.create_publisher(EpisodeRecord, "/episodes", EPISODES_QOS)
        first = NodeProcess(argv, tmp_path / "first.log")
        try:
            assert c.spin_until(lambda: episodes.get_subscription_count() > 0, 60.0)
            for i in range(2):
                episodes.publish(episode_log(world, states).to_msg("actor_0", i, Time(sec=i + 1)))
            assert c.spin_until(lambda: any(w.version == 1 for w in weights), 60.0), first.output()
            assert c.spin_until(lambda: "update 1" in first.output(), 10.0)
        finally:
            first.send_signal(signal.SIGKILL)
            first.stop()
        weights.clear()
        second = NodeProcess(argv, tmp_path / "second.log")
        try:
            assert c.spin_until(lambda: any(w.version == 1 for w in weights), 60.0), second.output()
            assert c.spin_until(lambda: "2 episodes, version 1" in second.output(), 20.0)
        finally:
            second.stop()

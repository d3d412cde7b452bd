"""collect_infer_trainer: the Collect & Infer learner as a ROS 2 node (MISSION B5).

Actors (``policy`` nodes in ``mode: actor``, one per namespace with its own
simulator) publish finished episodes; this node learns from them and sends the
weights back, all over topics (no shared filesystem):

- subscribes ``episodes_topic`` (EpisodeRecord, reliable, ``queue_depth``
  deep): every record is checked (``episode_messages.record_to_episode``; a
  malformed one is logged and dropped), relabelled and stored atomically in the
  run directory's buffers (``grounded_ros.remote_learner.RemoteLearner``, the
  core's relabel / buffers / behaviour cloning);
- publishes ``weights_topic`` (PolicyWeights, reliable + transient local, so an
  actor that joins late gets the newest weights at once): version 0 (the
  untrained policy, or the resumed checkpoint's version) at start-up, then a
  new version after every update; with each version, on
  ``trained_goals_topic`` (std_msgs/String, transient local) the JSON
  ``{"version": v, "goals": [...]}`` of the goals that have demonstrations
  (``null`` when ``explore_untrained_goals`` is off): actors act uniformly at
  random while pursuing any other goal, as the core's in-process actors do;
- publishes ``~/metrics`` (Metrics) after every update: version, episodes,
  env steps, recent actor success rate, greedy evaluation success rate, buffer
  sizes, BC loss and the newest policy version seen from each actor
  (``actor_version<actor id>``).

Training happens while a ``~/train`` goal (grounded_interfaces/Train) runs, or
always with ``auto_train``: every ``episodes_per_update`` stored episodes of
the task, behaviour cloning on the task buffer, broadcast, evaluation every
``eval_every`` updates (greedy policy, fixed layouts, local world, simulator
truth) and an atomic checkpoint. Episodes are stored whether or not a goal runs.

Train goal: ``overrides`` ("key=value", the live-changeable Collect & Infer
settings, e.g. ``episodes_per_update=4``, for this goal only) and ``env_steps``
(collection primitives to add; 0 = until the configured ``max_env_steps``
total). Feedback after every update (update, env steps, success rate, metrics);
the goal ends when the steps are collected (after a last update) or the
evaluation reaches ``stop_success``. Cancel: checkpoint, stop training, goal
canceled. The run directory is resumed on start (policy, optimiser, counters,
every stored episode).
"""

from __future__ import annotations

import json
import math
import queue
import threading

import torch
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from grounded_core.learning.collect_infer import CollectInferConfigError, load_collect_infer_config
from grounded_interfaces.action import Train
from grounded_interfaces.msg import EpisodeRecord, Metrics, PolicyWeights
from grounded_ros.episode_messages import blob_to_msg, record_to_episode
from grounded_ros.node_runtime import run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.qos import LATCHED
from grounded_ros.remote_learner import (
    LIVE_KEYS,
    RemoteLearner,
    apply_overrides,
    parse_overrides,
)

PARAMS = (
    Param(
        "config_file",
        "",
        "Collect & Infer YAML (config/collect_infer.yaml); empty = the core defaults.",
        read_only=True,
    ),
    Param(
        "overrides",
        "",
        "Space-separated key=value overrides of that config (policy.x=... for the policy).",
        read_only=True,
    ),
    Param(
        "run_dir", "runs/collect_infer_ros", "Buffers and checkpoints (resumed).", read_only=True
    ),
    Param(
        "task", "grasp_red", "Task the actors collect (its buffer is trained on).", read_only=True
    ),
    Param(
        "plan",
        "",
        "Sub-goal captions separated by ';' (empty: the task's reference plan).",
        read_only=True,
    ),
    Param("episodes_topic", "/episodes", "EpisodeRecord topic.", read_only=True),
    Param("weights_topic", "/policy_weights", "PolicyWeights topic.", read_only=True),
    Param(
        "trained_goals_topic",
        "/policy_trained_goals",
        "std_msgs/String JSON {version, goals}: goals with demonstrations (null: all).",
        read_only=True,
    ),
    Param(
        "queue_depth",
        100,
        "Depth of the episode subscription queue.",
        min=1,
        max=100_000,
        read_only=True,
    ),
    Param("auto_train", False, "Train without a train goal too.", read_only=True),
    Param("torch_threads", 1, "torch intra-op threads (0: torch's default).", min=0, max=256),
)


class CollectInferTrainerNode(Node):
    """Receives episodes, trains, broadcasts weights (module docstring)."""

    def __init__(self) -> None:
        super().__init__("collect_infer_trainer")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        if p["torch_threads"]:
            torch.set_num_threads(p["torch_threads"])
        config = load_collect_infer_config(p["config_file"] or None)
        config = apply_overrides(config, parse_overrides(p["overrides"].split()))
        plan = [s.strip() for s in p["plan"].split(";") if s.strip()] or None
        self.learner = RemoteLearner(
            config, p["run_dir"], p["task"], plan, log=lambda m: self.get_logger().info(m)
        )
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.training = bool(p["auto_train"])
        self.busy = threading.Lock()
        self.actor_versions: dict[str, int] = {}
        self.received = 0
        self.inbox: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        group = ReentrantCallbackGroup()
        self.weights_pub = self.create_publisher(PolicyWeights, p["weights_topic"], LATCHED)
        self.goals_pub = self.create_publisher(String, p["trained_goals_topic"], LATCHED)
        self.metrics_pub = self.create_publisher(Metrics, "~/metrics", 10)
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=p["queue_depth"],
            reliability=ReliabilityPolicy.RELIABLE,
        )
        self.create_subscription(
            EpisodeRecord, p["episodes_topic"], self.on_episode, qos, callback_group=group
        )
        self.action_server = ActionServer(
            self,
            Train,
            "~/train",
            execute_callback=self.execute,
            goal_callback=self.on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self._broadcast()
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()
        learner = self.learner
        self.get_logger().info(
            f"task {learner.task.name}, plan {learner.plan}, run dir {p['run_dir']}: "
            f"{learner.episodes} episodes, version {learner.version}; "
            f"weights on {p['weights_topic']}, episodes from {p['episodes_topic']}"
        )

    # ------------------------------------------------------------------ I/O

    def _broadcast(self) -> None:
        blob = self.learner.blob()
        self.weights_pub.publish(blob_to_msg(blob, self.get_clock().now().to_msg()))
        payload = {"version": blob.version, "goals": self.learner.actor_goals()}
        self.goals_pub.publish(String(data=json.dumps(payload)))

    @survive_bad_input
    def on_episode(self, msg: EpisodeRecord) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        actor = msg.actor_id.strip("/").replace("/", "_") or "actor"
        episode_id = f"{msg.task}-{actor}-{msg.episode_index:06d}-{stamp}"
        episode = record_to_episode(msg, len(self.learner.world.objects), episode_id)
        self.inbox.put((msg.actor_id, episode))

    def _metrics(self) -> dict[str, float]:
        values = self.learner.metrics()
        for actor, version in sorted(self.actor_versions.items()):
            values[f"actor_version{actor}"] = float(version)
        msg = Metrics(step=self.learner.env_steps, names=list(values))
        msg.values = [float(v) for v in values.values()]
        msg.header.stamp = self.get_clock().now().to_msg()
        self.metrics_pub.publish(msg)
        return values

    # ------------------------------------------------------------------ learning loop

    def _work(self) -> None:
        learner = self.learner
        logger = self.get_logger()
        while not self.stopping.is_set():
            try:
                actor, episode = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            with self.lock:
                try:
                    stored = learner.add(episode)
                except (ValueError, OSError) as error:
                    logger.error(f"episode {episode.episode_id} from {actor} dropped: {error}")
                    continue
                if not stored:
                    continue
                self.received += 1
                self.actor_versions[actor] = max(
                    self.actor_versions.get(actor, -1), episode.policy_version
                )
                if self.training and learner.due:
                    self._update()
                self.changed.notify_all()

    def _update(self) -> None:
        """One update (with the lock held): train, broadcast, evaluate, checkpoint, metrics."""
        learner = self.learner
        loss = learner.update()
        if loss is None:
            self.get_logger().info("nothing labelled yet; collecting on")
            return
        self._broadcast()
        if learner.updates % learner.config.eval_every == 0:
            learner.evaluate()
        learner.checkpoint()
        self._metrics()
        self.get_logger().info(
            f"update {learner.updates}: v{learner.version}, {learner.env_steps} steps, "
            f"{learner.episodes} episodes, loss {loss:.3f}, actor success "
            f"{learner.recent_success:.2f}, eval success {learner.last_eval:.2f}"
        )

    # ------------------------------------------------------------------ train action

    def on_goal(self, goal: Train.Goal) -> GoalResponse:
        if self.busy.locked():
            self.get_logger().warning("rejected a train goal: already training")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _feedback(self, handle) -> None:
        learner = self.learner
        values = self.learner.metrics()
        rate = learner.last_eval if not math.isnan(learner.last_eval) else learner.recent_success
        handle.publish_feedback(
            Train.Feedback(
                update=learner.updates,
                env_steps=learner.env_steps,
                success_rate=float(rate),
                mean_return=float(learner.recent_success),
                metric_names=list(values),
                metric_values=[float(v) for v in values.values()],
            )
        )

    def execute(self, handle) -> Train.Result:
        goal: Train.Goal = handle.request
        result = Train.Result()
        learner = self.learner
        with self.busy:
            with self.lock:
                base = learner.config
                try:
                    overrides = parse_overrides(list(goal.overrides))
                    learner.set_live(overrides)
                except (CollectInferConfigError, ValueError) as error:
                    learner.config = base
                    result.message = f"bad overrides: {error}"
                    handle.abort()
                    return result
                target = (
                    learner.env_steps + int(goal.env_steps)
                    if goal.env_steps
                    else learner.config.max_env_steps
                )
                was_training, self.training = self.training, True
                seen = learner.updates
                if learner.due:
                    self._update()
            self.get_logger().info(f"training to {target} env steps")
            canceled = False
            try:
                with self.changed:
                    while True:
                        if learner.updates != seen:
                            seen = learner.updates
                            self._feedback(handle)
                        stop = learner.config.stop_success
                        if stop is not None and learner.last_eval >= stop:
                            break
                        if learner.env_steps >= target:
                            if learner.pending:
                                self._update()
                                self._feedback(handle)
                            break
                        if handle.is_cancel_requested or self.stopping.is_set():
                            canceled = True
                            break
                        self.changed.wait(0.2)
                    self.training = was_training
                    result.checkpoint = str(learner.checkpoint())
                    result.env_steps = learner.env_steps
                    rate = learner.last_eval
                    result.success_rate = float(
                        rate if not math.isnan(rate) else learner.recent_success
                    )
                    learner.set_live({k: getattr(base, k) for k in LIVE_KEYS})
            except (ValueError, OSError, RuntimeError) as error:
                self.training = was_training
                result.message = f"training failed: {error}"
                self.get_logger().error(result.message)
                handle.abort()
                return result
            if canceled:
                result.message = f"canceled at update {learner.updates}"
                handle.canceled()
                return result
            result.success = True
            result.message = (
                f"{learner.updates} updates, version {learner.version}, "
                f"{learner.env_steps} env steps, success rate {result.success_rate:.2f}"
            )
            handle.succeed()
            return result

    def destroy_node(self) -> None:
        self.stopping.set()
        self.worker.join(timeout=5.0)
        with self.lock:
            self.learner.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # Episodes keep arriving while a train goal runs.
    return run_node(CollectInferTrainerNode, args, threads=3)


if __name__ == "__main__":
    raise SystemExit(main())

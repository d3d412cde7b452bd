"""policy: the language-conditioned tabletop policy as a ROS 2 node (MISSION B4-B6).

Runs ``grounded_core.policy`` (``GoalPolicy`` + ``SkillScheduler``) against a
world served over topics (``tabletop_sim``, or ``arm_bridge`` on a real arm).
Topics and services are relative to the node's namespace, so one
simulator + policy pair per namespace (``/actor_0/...``) works as is.

Subscribes:
- ``object_states`` (ObjectStates): the policy input;
- ``captions`` (Captions, from the ``captioner`` node) when ``caption_source``
  is ``topic``; with ``state`` the captions are judged from the object states
  (``grounded_ros.state_captions``; tests and runs without a captioner);
- ``arm_command_result`` (ArmCommandResult) and ``task_status`` (TaskStatus);
- ``plan`` (SubGoalPlan, from the ``planner`` node): the latest plan;
- ``weights_topic`` (PolicyWeights, transient local, default
  ``/policy_weights``): versioned weights, hot-reloaded. Versions not newer
  than the loaded one are ignored; a SHA-256 mismatch, a bad configuration or
  weights that do not fit are logged and dropped, and the node keeps acting
  with the weights it has.

Publishes ``arm_command`` (ArmCommand, AUTO primitive at the chosen (x, y)) and
``~/metrics`` (Metrics: ``policy_version``, ``episodes``, ``episode_success``,
``episode_steps``) whenever weights load or an episode ends.

Action ``execute_task`` (grounded_interfaces/ExecuteTask): the skill scheduler
(MISSION B6 use 3). The plan is ``goal.sub_goals`` when given, else the
planner's ``make_plan`` service (``planner_service``), else the latest ``plan``
message. Each sub-goal runs the greedy policy until the captions show it in
``debounce`` consecutive observations, within ``max_steps_per_sub_goal``
primitives (0: ``steps_per_sub_goal``). Feedback after every primitive: the
current sub-goal, its index, the step on it and the detected captions. The
result names the failed sub-goal and what was detected instead. Cancel stops
after the running primitive. One goal at a time.

Actor mode (``mode: actor``): Collect & Infer collection (MISSION B5). The node
runs episodes continuously: reset the world (``reset_service``) with ``task``
and a seed derived from ``seed``, the actor name and the episode index; act
with the *sampled* policy conditioned on the current sub-goal of ``plan``
(``grounded_core.policy.progress.plan_index`` over the detected captions; the
task's instruction when ``reward_mode`` is ``env``) until the task reward or
``max_episode_steps``; goals without demonstrations in the trainer's buffer
(``trained_goals_topic``) are pursued uniformly at random, as the core's
in-process actors do; then publish the episode as an ``EpisodeRecord``
(``episodes_topic``, reliable, deep queue): per step the state, action, goal,
reward and caption scores (camera frames when ``record_frames``). Each episode
uses one weights version (the newest when it starts). Actors start collecting
when the first weights arrive.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

import numpy as np
import torch
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from grounded_core.learning.plans import PlanError, ReferencePlanSource, check_plan
from grounded_core.policy.io import load_policy
from grounded_core.policy.progress import plan_index
from grounded_core.policy.scheduler import SkillScheduler
from grounded_core.tabletop.captions import caption_list
from grounded_core.tabletop.tasks import get_task
from grounded_core.tabletop.world_config import load_world_config
from grounded_interfaces.action import ExecuteTask
from grounded_interfaces.msg import (
    ArmCommand,
    ArmCommandResult,
    Captions,
    EpisodeRecord,
    Metrics,
    ObjectStates,
    PolicyWeights,
    SubGoalPlan,
    TaskStatus,
)
from grounded_interfaces.srv import MakePlan, ResetWorld
from grounded_ros.episode_messages import EpisodeLog, msg_to_blob
from grounded_ros.node_runtime import run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.policy_io import (
    BUSY_RETRY_S,
    Canceled,
    PolicySlot,
    WorldLink,
    WorldLinkError,
    seconds,
)
from grounded_ros.qos import LATCHED, RELIABLE_FRAMES, STATE

#: QoS of episode records: reliable, deep queue (an actor must not lose one).
EPISODES_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE
)


def _plan_check(value: str) -> str | None:
    parts = [p.strip() for p in value.split(";")]
    if value.strip() and not all(parts):
        return "plan must be sub-goal captions separated by ';' (no empty entries)"
    return None


PARAMS = (
    Param("world", "tabletop", "World name in sim_worlds/ or a world YAML path.", read_only=True),
    Param(
        "mode",
        "serve",
        "serve: execute_task goals; actor: run Collect & Infer episodes continuously.",
        choices=("serve", "actor"),
        read_only=True,
    ),
    Param(
        "weights_topic",
        "/policy_weights",
        "PolicyWeights topic (transient local) the trainer broadcasts on.",
        read_only=True,
    ),
    Param(
        "trained_goals_topic",
        "/policy_trained_goals",
        "Actor mode: JSON {version, goals} of the goals with demonstrations (others are "
        "explored uniformly at random; empty topic name: use the network for every goal).",
        read_only=True,
    ),
    Param(
        "weights_path",
        "",
        "Optional policy checkpoint (folder or run root) loaded at start-up.",
        read_only=True,
    ),
    Param(
        "caption_source",
        "topic",
        "topic: the captioner's captions; state: judged from object_states (no captioner).",
        choices=("topic", "state"),
        read_only=True,
    ),
    Param("planner_service", "make_plan", "MakePlan service of the planner.", read_only=True),
    Param("planner_timeout_s", 2.0, "Seconds to wait for the planner service.", min=0.0, max=600.0),
    Param("debounce", 2, "Consecutive observations confirming a sub-goal.", min=1, max=100),
    Param(
        "steps_per_sub_goal",
        4,
        "Default primitive budget per sub-goal of execute_task.",
        min=1,
        max=1000,
    ),
    Param("observe_interval_s", 0.1, "Wait between debounce observations.", min=0.0, max=10.0),
    Param("timeout_s", 60.0, "Seconds to wait for a command result or observation.", min=0.1),
    Param("temperature", 1.0, "Sampling temperature in actor mode.", min=0.01, max=100.0),
    Param("epsilon", 0.0, "Uniform exploration mixed in, actor mode.", min=0.0, max=1.0),
    Param("task", "grasp_red", "Actor mode: task of every episode.", read_only=True),
    Param(
        "plan",
        "",
        "Actor mode: sub-goal captions separated by ';' (empty: the task's reference plan).",
        read_only=True,
        check=_plan_check,
    ),
    Param(
        "reward_mode",
        "curriculum",
        "Actor mode: curriculum (condition on the plan's current sub-goal) or env "
        "(on the instruction; the baseline).",
        choices=("curriculum", "env"),
        read_only=True,
    ),
    Param("seed", 0, "Actor mode: base seed of the episode layouts.", min=0, max=2**31),
    Param("max_episode_steps", 0, "Actor mode: primitives per episode (0: the task's).", min=0),
    Param("episodes", 0, "Actor mode: stop after this many episodes (0: never).", min=0),
    Param(
        "actor_id", "", "Actor mode: name in the records (empty: the namespace).", read_only=True
    ),
    Param("episodes_topic", "/episodes", "Actor mode: EpisodeRecord topic.", read_only=True),
    Param("reset_service", "reset_world", "Actor mode: ResetWorld service.", read_only=True),
    Param(
        "record_frames", False, "Actor mode: attach camera frames to every step.", read_only=True
    ),
    Param(
        "cameras",
        "front_left",
        "Comma-separated cameras whose frames are recorded (record_frames).",
        read_only=True,
    ),
    Param("torch_threads", 1, "torch intra-op threads (0: torch's default).", min=0, max=256),
)


def _stable_seed(*parts) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


class PolicyNode(Node):
    """Skill scheduler behind execute_task, or a Collect & Infer actor (module docstring)."""

    def __init__(self) -> None:
        super().__init__("policy")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        if p["torch_threads"]:
            torch.set_num_threads(p["torch_threads"])
        self.world = load_world_config(p["world"])
        self.vocabulary = caption_list(self.world.object_names)
        self.slot = PolicySlot()
        if p["weights_path"]:
            policy, manifest = load_policy(p["weights_path"])
            self.slot.set(policy, int(manifest.get("policy", {}).get("version", 0)))
        self.busy = threading.Lock()
        self.stop_event = threading.Event()
        self.latest_plan: SubGoalPlan | None = None
        self.episodes_done = 0
        self.frames: dict[str, Image] = {}
        group = ReentrantCallbackGroup()

        command_pub = self.create_publisher(ArmCommand, "arm_command", STATE)
        self.link = WorldLink(
            self,
            self.vocabulary,
            self.world.object_names,
            self.world.table.top,
            self.world.robot.finger_open,
            self.world.tolerances,
            caption_source=p["caption_source"],
            command_pub=command_pub,
            timeout_s=p["timeout_s"],
            temperature=p["temperature"],
            epsilon=p["epsilon"],
            frame_source=self._frames_at if p["record_frames"] else None,
        )
        self.create_subscription(
            ObjectStates, "object_states", self.link.on_states, STATE, callback_group=group
        )
        self.create_subscription(
            TaskStatus, "task_status", self.link.on_status, STATE, callback_group=group
        )
        self.create_subscription(
            ArmCommandResult, "arm_command_result", self.link.on_result, STATE, callback_group=group
        )
        if p["caption_source"] == "topic":
            self.create_subscription(
                Captions, "captions", self.link.on_captions, STATE, callback_group=group
            )
        self.create_subscription(SubGoalPlan, "plan", self.on_plan, STATE, callback_group=group)
        self.create_subscription(
            PolicyWeights, p["weights_topic"], self.on_weights, LATCHED, callback_group=group
        )
        self.metrics_pub = self.create_publisher(Metrics, "~/metrics", STATE)
        self.planner = self.create_client(MakePlan, p["planner_service"], callback_group=group)
        self.thread = None
        if p["mode"] == "serve":
            self.action_server = ActionServer(
                self,
                ExecuteTask,
                "execute_task",
                execute_callback=self.execute,
                goal_callback=self.on_goal,
                cancel_callback=lambda _: CancelResponse.ACCEPT,
                callback_group=MutuallyExclusiveCallbackGroup(),
            )
        else:
            self.actor_name = p["actor_id"] or self.get_namespace()
            self.task = get_task(p["task"], self.world, p["max_episode_steps"] or None)
            if p["reward_mode"] == "curriculum":
                if p["plan"].strip():
                    self.plan = check_plan(
                        [s.strip() for s in p["plan"].split(";")], self.world.object_names
                    )
                else:
                    self.plan = ReferencePlanSource(self.world).plan(self.task.instruction)
            else:
                self.plan = []
            self.episodes_pub = self.create_publisher(
                EpisodeRecord, p["episodes_topic"], EPISODES_QOS
            )
            self.goal_sets: dict[int, frozenset[str] | None] = {}
            if p["trained_goals_topic"]:
                self.create_subscription(
                    String,
                    p["trained_goals_topic"],
                    self.on_trained_goals,
                    LATCHED,
                    callback_group=group,
                )
            self.reset_client = self.create_client(
                ResetWorld, p["reset_service"], callback_group=group
            )
            if p["record_frames"]:
                for camera in [c.strip() for c in p["cameras"].split(",") if c.strip()]:
                    self.create_subscription(
                        Image,
                        f"camera/{camera}/image_raw",
                        lambda msg, c=camera: self.frames.__setitem__(c, msg),
                        RELIABLE_FRAMES,
                        callback_group=group,
                    )
            self.thread = threading.Thread(target=self._actor_loop, daemon=True)
            self.thread.start()
        self.get_logger().info(
            f"mode {p['mode']}, captions from {p['caption_source']}, weights on "
            f"{p['weights_topic']}"
            + (
                f", version {self.slot.version} from {p['weights_path']}"
                if p["weights_path"]
                else ""
            )
        )

    # ------------------------------------------------------------------ inputs

    @survive_bad_input
    def on_weights(self, msg: PolicyWeights) -> None:
        blob = msg_to_blob(msg)
        if blob.version <= self.slot.version:
            self.get_logger().info(
                f"ignored weights version {blob.version} (have {self.slot.version})"
            )
            return
        if self.slot.offer(blob):
            self.get_logger().info(f"loaded policy weights version {blob.version}")
            self._metrics()

    @survive_bad_input
    def on_trained_goals(self, msg: String) -> None:
        try:
            data = json.loads(msg.data)
            version, goals = int(data["version"]), data["goals"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"trained goals must be JSON {{version, goals}}: {error}") from error
        if goals is not None and not (
            isinstance(goals, list) and all(isinstance(g, str) for g in goals)
        ):
            raise ValueError("trained goals must be a list of strings or null")
        self.goal_sets[version] = None if goals is None else frozenset(goals)
        for old in sorted(self.goal_sets)[:-4]:  # keep the newest few versions
            del self.goal_sets[old]

    def _goals_for(self, version: int) -> frozenset[str] | None:
        """The trained goals of ``version`` (waits up to 1 s for them; None: all goals)."""
        if not self.params["trained_goals_topic"]:
            return None
        deadline = time.monotonic() + 1.0
        while version not in self.goal_sets and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.goal_sets.get(version)

    @survive_bad_input
    def on_plan(self, msg: SubGoalPlan) -> None:
        check_plan(list(msg.sub_goals), self.world.object_names)
        self.latest_plan = msg

    def _frames_at(self, stamp) -> list[Image]:
        """Latest frame of each recorded camera, waiting briefly for one at/after ``stamp``."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            frames = list(self.frames.values())
            if frames and all(seconds(f.header.stamp) >= seconds(stamp) - 1e-9 for f in frames):
                return frames
            time.sleep(0.02)
        return list(self.frames.values())

    def _metrics(self, success: float = float("nan"), steps: int = 0) -> None:
        msg = Metrics(
            step=self.episodes_done,
            names=["policy_version", "episodes", "episode_success", "episode_steps"],
            values=[float(self.slot.version), float(self.episodes_done), success, float(steps)],
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self.metrics_pub.publish(msg)

    # ------------------------------------------------------------------ execute_task

    def on_goal(self, goal: ExecuteTask.Goal) -> GoalResponse:
        if self.busy.locked():
            self.get_logger().warning("rejected an execute_task goal: already executing")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _plan_for(self, goal: ExecuteTask.Goal) -> list[str]:
        if goal.sub_goals:
            return check_plan(list(goal.sub_goals), self.world.object_names)
        timeout = self.get_parameter("planner_timeout_s").value
        if goal.instruction and self.planner.wait_for_service(timeout_sec=timeout):
            done = threading.Event()
            future = self.planner.call_async(MakePlan.Request(instruction=goal.instruction))
            future.add_done_callback(lambda _: done.set())
            if not done.wait(self.get_parameter("timeout_s").value):
                raise PlanError(f"planner {self.planner.srv_name} did not answer")
            reply = future.result()
            if not reply.success:
                raise PlanError(f"planner failed: {reply.message}")
            return check_plan(list(reply.plan.sub_goals), self.world.object_names)
        plan = self.latest_plan
        if plan is not None and (not goal.instruction or plan.instruction == goal.instruction):
            return list(plan.sub_goals)
        raise PlanError(
            "no plan: the goal has no sub_goals, the planner service "
            f"{self.planner.srv_name} is not available and no matching plan was received"
        )

    def execute(self, handle) -> ExecuteTask.Result:
        goal: ExecuteTask.Goal = handle.request
        result = ExecuteTask.Result(failed_sub_goal=-1)
        with self.busy:
            policy, version = self.slot.current()
            try:
                if policy is None:
                    raise WorldLinkError(
                        f"no policy weights yet (waiting on {self.params['weights_topic']})"
                    )
                plan = self._plan_for(goal)
            except (WorldLinkError, PlanError, ValueError) as error:
                result.message = str(error)
                self.get_logger().error(f"execute_task: {error}")
                handle.abort()
                return result
            result.sub_goals = plan
            budget = (
                int(goal.max_steps_per_sub_goal) or self.get_parameter("steps_per_sub_goal").value
            )
            progress = {"index": 0, "goal": plan[0], "step": 0}

            def on_act(subgoal: str, observation) -> None:
                index = progress["index"]
                if subgoal != plan[index]:
                    later = [i for i in range(index, len(plan)) if plan[i] == subgoal]
                    index = later[0] if later else index
                if index != progress["index"]:
                    progress.update(index=index, step=0)
                progress["step"] += 1
                handle.publish_feedback(
                    ExecuteTask.Feedback(
                        current_sub_goal=plan[index],
                        sub_goal_index=index,
                        step=progress["step"],
                        detected_captions=sorted(observation.detected),
                    )
                )

            link = self.link
            link.policy = policy
            link.on_act = on_act
            link.should_stop = lambda: handle.is_cancel_requested or self.stop_event.is_set()
            scheduler = SkillScheduler(
                link,
                debounce=self.get_parameter("debounce").value,
                steps_per_subgoal=budget,
                observe_interval=self.get_parameter("observe_interval_s").value,
                greedy=True,
            )
            self.get_logger().info(
                f"executing '{goal.instruction}' with policy v{version}: {' -> '.join(plan)}"
            )
            try:
                report = scheduler.run(plan, instruction=goal.instruction)
            except Canceled:
                result.message = "canceled"
                handle.canceled()
                return result
            except (WorldLinkError, ValueError) as error:
                result.message = f"execution failed: {error}"
                self.get_logger().error(result.message)
                handle.abort()
                return result
            finally:
                link.on_act = None
                link.should_stop = lambda: self.stop_event.is_set()
            result.success = report.success
            result.message = report.summary()
            result.steps = report.total_steps
            result.failed_sub_goal = -1 if report.failed_index is None else report.failed_index
            last = report.subgoals[-1] if report.subgoals else None
            result.detected_captions = list(last.detected_captions) if last else []
            self.get_logger().info(result.message)
            handle.succeed()
            return result

    # ------------------------------------------------------------------ actor mode

    def _call_reset(self, seed: int) -> ResetWorld.Response:
        timeout = self.get_parameter("timeout_s").value
        if not self.reset_client.wait_for_service(timeout_sec=timeout):
            raise WorldLinkError(f"{self.reset_client.srv_name} is not available")
        deadline = time.monotonic() + timeout
        while True:
            done = threading.Event()
            request = ResetWorld.Request(task=self.task.name, seed=seed)
            future = self.reset_client.call_async(request)
            future.add_done_callback(lambda _, event=done: event.set())
            if not done.wait(timeout):
                raise WorldLinkError(f"{self.reset_client.srv_name} did not answer")
            reply = future.result()
            if reply.success:
                return reply
            # "busy": the last primitive is still finishing; anything else is final.
            if not reply.message.startswith("busy") or time.monotonic() > deadline:
                raise WorldLinkError(f"reset refused: {reply.message}")
            time.sleep(BUSY_RETRY_S)

    def run_episode(self, index: int) -> EpisodeLog:
        """One Collect & Infer episode with the newest weights (see the module docstring)."""
        p = self.params
        policy, version = self.slot.current()
        link = self.link
        link.policy = policy
        link.trained_goals = self._goals_for(version)
        seed = _stable_seed(p["seed"], self.actor_name, index)
        rng = np.random.default_rng([p["seed"], seed, index])
        reply = self._call_reset(seed)
        link.reset_floor(reply.state.header.stamp)
        fresh = 2 if p["caption_source"] == "topic" else 1  # skip a frame from before the reset
        obs = link.observe(states=reply.state, fresh=fresh)
        log = EpisodeLog(
            self.task.name, self.task.instruction, seed, version, list(self.vocabulary)
        )
        log.observe(obs.features, obs.scores, obs.stamp, obs.frames)
        limit = p["max_episode_steps"] or int(reply.status.max_steps) or self.task.max_steps
        for _ in range(limit):
            if self.plan:
                goal = self.plan[min(plan_index(self.plan, obs.detected), len(self.plan) - 1)]
            else:
                goal = self.task.instruction
            xy = link.choose(goal, obs, False, rng)
            obs = link.act(xy)
            log.step(xy, goal, link.last_reward)
            log.observe(obs.features, obs.scores, obs.stamp, obs.frames)
            if link.last_reward > 0:
                break
        return log

    def _actor_loop(self) -> None:
        p = self.params
        self.link.should_stop = self.stop_event.is_set
        logger = self.get_logger()
        while not self.stop_event.is_set() and self.slot.version < 0:
            self.stop_event.wait(0.1)
        index = 0
        while not self.stop_event.is_set():
            if p["episodes"] and index >= p["episodes"]:
                logger.info(f"collected {index} episodes; actor idle")
                return
            try:
                log = self.run_episode(index)
            except Canceled:
                return
            except (WorldLinkError, ValueError) as error:
                logger.error(f"episode {index} failed: {error}; retrying in 1 s")
                self.stop_event.wait(1.0)
                continue
            record = log.to_msg(self.actor_name, index, self.get_clock().now().to_msg())
            try:
                self.episodes_pub.publish(record)
            except Exception:  # context shut down while stopping
                if self.stop_event.is_set():
                    return
                raise
            index += 1
            self.episodes_done = index
            self._metrics(float(log.success), len(log.actions))
            logger.info(
                f"episode {index - 1}: {len(log.actions)} steps, success {log.success}, "
                f"policy v{log.policy_version}"
            )

    def destroy_node(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # Results, states and captions are received while a goal or an episode runs.
    return run_node(PolicyNode, args, threads=4)


if __name__ == "__main__":
    raise SystemExit(main())

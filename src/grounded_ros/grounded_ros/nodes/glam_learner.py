"""glam_learner: GLAM's PPO learner as a ROS 2 node (MISSION A4), training against
the ``babyai_text_env`` node's services, so environments can run in other
processes or machines.

Action ``~/train`` (grounded_interfaces/Train):
- goal: ``overrides`` ("section.key=value", applied on top of the node's config)
  and ``env_steps`` (0 = the configured total);
- feedback after every update: update index, env steps, success rate, mean
  return and the update's metrics;
- cancel: the trainer stops between rollout steps (never inside an
  optimisation phase), writes a checkpoint and the goal ends canceled.
A goal arriving while another one trains is rejected. A run directory that
already holds checkpoints is resumed.

Publishes ``~/metrics`` (grounded_interfaces/Metrics) after every update.

The trainer is ``grounded_core.learning.GlamTrainer``; this node only provides
an environment client made of two service clients (``RosTextEnvClient``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node

from grounded_core.data import CheckpointError
from grounded_core.learning.env_adapters import EnvObservation, EnvReset, EnvStep
from grounded_core.learning.glam_config import load_config
from grounded_core.learning.glam_trainer import GlamTrainer, UpdateReport
from grounded_interfaces.action import Train
from grounded_interfaces.msg import Metrics
from grounded_interfaces.srv import TextEnvReset, TextEnvStep
from grounded_ros.node_runtime import run_node
from grounded_ros.parameters import Param, declare_parameters

PARAMS = (
    Param(
        "config_file",
        "",
        "GLAM config YAML (config/glam.yaml); empty = the paper's defaults.",
        read_only=True,
    ),
    Param(
        "overrides",
        "",
        "Space-separated section.key=value overrides applied to every goal.",
        read_only=True,
    ),
    Param(
        "run_dir",
        "runs/glam_learner",
        "Checkpoints and TensorBoard logs (resumed if present).",
        read_only=True,
    ),
    Param(
        "env_node",
        "/babyai_text_env",
        "Fully qualified name of the babyai_text_env node.",
        read_only=True,
    ),
    Param(
        "service_timeout_s",
        60.0,
        "Seconds to wait for an environment service reply.",
        min=0.1,
        max=3600.0,
    ),
)


class EnvServiceError(RuntimeError):
    """The environment node refused a request or did not answer in time."""


class RosTextEnvClient:
    """The trainer's TextEnvClient over the babyai_text_env services.

    ``reset`` asks the env node to rebuild its batch with the learner's level,
    variant and size, so the two always agree. A remote batch cannot be
    restored exactly, so ``state_dict`` is None and resumes reset it.
    """

    def __init__(
        self,
        node: Node,
        env_node: str,
        num_envs: int,
        level: str,
        variant: str,
        timeout_s: float,
        callback_group,
    ) -> None:
        self.node = node
        self._num_envs = num_envs
        self.level = level
        self.variant = variant
        self.timeout_s = timeout_s
        self.reset_client = node.create_client(
            TextEnvReset, f"{env_node}/reset", callback_group=callback_group
        )
        self.step_client = node.create_client(
            TextEnvStep, f"{env_node}/step", callback_group=callback_group
        )

    @property
    def num_envs(self) -> int:
        return self._num_envs

    def _call(self, client, request):
        if not client.wait_for_service(timeout_sec=self.timeout_s):
            raise EnvServiceError(f"{client.srv_name} is not available")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self.timeout_s):
            client.remove_pending_request(future)
            raise EnvServiceError(f"{client.srv_name} did not answer in {self.timeout_s} s")
        response = future.result()
        if not response.success:
            raise EnvServiceError(f"{client.srv_name} refused the request: {response.message}")
        return response

    @staticmethod
    def _observations(msgs) -> list[EnvObservation]:
        return [EnvObservation(m.mission, tuple(m.descriptions), m.episode_start) for m in msgs]

    def reset(self) -> EnvReset:
        reply = self._call(
            self.reset_client,
            TextEnvReset.Request(level=self.level, variant=self.variant, num_envs=self.num_envs),
        )
        return EnvReset(
            observations=self._observations(reply.observations),
            action_space=list(reply.action_space),
            level=reply.level,
            variant=reply.variant,
            max_steps=list(reply.max_steps),
        )

    def step(self, action_ids: Sequence[int]) -> EnvStep:
        reply = self._call(
            self.step_client, TextEnvStep.Request(action_ids=[int(a) for a in action_ids])
        )
        return EnvStep(
            observations=self._observations(reply.observations),
            rewards=np.asarray(reply.rewards, dtype=np.float64),
            dones=np.asarray(reply.dones, dtype=bool),
            successes=np.asarray(reply.successes, dtype=bool),
        )

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state: dict) -> None:
        raise EnvServiceError("a remote environment batch cannot be restored; it is reset")

    def close(self) -> None:
        self.node.destroy_client(self.reset_client)
        self.node.destroy_client(self.step_client)


class GlamLearnerNode(Node):
    """Serves the train action; one training goal at a time."""

    def __init__(self) -> None:
        super().__init__("glam_learner")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        self.base_overrides = p["overrides"].split()
        # Fail at start-up, not at the first goal, on a bad file or override.
        load_config(p["config_file"] or None, self.base_overrides)
        self.busy = threading.Lock()
        self.services_group = ReentrantCallbackGroup()
        self.metrics_pub = self.create_publisher(Metrics, "~/metrics", 10)
        self.action_server = ActionServer(
            self,
            Train,
            "~/train",
            execute_callback=self.execute,
            goal_callback=self.on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.get_logger().info(
            f"ready: {self.get_fully_qualified_name()}/train, env {p['env_node']}"
        )

    def on_goal(self, goal: Train.Goal) -> GoalResponse:
        if self.busy.locked():
            self.get_logger().warning("rejected a train goal: already training")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _publish(self, handle, report: UpdateReport) -> None:
        feedback = Train.Feedback(
            update=report.update,
            env_steps=report.env_steps,
            success_rate=float(report.success_rate),
            mean_return=float(report.mean_return),
            metric_names=list(report.metrics),
            metric_values=[float(v) for v in report.metrics.values()],
        )
        handle.publish_feedback(feedback)
        msg = Metrics(
            step=report.env_steps,
            names=list(report.metrics),
            values=[float(v) for v in report.metrics.values()],
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self.metrics_pub.publish(msg)

    def _trainer(self, config, env: RosTextEnvClient) -> GlamTrainer:
        """Resume the run directory's latest checkpoint, or start a fresh run there."""
        run_dir = self.params["run_dir"]
        try:
            return GlamTrainer(config, run_dir, env=env, resume=True)
        except CheckpointError as error:
            if "nothing to resume" not in str(error):
                raise
        return GlamTrainer(config, run_dir, env=env)

    def execute(self, handle) -> Train.Result:
        goal: Train.Goal = handle.request
        result = Train.Result()
        with self.busy:
            env = None
            try:
                config = load_config(
                    self.params["config_file"] or None, [*self.base_overrides, *goal.overrides]
                )
                env = RosTextEnvClient(
                    self,
                    self.params["env_node"],
                    config.ppo.num_envs,
                    config.env.level,
                    config.env.variant,
                    self.get_parameter("service_timeout_s").value,
                    self.services_group,
                )
                trainer = self._trainer(config, env)
                outcome = trainer.train(
                    env_steps=int(goal.env_steps) or None,
                    on_update=lambda report: self._publish(handle, report),
                    should_stop=lambda: handle.is_cancel_requested,
                )
            except (ValueError, EnvServiceError, CheckpointError, OSError) as error:
                self.get_logger().error(f"training failed: {error}")
                handle.abort()
                result.message = f"training failed: {error}"
                return result
            finally:
                if env is not None:
                    env.close()
            result.checkpoint = str(outcome.checkpoint or "")
            result.env_steps = outcome.env_steps
            last = outcome.last_report
            result.success_rate = float(last.success_rate) if last is not None else 0.0
            result.message = outcome.message
            if handle.is_cancel_requested:
                handle.canceled()
                return result
            handle.succeed()
            result.success = True
            return result


def main(args: list[str] | None = None) -> int:
    # Service replies must be processed while a goal trains: several threads.
    return run_node(GlamLearnerNode, args, threads=3)


if __name__ == "__main__":
    raise SystemExit(main())

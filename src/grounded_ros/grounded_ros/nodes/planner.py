"""planner: the LLM planner of MISSION B3 as a ROS 2 node.

Turns an instruction ("stack the red object on the blue object") into sub-goals
written as captions of the captioner's caption set, with
``grounded_core.llm.Planner`` (model loaded once at start-up). Three interfaces:

- service ``make_plan`` (grounded_interfaces/MakePlan): one instruction, one plan;
- action ``plan_instruction`` (grounded_interfaces/PlanInstruction): the same, with
  feedback (stage and the sub-goals so far: the best plan scored so far, or the
  sub-goals chosen so far in greedy search) and cancel (checked between scoring
  batches / steps);
- topics: ``instruction`` (std_msgs/String) in, ``plan``
  (grounded_interfaces/SubGoalPlan) out.

A bad or empty instruction, or (free mode) generated text that is not a valid plan,
gets ``success: false`` and a message (the raw text included); on the topic it is
logged and nothing is published. The node keeps serving. Requests are planned one at
a time (the model is shared).

Parameters (read-only, see config/planner.yaml): model, adapter, prompt_file, caption_file,
mode (constrained/free), search (plan/greedy), scoring (direct/channel), length_norm,
calibration, symmetry (none/objects), length_prior (nats per sub-goal), device,
max_new_tokens, plans_per_batch.
"""

from __future__ import annotations

import os
import threading

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from grounded_core.llm.planner import Planner, PlanResult
from grounded_core.llm.planner_config import (
    CALIBRATIONS,
    LENGTH_NORMS,
    MODES,
    SCORINGS,
    SEARCHES,
    SYMMETRIES,
    PlannerConfig,
)
from grounded_core.llm.planner_errors import PlanCanceledError, PlannerError
from grounded_interfaces.action import PlanInstruction
from grounded_interfaces.msg import SubGoalPlan
from grounded_interfaces.srv import MakePlan
from grounded_ros.node_runtime import run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters

_DEFAULTS = PlannerConfig()

PARAMS = (
    Param(
        "model",
        _DEFAULTS.model,
        "Planning LLM: special name (smollm2-135m-instruct, tiny-llama...), model "
        "directory or Hugging Face id (e.g. google/flan-t5-large).",
        read_only=True,
    ),
    Param(
        "adapter",
        _DEFAULTS.adapter,
        "LoRA adapter directory tuned on `model` (grounded-plan-tune); empty = none.",
        read_only=True,
    ),
    Param(
        "prompt_file",
        "",
        "Few-shot prompt YAML (config/planner_prompt.yaml); empty = the shipped one.",
        read_only=True,
    ),
    Param(
        "caption_file",
        "",
        "Caption set YAML (config/captions.yaml); empty = the world's default captions.",
        read_only=True,
    ),
    Param(
        "mode", _DEFAULTS.mode, "constrained (always valid) or free.", choices=MODES, read_only=True
    ),
    Param(
        "search",
        _DEFAULTS.search,
        "Constrained mode: plan (score every plan) or greedy (sub-goal by sub-goal).",
        choices=SEARCHES,
        read_only=True,
    ),
    Param(
        "scoring",
        _DEFAULTS.scoring,
        "direct (log p(plan | instruction)) or channel (log p(instruction | plan)).",
        choices=SCORINGS,
        read_only=True,
    ),
    Param(
        "length_norm",
        _DEFAULTS.length_norm,
        "none (sum of log-probs) or mean (per token).",
        choices=LENGTH_NORMS,
        read_only=True,
    ),
    Param(
        "calibration",
        _DEFAULTS.calibration,
        "none or pmi (minus the plan's log-prob under the null instruction).",
        choices=CALIBRATIONS,
        read_only=True,
    ),
    Param(
        "symmetry",
        _DEFAULTS.symmetry,
        "none or objects (average scores over all renamings of the objects).",
        choices=SYMMETRIES,
        read_only=True,
    ),
    Param(
        "length_prior",
        float(_DEFAULTS.length_prior),
        "Nats taken off a plan's score per sub-goal (a prior for shorter plans).",
        min=0.0,
        max=100.0,
        read_only=True,
    ),
    Param("device", _DEFAULTS.device, "Torch device: cpu, cuda, cuda:1...", read_only=True),
    Param(
        "max_new_tokens",
        _DEFAULTS.max_new_tokens,
        "Free mode: generation budget in tokens.",
        min=1,
        max=4096,
        read_only=True,
    ),
    Param(
        "plans_per_batch",
        _DEFAULTS.plans_per_batch,
        "Constrained plan search: plans scored per forward (feedback/cancel between).",
        min=1,
        max=100_000,
        read_only=True,
    ),
    Param("torch_threads", 0, "torch intra-op threads (0 = torch's default).", min=0, max=256),
)


class PlannerNode(Node):
    """Serves the planner over a service, an action and a topic pair."""

    def __init__(self) -> None:
        super().__init__("planner")
        self.params = p = declare_parameters(self, PARAMS)
        if p["torch_threads"]:
            import torch

            torch.set_num_threads(p["torch_threads"])
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        config = PlannerConfig(**{k: v for k, v in p.items() if k != "torch_threads"})
        self.planner = Planner.load(config)
        self.lock = threading.Lock()
        group = ReentrantCallbackGroup()
        self.plan_pub = self.create_publisher(SubGoalPlan, "plan", 10)
        self.create_subscription(
            String, "instruction", self.on_instruction, 10, callback_group=group
        )
        self.create_service(MakePlan, "make_plan", self.on_make_plan, callback_group=group)
        self.action_server = ActionServer(
            self,
            PlanInstruction,
            "plan_instruction",
            execute_callback=self.execute,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.get_logger().info(
            f"ready: model {self.planner.model_name}, mode {config.mode}, "
            f"{len(self.planner.space.captions)} captions; service "
            f"{self.resolve_service_name('make_plan')}, action plan_instruction, "
            f"topics instruction -> plan"
        )

    # --- planning ----------------------------------------------------------------------

    def _plan(self, instruction: str, **callbacks) -> PlanResult:
        with self.lock:
            return self.planner.plan(instruction, **callbacks)

    def _plan_msg(self, result: PlanResult) -> SubGoalPlan:
        msg = SubGoalPlan(
            instruction=result.instruction,
            sub_goals=list(result.sub_goals),
            raw_output=result.raw_output,
            model=result.model,
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        return msg

    def on_make_plan(self, request: MakePlan.Request, response: MakePlan.Response):
        try:
            result = self._plan(request.instruction)
        except PlannerError as error:
            self.get_logger().warning(f"make_plan refused {request.instruction!r}: {error}")
            response.success = False
            response.message = str(error)
            return response
        response.success = True
        response.message = f"{len(result.sub_goals)} sub-goals"
        response.plan = self._plan_msg(result)
        return response

    @survive_bad_input
    def on_instruction(self, msg: String) -> None:
        result = self._plan(msg.data)  # a PlannerError (ValueError) is logged, node lives
        self.plan_pub.publish(self._plan_msg(result))

    def execute(self, handle) -> PlanInstruction.Result:
        goal: PlanInstruction.Goal = handle.request
        result = PlanInstruction.Result()

        def progress(stage: str, sub_goals: list[str]) -> None:
            handle.publish_feedback(PlanInstruction.Feedback(stage=stage, sub_goals=sub_goals))

        try:
            plan = self._plan(
                goal.instruction,
                on_progress=progress,
                should_stop=lambda: handle.is_cancel_requested,
            )
        except PlanCanceledError as error:
            handle.canceled()
            result.message = str(error)
            return result
        except PlannerError as error:
            self.get_logger().warning(f"plan_instruction refused {goal.instruction!r}: {error}")
            handle.abort()
            result.message = str(error)
            return result
        if handle.is_cancel_requested:
            handle.canceled()
            result.message = "planning was canceled"
            return result
        handle.succeed()
        result.success = True
        result.message = f"{len(plan.sub_goals)} sub-goals"
        result.plan = self._plan_msg(plan)
        return result


def main(args: list[str] | None = None) -> int:
    # Cancel requests and other requests are handled while a plan is being scored.
    return run_node(PlannerNode, args, threads=3)


if __name__ == "__main__":
    raise SystemExit(main())

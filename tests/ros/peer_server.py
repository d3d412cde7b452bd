"""A second node process for the cross-process graph test (tests/ros/test_graph_peers.py).

It serves the project's own interface types so the test can check that a
topic, a service and an action (feedback and cancel) work between two real
processes over DDS:
- topic: answers every ``arm_command`` (ArmCommand) with an ``arm_command_result``
  (ArmCommandResult) echoing its command_id;
- service ``make_plan`` (MakePlan): splits the instruction at " then ";
- action ``execute_task`` (ExecuteTask): one feedback per sub-goal every 0.2 s,
  cancellable.
"""

from __future__ import annotations

import time

import rclpy
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from grounded_interfaces.action import ExecuteTask
from grounded_interfaces.msg import ArmCommand, ArmCommandResult
from grounded_interfaces.srv import MakePlan


class PeerServer(Node):
    def __init__(self) -> None:
        super().__init__("peer_server")
        group = ReentrantCallbackGroup()
        self.results = self.create_publisher(ArmCommandResult, "arm_command_result", 10)
        self.create_subscription(ArmCommand, "arm_command", self.on_command, 10)
        self.create_service(MakePlan, "make_plan", self.on_plan)
        self.actions = ActionServer(
            self,
            ExecuteTask,
            "execute_task",
            execute_callback=self.execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda handle: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.get_logger().info("peer_server ready")

    def on_command(self, msg: ArmCommand) -> None:
        result = ArmCommandResult(command_id=msg.command_id, accepted=True)
        result.executed_primitive = msg.primitive
        result.message = f"target {msg.target.x:.3f} {msg.target.y:.3f}"
        self.results.publish(result)

    def on_plan(self, request: MakePlan.Request, response: MakePlan.Response):
        if not request.instruction.strip():
            response.success = False
            response.message = "empty instruction"
            return response
        response.success = True
        response.plan.instruction = request.instruction
        response.plan.sub_goals = [s.strip() for s in request.instruction.split(" then ")]
        return response

    def execute(self, handle):
        goal = handle.request
        result = ExecuteTask.Result(sub_goals=list(goal.sub_goals), failed_sub_goal=-1)
        for index, sub_goal in enumerate(goal.sub_goals):
            for _ in range(5):
                if handle.is_cancel_requested:
                    handle.canceled()
                    result.failed_sub_goal = index
                    result.message = f"canceled during sub-goal {index}"
                    return result
                feedback = ExecuteTask.Feedback(current_sub_goal=sub_goal, sub_goal_index=index)
                handle.publish_feedback(feedback)
                time.sleep(0.2)
        handle.succeed()
        result.success = True
        return result


def main() -> None:
    rclpy.init()
    node = PeerServer()
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()

"""Run a node the Jazzy way, and let a node end its own process with an exit code.

``run_node`` is the body of every node's ``main``: ``rclpy.init``, build the
node, spin, and on Ctrl-C / external shutdown destroy the node and
``rclpy.try_shutdown()`` (``with rclpy.init()`` only exists from Kilted on).
Errors while building the node (bad parameters, missing files) are logged as
one clear line and give exit code 2 instead of a traceback. Nodes whose callbacks
must run while another one is busy (an action that trains or plans while service
replies and cancel requests arrive) ask for ``threads`` > 1: a
``MultiThreadedExecutor`` then spins them.

Nodes that finish on their own (a benchmark monitor after its duration, a
client after its job) subclass ``StoppableNode`` and call ``stop(code)``.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.task import Future

EXIT_BAD_CONFIG = 2


class StoppableNode(Node):
    """A Node that can end its spin (and so its process) with an exit code."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.done = Future()

    def stop(self, exit_code: int = 0) -> None:
        """Finish spinning; run_node then returns exit_code."""
        if not self.done.done():
            self.done.set_result(exit_code)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Init rclpy, build the node with make_node(), spin it, shut down cleanly.

    threads > 1 spins the node with a MultiThreadedExecutor of that many threads
    (the node's callback groups decide what may run concurrently).
    Returns the process exit code: 0 after Ctrl-C or a clean stop, the code
    passed to StoppableNode.stop, or 2 when the node could not be built.
    """
    rclpy.init(args=args)
    try:
        node = make_node()
    except (ValueError, FileNotFoundError, KeyError, OSError) as error:
        # Configuration problems: one clear line, not a traceback.
        print(f"error: {error}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return EXIT_BAD_CONFIG
    exit_code = 0
    try:
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else None
        if isinstance(node, StoppableNode):
            rclpy.spin_until_future_complete(node, node.done, executor=executor)
            exit_code = int(node.done.result()) if node.done.done() else 0
        else:
            rclpy.spin(node, executor=executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # rclpy shuts the context down on SIGTERM while the executor may still
        # run a callback that publishes ("publisher's context is invalid").
        # That is a normal shutdown, not a crash; anything else is re-raised.
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return exit_code


def survive_bad_input(callback: Callable) -> Callable:
    """Decorate a node's callback method so bad input is logged, never fatal.

    A ValueError (the stack's "this message is malformed" signal, e.g. an
    ImageConversionError or a NaN in a command) is logged as one error line
    naming the callback; any other exception is logged with its traceback.
    Either way the node keeps running: one bad message must not take a
    robot's perception or control down.
    """

    @functools.wraps(callback)
    def guarded(self: Node, *args, **kwargs):
        try:
            return callback(self, *args, **kwargs)
        except ValueError as error:
            self.get_logger().error(f"{callback.__name__}: rejected input: {error}")
        except Exception:  # the point is to survive anything
            self.get_logger().error(f"{callback.__name__} failed:\n{traceback.format_exc()}")
        return None

    return guarded

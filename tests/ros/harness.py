"""Helpers for graph tests: run node processes, spin a client node, wait for things.

Node processes run in their own process group and are stopped with SIGINT
(then SIGKILL), so a failing test never leaves processes behind. The test's
own rclpy context is a real participant on the run's isolated DDS domain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


class NodeProcess:
    """A node (or any command) started as a separate process, output captured to a file."""

    def __init__(self, argv: list[str], log_path: Path, env: dict | None = None) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=REPO_ROOT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def send_signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT the process group, then SIGKILL after timeout; return the exit code."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._log.close()
        return self.proc.returncode


def node_command(executable: str, *ros_args: str) -> list[str]:
    """Command line of a project node installed in this venv."""
    path = VENV_BIN / executable
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run scripts/install.sh")
    return [str(path), "--ros-args", *ros_args] if ros_args else [str(path)]


def spin_until(
    executor: SingleThreadedExecutor, predicate: Callable[[], bool], timeout: float
) -> bool:
    """Spin executor until predicate() is true or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.05)
    return predicate()


class ClientNode:
    """The test process's own node, with an executor; use as a context manager."""

    def __init__(self, name: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        return spin_until(self.executor, predicate, timeout)

    def wait_future(self, future, timeout: float = 10.0):
        if not self.spin_until(future.done, timeout):
            raise TimeoutError("future not done in time")
        return future.result()

    def __enter__(self) -> ClientNode:
        return self

    def __exit__(self, *exc) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def descendants(pid: int) -> list[int]:
    """All descendant pids of pid (from /proc), for leftover-process checks."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found

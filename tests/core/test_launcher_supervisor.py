"""Supervision with real processes: output, respawn, required nodes, signals, escalation.

The "nodes" are one small Python script installed in a fake colcon prefix
(``lib/fakepkg/fake_node``), so the launcher resolves and runs them exactly
like real ROS nodes (with ``--ros-args ...`` appended, which the script
ignores). Each copy writes ``<name>.<pid>`` into a directory once it is set up,
so the tests know when it is ready and can check afterwards, by pid, that
nothing was left running.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from grounded_ros.launcher.evaluate import evaluate
from grounded_ros.launcher.supervisor import Supervisor

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")

PY = sys.executable

FAKE_NODE = """\
import os, signal, subprocess, sys, time

mode, piddir, name = sys.argv[1], sys.argv[2], sys.argv[3]


def ready():
    open(os.path.join(piddir, f"{name}.{os.getpid()}"), "w").close()


def on_signal(signum, frame):
    print(f"{name} got {signal.Signals(signum).name}", flush=True)
    sys.exit(0)


if mode == "print":  # say hello on stdout and stderr, exit with $CODE
    ready()
    print(f"hello from {name}", flush=True)
    print(f"oops from {name}", file=sys.stderr, flush=True)
    sys.exit(int(os.environ.get("CODE", "0")))
if mode == "exit":  # run $DELAY seconds, exit with $CODE
    ready()
    time.sleep(float(os.environ.get("DELAY", "0.3")))
    sys.exit(int(os.environ.get("CODE", "0")))
if mode == "sleep":  # run until SIGINT or SIGTERM, and say which
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
elif mode == "stubborn":  # ignore SIGINT and SIGTERM: only SIGKILL stops it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
elif mode == "parent":  # leave a stubborn grandchild behind when stopped
    subprocess.Popen(
        [sys.executable, __file__, "stubborn", piddir, "grandchild"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    signal.signal(signal.SIGINT, on_signal)
ready()
while True:
    time.sleep(0.05)
"""


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


class Setup:
    """A fake prefix with the fake node, a pid directory and a log directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = root / "install"
        index = self.prefix / "share" / "ament_index" / "resource_index" / "packages"
        index.mkdir(parents=True)
        (index / "fakepkg").write_text("")
        lib = self.prefix / "lib" / "fakepkg"
        lib.mkdir(parents=True)
        node = lib / "fake_node"
        node.write_text(f"#!{PY}\n{FAKE_NODE}")
        node.chmod(0o755)
        self.piddir = root / "pids"
        self.piddir.mkdir()
        self.log_dir = root / "log"
        self.env = {**os.environ, "AMENT_PREFIX_PATH": str(self.prefix)}

    def node(self, mode: str, name: str, extra: str = "") -> str:
        """One '- node:' entry running the fake node in ``mode``, labelled ``name``."""
        entry = (
            f"- node:\n"
            f"    pkg: fakepkg\n"
            f"    exec: fake_node\n"
            f"    exec_name: {name}\n"
            f"    name: {name}\n"
            f"    args: {mode} {self.piddir} {name}\n"
        )
        if extra:
            entry += textwrap.indent(textwrap.dedent(extra), "    ")
        return entry

    def launch_file(self, *entries: str) -> str:
        path = self.root / "test.launch.yaml"
        body = "".join(entries)
        path.write_text("launch:\n" + textwrap.indent(body, "  "))
        return str(path)

    def start(self, path: str, *arguments: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [PY, "-m", "grounded_ros.launcher", path, "--log-dir", str(self.log_dir), *arguments],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def pids(self, name: str) -> list[int]:
        return [int(p.name.rsplit(".", 1)[1]) for p in self.piddir.glob(f"{name}.*")]

    def wait_ready(self, *names: str) -> None:
        wait_for(lambda: all(self.pids(name) for name in names))


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def finish(launcher: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, str, str]:
    stdout, stderr = launcher.communicate(timeout=timeout)
    return launcher.returncode, stdout, stderr


def test_output_is_prefixed_and_log_output_goes_to_the_log_dir(setup):
    path = setup.launch_file(
        setup.node("print", "talker"),
        setup.node("print", "quiet", "output: log\n"),
    )
    code, stdout, stderr = finish(setup.start(path))
    assert code == 0, stdout + stderr
    assert "[talker-1] hello from talker\n" in stdout
    assert "[talker-1] oops from talker\n" in stderr
    assert "[INFO] [talker-1]: process started with pid" in stdout
    assert "[INFO] [talker-1]: process has finished cleanly" in stdout
    assert "hello from quiet" not in stdout and "oops from quiet" not in stderr
    log = (setup.log_dir / "quiet-1.log").read_text()
    assert "hello from quiet\n" in log and "oops from quiet\n" in log
    assert "cmd: " in (setup.log_dir / "launch.log").read_text()


def test_respawn_restarts_until_retries_are_used(setup):
    path = setup.launch_file(
        setup.node(
            "print",
            "again",
            "respawn: 'true'\nrespawn_delay: 0.1\nrespawn_max_retries: 2\n",
        )
    )
    code, stdout, stderr = finish(setup.start(path))
    assert code == 0, stdout + stderr
    assert stdout.count("[again-1] hello from again") == 3
    assert "[INFO] [again-1]: respawning (#2)" in stdout
    assert len(setup.pids("again")) == 3


def test_a_crash_fails_the_launch_without_stopping_the_others(setup):
    path = setup.launch_file(
        setup.node("print", "crasher", "env: [{name: CODE, value: '2'}]\n"),
        setup.node("exit", "worker", "env: [{name: DELAY, value: '0.5'}]\n"),
    )
    code, stdout, stderr = finish(setup.start(path))
    assert code == 1, stdout + stderr
    assert "[ERROR] [crasher-1]: process has died" in stdout and "exit code 2" in stdout
    assert "[INFO] [worker-1]: process has finished cleanly" in stdout
    assert "[ERROR] [launch]: failed: crasher-1" in stdout


@pytest.mark.parametrize(("exit_code", "launcher_code"), [(3, 1), (0, 0)])
def test_required_node_exit_stops_everything(setup, exit_code, launcher_code):
    path = setup.launch_file(
        setup.node("sleep", "sleeper"),
        setup.node(
            "exit",
            "driver",
            f"on_exit: shutdown\nenv: [{{name: CODE, value: '{exit_code}'}}]\n",
        ),
    )
    code, stdout, stderr = finish(setup.start(path))
    assert code == launcher_code, stdout + stderr
    assert "shutting down: required process driver-1 exited" in stdout
    assert "[sleeper-1] sleeper got SIGINT" in stdout
    assert not any(alive(pid) for pid in setup.pids("sleeper"))


def test_sigint_stops_and_reaps_every_child_and_grandchild(setup):
    path = setup.launch_file(
        setup.node("sleep", "first"),
        setup.node("sleep", "second"),
        setup.node("parent", "parent"),
    )
    launcher = setup.start(path)
    setup.wait_ready("first", "second", "parent", "grandchild")
    pids = [pid for name in ("first", "second", "parent", "grandchild") for pid in setup.pids(name)]
    assert all(alive(pid) for pid in pids)
    launcher.send_signal(signal.SIGINT)
    code, stdout, stderr = finish(launcher)
    assert code == 0, stdout + stderr
    assert "[first-1] first got SIGINT" in stdout and "[second-1] second got SIGINT" in stdout
    assert "[parent-1] parent got SIGINT" in stdout
    assert not any(alive(pid) for pid in pids)


def test_sigterm_is_forwarded_as_sigterm(setup):
    path = setup.launch_file(setup.node("sleep", "sleeper"))
    launcher = setup.start(path)
    setup.wait_ready("sleeper")
    launcher.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(launcher)
    assert code == 0, stdout + stderr
    assert "[sleeper-1] sleeper got SIGTERM" in stdout
    assert not any(alive(pid) for pid in setup.pids("sleeper"))


def test_a_child_ignoring_sigint_and_sigterm_is_killed_by_escalation(setup):
    path = setup.launch_file(setup.node("stubborn", "stubborn"), setup.node("sleep", "polite"))
    launcher = setup.start(path, "sigterm_timeout:=0.3", "sigkill_timeout:=0.3")
    setup.wait_ready("stubborn", "polite")
    started = time.monotonic()
    launcher.send_signal(signal.SIGINT)
    code, stdout, stderr = finish(launcher)
    elapsed = time.monotonic() - started
    assert code == 0, stdout + stderr
    assert "[WARNING] [stubborn-1]: still running, sending SIGTERM" in stdout
    assert "[WARNING] [stubborn-1]: still running, sending SIGKILL" in stdout
    assert "exit code -9" in stdout
    assert "[polite-1] polite got SIGINT" in stdout
    assert elapsed < 5.0
    assert not any(alive(pid) for pid in setup.pids("stubborn") + setup.pids("polite"))


def test_supervisor_in_process_with_request_shutdown(setup, monkeypatch):
    path = setup.launch_file(setup.node("sleep", "sleeper"))
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(setup.prefix))
    plan = evaluate(path, {}, params_dir=str(setup.log_dir / "params"))
    out, err = io.StringIO(), io.StringIO()
    supervisor = Supervisor(
        plan.processes, log_dir=str(setup.log_dir), stdout=out, stderr=err, handle_signals=False
    )
    threading.Thread(
        target=lambda: (setup.wait_ready("sleeper"), supervisor.request_shutdown()), daemon=True
    ).start()
    assert supervisor.run() == 0
    assert "[sleeper-1] sleeper got SIGINT" in out.getvalue()
    assert not any(alive(pid) for pid in setup.pids("sleeper"))


def test_a_process_that_cannot_start_counts_as_a_crash(setup):
    broken = setup.prefix / "lib" / "fakepkg" / "broken"
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    path = setup.launch_file("- node: {pkg: fakepkg, exec: broken}\n", setup.node("print", "ok"))
    code, stdout, stderr = finish(setup.start(path))
    assert code == 1, stdout + stderr
    assert "[ERROR] [broken-1]: failed to start:" in stdout
    assert "[ok-1] hello from ok" in stdout

"""Run the processes of a launch plan: output, respawn, shutdown, reaping.

Behaviour (modelled on ``ros2 launch``):

* every process starts in its own session and process group, so signals are
  sent to the whole group (a shell and what it started, a ``launch-prefix``
  wrapper and its child) and a Ctrl-C in the terminal reaches only the
  launcher, which then forwards it; on Linux each child also gets SIGTERM if
  the launcher itself dies without cleaning up;
* output lines are prefixed with the process label (``[talker-1] ...``): stdout
  to stdout, stderr to stderr (``output: screen``), to ``<log-dir>/<label>.log``
  (``output: log``) or to both (``output: both``);
* shutdown (a signal to the launcher, or the exit of a process with
  ``on_exit: shutdown``) sends SIGINT (SIGTERM if that is what the launcher
  got) to every process group, SIGTERM after ``sigterm_timeout`` seconds and
  SIGKILL ``sigkill_timeout`` seconds later; a second signal to the launcher
  escalates at once;
* ``respawn`` restarts a process after ``respawn_delay`` seconds whenever it
  exits, except during shutdown, at most ``respawn_max_retries`` times;
* the launcher returns when no process runs and none is waiting to respawn.
  Every child is reaped, and what is left in their process groups is killed.

Exit code (see :meth:`Supervisor.run`): 0 when everything ended cleanly or was
stopped on request, 1 when a process crashed (non-zero exit while not
shutting down, without a respawn to come) or a required process failed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from .evaluate import ProcessSpec

EXIT_OK = 0
EXIT_FAILURE = 1

_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
_READER_JOIN_TIMEOUT = 1.0


def _child_setup_function() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child if the launcher dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return setup


class _Output:
    """Writes process lines and launcher messages; safe to call from reader threads."""

    def __init__(self, stdout: IO[str], stderr: IO[str], launch_log: IO[str] | None) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.launch_log = launch_log
        self.lock = threading.Lock()

    def _write(self, stream: IO[str] | None, text: str) -> None:
        if stream is None:
            return
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed terminal or pipe must not stop the supervision

    def line(
        self, label: str, raw: bytes, to_stderr: bool, screen: bool, log: IO[str] | None
    ) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        with self.lock:
            if screen:
                self._write(self.stderr if to_stderr else self.stdout, f"[{label}] {text}\n")
            self._write(log, text + "\n")

    def message(self, level: str, source: str, text: str, *, screen: bool = True) -> None:
        line = f"[{level}] [{source}]: {text}\n"
        with self.lock:
            if screen:
                self._write(self.stdout, line)
            self._write(self.launch_log, f"{time.time():.3f} {line}")


class _Process:
    """Runtime state of one ProcessSpec across its (re)starts."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self.popen: subprocess.Popen[bytes] | None = None
        self.respawns = 0
        self.respawn_at: float | None = None
        self.stage = 0  # 0 running, 1 SIGINT sent, 2 SIGTERM sent, 3 SIGKILL sent
        self.stage_since = 0.0
        self.readers: list[threading.Thread] = []
        self.log: IO[str] | None = None
        self.process_groups: list[int] = []


class Supervisor:
    """Starts the processes of a plan and supervises them until all are done."""

    def __init__(
        self,
        processes: list[ProcessSpec],
        *,
        log_dir: str,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        handle_signals: bool = True,
        poll_interval: float = 0.05,
    ) -> None:
        self.processes = [_Process(spec) for spec in processes]
        self.log_dir = log_dir
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.handle_signals = handle_signals
        self.poll_interval = poll_interval
        self.shutting_down = False
        self.crashed: list[str] = []
        self.required_failed = False
        self._signals: list[int] = []
        self._child_setup = _child_setup_function()
        self._output: _Output | None = None

    @property
    def output(self) -> _Output:
        if self._output is None:
            raise RuntimeError("Supervisor.output used before run()")
        return self._output

    # -- public ------------------------------------------------------------------

    def request_shutdown(self, signum: int = signal.SIGINT) -> None:
        """Ask for a shutdown as if the launcher had received ``signum``.

        Only appends to a list, so it is safe from a signal handler or a thread.
        """
        self._signals.append(signum)

    def run(self) -> int:
        """Start everything, supervise until done; return the launcher's exit code."""
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, "launch.log"), "a", encoding="utf-8") as launch_log:
            self._output = _Output(self.stdout, self.stderr, launch_log)
            previous = self._install_signal_handlers()
            try:
                self.output.message("INFO", "launch", f"log files are in {self.log_dir}")
                for process in self.processes:
                    self._drain_signals()
                    if self.shutting_down:
                        break
                    self._start(process)
                self._loop()
            finally:
                self._cleanup()
                self._restore_signal_handlers(previous)
            return self._exit_code()

    # -- signals ---------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, object]:
        previous: dict[int, object] = {}
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return previous
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _restore_signal_handlers(self, previous: dict[int, object]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.request_shutdown(signum)

    def _drain_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            # SIGINT is forwarded as SIGINT (rclpy shuts down cleanly on it);
            # SIGTERM and SIGHUP as SIGTERM.
            forward = signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM
            self._begin_shutdown(f"{signal.Signals(signum).name} received", forward)

    # -- starting and exits ------------------------------------------------------

    def _start(self, process: _Process) -> None:
        spec = process.spec
        env = dict(spec.env)
        # Python nodes block-buffer a piped stdout; unbuffered keeps lines in order.
        env.setdefault("PYTHONUNBUFFERED", "1")
        command_line = " ".join(spec.cmd) if spec.shell else shlex.join(spec.cmd)
        self.output.message("INFO", spec.label, f"cmd: {command_line}", screen=False)
        try:
            self._prepare_files(process)
            popen = subprocess.Popen(
                command_line if spec.shell else spec.cmd,
                shell=spec.shell,
                env=env,
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=self._child_setup,  # only a prctl() call: safe with threads
            )
        except OSError as exc:
            self.output.message("ERROR", spec.label, f"failed to start: {exc}")
            self._on_exit(process, 127, pid=None)
            return
        process.popen = popen
        process.stage = 0
        process.process_groups.append(popen.pid)
        screen = spec.output in ("screen", "both")
        process.readers = [
            threading.Thread(
                target=self._pump,
                args=(stream, spec.label, to_stderr, screen, process.log),
                name=f"{spec.label}-{'stderr' if to_stderr else 'stdout'}",
                daemon=True,
            )
            for stream, to_stderr in ((popen.stdout, False), (popen.stderr, True))
        ]
        for reader in process.readers:
            reader.start()
        self.output.message("INFO", spec.label, f"process started with pid [{popen.pid}]")

    def _prepare_files(self, process: _Process) -> None:
        """Write the inline parameter files and open the process log if needed."""
        spec = process.spec
        for params_file in spec.params_files:
            os.makedirs(os.path.dirname(params_file.path), exist_ok=True)
            with open(params_file.path, "w", encoding="utf-8") as handle:
                handle.write(params_file.content)
        if spec.output in ("log", "both") and process.log is None:
            path = os.path.join(self.log_dir, f"{_safe(spec.label)}.log")
            process.log = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept across respawns

    def _pump(
        self, stream: IO[bytes], label: str, to_stderr: bool, screen: bool, log: IO[str] | None
    ) -> None:
        try:
            for raw in iter(stream.readline, b""):
                self.output.line(label, raw, to_stderr, screen, log)
        except (OSError, ValueError):
            pass
        finally:
            stream.close()

    def _on_exit(self, process: _Process, returncode: int, pid: int | None) -> None:
        spec = process.spec
        process.popen = None
        for reader in process.readers:  # print the last lines before the exit message
            reader.join(_READER_JOIN_TIMEOUT)
        process.readers = []
        if returncode == 0:
            self.output.message("INFO", spec.label, f"process has finished cleanly [pid {pid}]")
        else:
            where = f"pid {pid}, " if pid is not None else ""
            self.output.message(
                "ERROR",
                spec.label,
                f"process has died [{where}exit code {returncode}, cmd '{shlex.join(spec.cmd)}']",
            )
        if self.shutting_down:
            return  # exit codes during shutdown are the answer to our signals
        if spec.required:
            if returncode != 0:
                self.required_failed = True
            self._begin_shutdown(
                f"required process {spec.label} exited with code {returncode}", signal.SIGINT
            )
            return
        if spec.respawn and (
            spec.respawn_max_retries < 0 or process.respawns < spec.respawn_max_retries
        ):
            process.respawn_at = time.monotonic() + spec.respawn_delay
            return
        if returncode != 0:
            self.crashed.append(spec.label)

    # -- the loop ----------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._drain_signals()
            for process in self.processes:
                if process.popen is not None:
                    returncode = process.popen.poll()
                    if returncode is not None:
                        self._on_exit(process, returncode, process.popen.pid)
            now = time.monotonic()
            if self.shutting_down:
                self._escalate(now)
            else:
                for process in self.processes:
                    if process.respawn_at is not None and now >= process.respawn_at:
                        process.respawn_at = None
                        process.respawns += 1
                        self.output.message(
                            "INFO", process.spec.label, f"respawning (#{process.respawns})"
                        )
                        self._start(process)
            if not any(p.popen is not None or p.respawn_at is not None for p in self.processes):
                return
            time.sleep(self.poll_interval)

    def _begin_shutdown(self, reason: str, signum: int) -> None:
        now = time.monotonic()
        if self.shutting_down:
            # Asked again (a second Ctrl-C): do not wait for the timeouts.
            self.output.message("WARNING", "launch", f"{reason} again: escalating")
            for process in self.processes:
                if process.popen is not None:
                    self._advance(process, now)
            return
        self.shutting_down = True
        self.output.message("INFO", "launch", f"shutting down: {reason}")
        for process in self.processes:
            process.respawn_at = None
            if process.popen is not None:
                self._signal(process, signum)
                process.stage = 1 if signum == signal.SIGINT else 2
                process.stage_since = now

    def _advance(self, process: _Process, now: float) -> None:
        """Send the next, stronger signal: SIGTERM after SIGINT, then SIGKILL."""
        if process.stage >= 3:
            return
        process.stage = max(process.stage, 1) + 1
        process.stage_since = now
        signum = signal.SIGTERM if process.stage == 2 else signal.SIGKILL
        self.output.message(
            "WARNING", process.spec.label, f"still running, sending {signal.Signals(signum).name}"
        )
        self._signal(process, signum)

    def _escalate(self, now: float) -> None:
        for process in self.processes:
            if process.popen is None:
                continue
            spec = process.spec
            waited = now - process.stage_since
            if (process.stage == 1 and waited >= spec.sigterm_timeout) or (
                process.stage == 2 and waited >= spec.sigkill_timeout
            ):
                self._advance(process, now)

    def _signal(self, process: _Process, signum: int) -> None:
        popen = process.popen
        if popen is None:
            return
        try:
            os.killpg(popen.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            popen.send_signal(signum)

    # -- the end -----------------------------------------------------------------

    def _cleanup(self) -> None:
        """Reap every child and kill whatever is left in their process groups."""
        for process in self.processes:
            if process.popen is not None:  # only on an unexpected exception
                self._signal(process, signal.SIGKILL)
                process.popen.wait()
                process.popen = None
        for process in self.processes:
            for group in process.process_groups:
                # The kernel does not reuse a process-group id while any member
                # is alive, so this only reaches leftovers of our own children.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
            for reader in process.readers:
                reader.join(_READER_JOIN_TIMEOUT)
            if process.log is not None:
                process.log.close()
                process.log = None

    def _exit_code(self) -> int:
        if self.required_failed or self.crashed:
            failed = ", ".join(self.crashed) or "a required process"
            self.output.message("ERROR", "launch", f"failed: {failed}")
            return EXIT_FAILURE
        return EXIT_OK


def _safe(label: str) -> str:
    return "".join(char if char.isalnum() or char in "._-" else "_" for char in label)

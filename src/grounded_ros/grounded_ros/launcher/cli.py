"""``grounded-launch``: run a ROS 2 YAML launch file without ``ros2 launch``.

Usage::

    grounded-launch launch/X.launch.yaml [name:=value ...] [--dry-run] [--log-dir DIR]
    grounded-launch launch/X.launch.yaml --show-args

Exit codes:

* 0: every process ended cleanly, or the launch was stopped on request
  (Ctrl-C / SIGTERM), or a required process (``on_exit: shutdown``) exited
  with status 0;
* 1: a process crashed (non-zero exit, not during shutdown, no respawn left)
  or a required process exited with a non-zero status;
* 2: the launch could not start: bad command line, launch file error (with
  file:line), missing or unknown launch argument, executable not found;
* 130: interrupted before supervision started (while evaluating the file).
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import sys
from datetime import datetime

from .errors import LaunchError
from .evaluate import LaunchPlan, evaluate
from .parser import parse_launch_file
from .substitutions import to_source
from .supervisor import Supervisor

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def default_log_dir() -> str:
    """A fresh run directory under ROS's log directory, named like ros2 launch's."""
    base = os.environ.get("ROS_LOG_DIR")
    if not base:
        ros_home = os.environ.get("ROS_HOME") or os.path.join(os.path.expanduser("~"), ".ros")
        base = os.path.join(ros_home, "log")
    stamp = datetime.now().strftime("%Y-%m-%d-%H-%M-%S-%f")
    return os.path.join(base, f"{stamp}-{socket.gethostname()}-{os.getpid()}")


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """``["a:=1", "b:=x"]`` to ``{"a": "1", "b": "x"}``; ValueError on bad items."""
    result: dict[str, str] = {}
    for item in items:
        name, separator, value = item.partition(":=")
        if not separator or not name:
            raise ValueError(f"launch arguments are written name:=value, got {item!r}")
        result[name] = value
    return result


def format_plan(plan: LaunchPlan) -> str:
    """The ``--dry-run`` report: each process's command line, environment, cwd."""
    lines = [f"# grounded-launch {plan.file}: {len(plan.processes)} process(es)"]
    if plan.arguments:
        lines.append("# launch arguments:")
        lines.extend(f"#   {name}:={value}" for name, value in plan.arguments.items())
    for spec in plan.processes:
        lines.append("")
        lines.append(f"[{spec.label}] {spec.kind} {spec.what} ({spec.location})")
        command = " ".join(spec.cmd) if spec.shell else shlex.join(spec.cmd)
        lines.append(f"  cmd: {command}" + ("  (through the shell)" if spec.shell else ""))
        if spec.cwd is not None:
            lines.append(f"  cwd: {spec.cwd}")
        for name, value in sorted(spec.env_changes.items()):
            if value is None:
                lines.append(f"  env: unset {name}")
            else:
                lines.append(f"  env: {name}={value}")
        flags = [f"output: {spec.output}"]
        if spec.respawn:
            retries = "" if spec.respawn_max_retries < 0 else f", max {spec.respawn_max_retries}"
            flags.append(f"respawn: after {spec.respawn_delay:g}s{retries}")
        if spec.required:
            flags.append("on_exit: shutdown")
        lines.append("  " + ", ".join(flags))
        for params_file in spec.params_files:
            lines.append(f"  params file {params_file.path}:")
            lines.extend("    " + line for line in params_file.content.splitlines())
    return "\n".join(lines) + "\n"


def format_arguments(path: str) -> str:
    """The ``--show-args`` report for the arguments declared in ``path`` itself."""
    launch_file = parse_launch_file(path)
    if not launch_file.declared_args:
        return "No arguments.\n"
    lines = ["Arguments (pass arguments as '<name>:=<value>'):"]
    for arg in launch_file.declared_args:
        lines.append(f"    '{arg.name}':")
        lines.append(f"        {arg.description or 'no description given'}")
        if arg.choices:
            lines.append(f"        (choices: {', '.join(arg.choices)})")
        if arg.default is None:
            lines.append("        (required)")
        else:
            lines.append(f"        (default: '{to_source(arg.default)}')")
    return "\n".join(lines) + "\n"


def _argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grounded-launch",
        description="Run a ROS 2 YAML launch file (the subset described in"
        " grounded_ros/launcher/README.md) and supervise its processes.",
        epilog="exit codes: 0 clean or stopped on request, 1 a process crashed or a"
        " required process failed, 2 the launch could not start",
    )
    parser.add_argument("launch_file", help="path of a .launch.yaml file")
    parser.add_argument("arguments", nargs="*", metavar="name:=value", help="launch arguments")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved command lines, environment changes and cwd; start nothing",
    )
    parser.add_argument(
        "--log-dir",
        help="directory for launch.log, process logs and parameter files"
        " (default: a new directory under $ROS_LOG_DIR or ~/.ros/log)",
    )
    parser.add_argument(
        "-s", "--show-args", action="store_true", help="list the file's launch arguments"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``grounded-launch`` console script; returns the exit code."""
    parser = _argument_parser()
    try:
        options = parser.parse_intermixed_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        arguments = parse_launch_arguments(options.arguments)
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"grounded-launch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log_dir = os.path.abspath(options.log_dir) if options.log_dir else default_log_dir()
    try:
        if options.show_args:
            sys.stdout.write(format_arguments(options.launch_file))
            return 0
        plan = evaluate(options.launch_file, arguments, params_dir=os.path.join(log_dir, "params"))
    except LaunchError as exc:
        print(f"grounded-launch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if options.dry_run:
        sys.stdout.write(format_plan(plan))
        return 0
    try:
        return Supervisor(plan.processes, log_dir=log_dir).run()
    except KeyboardInterrupt:  # before the supervisor took over SIGINT; it cleaned up
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

"""Evaluate a parsed launch file into the list of processes to start.

This plays the part of ``ros2 launch``'s execution of actions, in file order,
with the same scoping rules:

* launch configurations (arguments, ``let``) and the environment
  (``set_env``/``unset_env``) live in a scope; a ``group`` is scoped unless
  ``scoped: false``, an ``include`` is *not* scoped (what it sets stays visible
  after it, exactly as in ros2 launch);
* the ROS namespace pushed by ``push-ros-namespace`` is the launch
  configuration ``ros_namespace``, so it is scoped by groups as well;
* an ``arg`` keeps a value already set (command line, include ``arg``) and
  otherwise takes its default; without a default it is an error.

Unlike ros2 launch, everything is evaluated (and every executable found)
before the first process starts, so a typo fails the launch instead of leaving
half of it running.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .description import (
    Arg,
    Entity,
    Executable,
    Group,
    Include,
    InlineParam,
    LaunchFile,
    Let,
    Location,
    Node,
    ParamFile,
    ProcessOptions,
    PushRosNamespace,
    SetEnv,
    UnsetEnv,
)
from .errors import LaunchError, LaunchFileError
from .names import namespace_problem, node_name_problem, prefix_namespace, truth
from .params import ParamError, flatten_params, params_file_content
from .parser import parse_launch_file
from .resolve import find_package_prefix, resolve_command, resolve_node_executable
from .substitutions import Context, Text, perform

# Launch configurations ros2 launch reads without an 'arg' declaring them, so
# they may be given on the command line: escalation timeouts and a prefix
# (e.g. 'launch-prefix:=valgrind') for every process.
RESERVED_CONFIGURATIONS = ("sigterm_timeout", "sigkill_timeout", "launch-prefix")
DEFAULT_SIGTERM_TIMEOUT = 5.0
DEFAULT_SIGKILL_TIMEOUT = 5.0
OUTPUT_MODES = ("screen", "log", "both")
MAX_INCLUDE_DEPTH = 32


@dataclass
class ParamsFile:
    """An inline-parameters file to write before the process starts."""

    path: str
    content: str


@dataclass
class ProcessSpec:
    """Everything needed to start (and restart) one process."""

    label: str  # "talker-1": the output prefix, as ros2 launch prints it
    kind: str  # "node" or "executable"
    what: str  # "pkg/exec" for a node, the program for an executable
    location: Location
    cmd: list[str]
    env: dict[str, str]
    env_changes: dict[str, str | None]  # relative to the launcher's environment
    cwd: str | None = None
    shell: bool = False
    output: str = "screen"
    respawn: bool = False
    respawn_delay: float = 0.0
    respawn_max_retries: int = -1  # negative: unlimited, as in ros2 launch
    required: bool = False  # on_exit: shutdown
    sigterm_timeout: float = DEFAULT_SIGTERM_TIMEOUT
    sigkill_timeout: float = DEFAULT_SIGKILL_TIMEOUT
    params_files: list[ParamsFile] = field(default_factory=list)


@dataclass
class LaunchPlan:
    """The result of evaluation: processes in start order and the arguments used."""

    file: str
    processes: list[ProcessSpec]
    arguments: dict[str, str]


@dataclass
class _Scope:
    configurations: dict[str, str]
    environment: dict[str, str]

    def copy(self) -> _Scope:
        return _Scope(dict(self.configurations), dict(self.environment))


def _file_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)


def _required_args(entities: list[Entity]) -> Iterator[Arg]:
    """Unconditional args without default, as ros2 launch checks them on include."""
    for entity in entities:
        if entity.condition is not None:
            continue
        if isinstance(entity, Arg) and entity.default is None:
            yield entity
        elif isinstance(entity, Group):
            yield from _required_args(entity.children)


class _Evaluator:
    def __init__(
        self, arguments: Mapping[str, str], params_dir: str, environment: Mapping[str, str]
    ) -> None:
        self.arguments = dict(arguments)
        self.params_dir = params_dir
        self.base_env = dict(environment)
        self.processes: list[ProcessSpec] = []
        self.label_counts: dict[str, int] = {}
        self.files: dict[str, LaunchFile] = {}
        self.arg_values: dict[str, str] = {}
        self.include_stack: list[str] = []

    # -- helpers ---------------------------------------------------------------

    def package_prefix(self, package: str) -> str:
        return find_package_prefix(package, self.base_env)

    def perform(self, text: Text, scope: _Scope, location: Location) -> str:
        context = Context(
            scope.configurations, scope.environment, location.path, self.package_prefix
        )
        try:
            return perform(text, context)
        except LaunchFileError:
            raise
        except LaunchError as exc:
            raise LaunchFileError(str(exc), location.file, location.line) from None

    def fail(self, message: str, location: Location) -> LaunchFileError:
        return LaunchFileError(message, location.file, location.line)

    def truth(self, text: Text, scope: _Scope, location: Location, what: str) -> bool:
        value = self.perform(text, scope, location)
        result = truth(value)
        if result is None:
            raise self.fail(f"{what} must be true, false, 1 or 0; got {value!r}", location)
        return result

    def applies(self, entity: Entity, scope: _Scope) -> bool:
        condition = entity.condition
        if condition is None:
            return True
        if condition.if_ is not None and not self.truth(
            condition.if_, scope, entity.location, "'if'"
        ):
            return False
        return not (
            condition.unless is not None
            and self.truth(condition.unless, scope, entity.location, "'unless'")
        )

    def load(self, path: str, display: str) -> LaunchFile:
        absolute = os.path.abspath(path)
        if absolute not in self.files:
            self.files[absolute] = parse_launch_file(absolute, display)
        return self.files[absolute]

    # -- walking ---------------------------------------------------------------

    def run(self, path: str) -> LaunchPlan:
        top = self.load(path, path)
        scope = _Scope(dict(self.arguments), dict(self.base_env))
        self.include_stack.append(top.path)
        self.visit(top.entities, scope)
        declared = {arg.name for file in self.files.values() for arg in file.declared_args}
        unknown = [
            name
            for name in self.arguments
            if name not in declared and name not in RESERVED_CONFIGURATIONS
        ]
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise LaunchError(
                f"unknown launch argument(s) {', '.join(unknown)} for {path}"
                f" (declared arguments: {known})"
            )
        return LaunchPlan(path, self.processes, self.arg_values)

    def visit(self, entities: list[Entity], scope: _Scope) -> None:
        for entity in entities:
            if not self.applies(entity, scope):
                continue
            if isinstance(entity, Arg):
                self.arg(entity, scope)
            elif isinstance(entity, Let):
                name = self.perform(entity.name, scope, entity.location)
                scope.configurations[name] = self.perform(entity.value, scope, entity.location)
            elif isinstance(entity, SetEnv):
                name = self.perform(entity.name, scope, entity.location)
                scope.environment[name] = self.perform(entity.value, scope, entity.location)
            elif isinstance(entity, UnsetEnv):
                scope.environment.pop(self.perform(entity.name, scope, entity.location), None)
            elif isinstance(entity, PushRosNamespace):
                self.push_namespace(entity, scope)
            elif isinstance(entity, Group):
                self.group(entity, scope)
            elif isinstance(entity, Include):
                self.include(entity, scope)
            elif isinstance(entity, Node):
                self.node(entity, scope)
            else:
                self.executable(entity, scope)

    def arg(self, arg: Arg, scope: _Scope) -> None:
        if arg.name not in scope.configurations:
            if arg.default is None:
                about = f" ({arg.description})" if arg.description else ""
                raise self.fail(
                    f"required launch argument '{arg.name}'{about} was not provided;"
                    f" pass {arg.name}:=VALUE",
                    arg.location,
                )
            scope.configurations[arg.name] = self.perform(arg.default, scope, arg.location)
        value = scope.configurations[arg.name]
        if arg.choices is not None and value not in arg.choices:
            raise self.fail(
                f"launch argument '{arg.name}' is {value!r}, which is not one of {arg.choices}",
                arg.location,
            )
        self.arg_values.setdefault(arg.name, value)

    def push_namespace(self, push: PushRosNamespace, scope: _Scope) -> None:
        pushed = self.perform(push.namespace, scope, push.location)
        previous = scope.configurations.get("ros_namespace")
        namespace = prefix_namespace(previous, pushed)
        problem = namespace_problem(namespace or "/")
        if problem is not None:
            raise self.fail(f"invalid ROS namespace {namespace!r}: {problem}", push.location)
        scope.configurations["ros_namespace"] = namespace or "/"

    def group(self, group: Group, scope: _Scope) -> None:
        if not group.scoped:
            inner = scope
        elif group.forwarding:
            inner = scope.copy()
        else:
            # Evaluated before the scope is cleared, like ros2 launch's 'keep'.
            kept = {
                self.perform(name, scope, group.location): self.perform(
                    value, scope, group.location
                )
                for name, value in group.keep
            }
            inner = _Scope(kept, dict(self.base_env))
        if group.forwarding or not group.scoped:
            for name, value in group.keep:
                key = self.perform(name, inner, group.location)
                inner.configurations[key] = self.perform(value, inner, group.location)
        self.visit(group.children, inner)

    def include(self, include: Include, scope: _Scope) -> None:
        path = self.perform(include.file, scope, include.location)
        if path.endswith((".py", ".xml")):
            raise self.fail(
                f"cannot include {path!r}: grounded-launch runs YAML launch files only",
                include.location,
            )
        absolute = os.path.abspath(path)
        if not os.path.isfile(absolute):
            raise self.fail(f"included launch file not found: {path}", include.location)
        if absolute in self.include_stack:
            raise self.fail(f"launch file includes itself (cycle through {path})", include.location)
        if len(self.include_stack) >= MAX_INCLUDE_DEPTH:
            raise self.fail("includes are nested too deeply", include.location)
        relative = os.path.relpath(absolute)
        display = relative if not relative.startswith("..") else absolute
        launch_file = self.load(absolute, display)
        names = []
        for name_text, value_text in include.args:
            name = self.perform(name_text, scope, include.location)
            scope.configurations[name] = self.perform(value_text, scope, include.location)
            names.append(name)
        for required in _required_args(launch_file.entities):
            if required.name not in names:
                raise self.fail(
                    f"included {display} needs the argument '{required.name}'"
                    f" (declared at {required.location}); add it to the include's 'arg' list",
                    include.location,
                )
        self.include_stack.append(absolute)
        try:
            self.visit(launch_file.entities, scope)
        finally:
            self.include_stack.pop()

    # -- processes ---------------------------------------------------------------

    def label(self, options: ProcessOptions, default: str, scope: _Scope, loc: Location) -> str:
        base = self.perform(options.label, scope, loc) if options.label is not None else default
        count = self.label_counts.get(base, 0) + 1
        self.label_counts[base] = count
        return f"{base}-{count}"

    def node(self, node: Node, scope: _Scope) -> None:
        loc = node.location
        executable = self.perform(node.executable, scope, loc)
        if node.package is not None:
            package = self.perform(node.package, scope, loc)
            try:
                cmd = resolve_node_executable(package, executable, self.base_env)
            except LaunchError as exc:
                raise self.fail(str(exc), loc) from None
            what = f"{package}/{executable}"
        else:
            cmd = [executable]
            what = executable
        cmd += [self.perform(arg, scope, loc) for arg in node.args]
        if node.ros_args is not None:
            cmd += ["--ros-args", *(self.perform(arg, scope, loc) for arg in node.ros_args)]
        cmd.append("--ros-args")
        name = None
        if node.name is not None:
            name = self.perform(node.name, scope, loc)
            problem = node_name_problem(name)
            if problem is not None:
                raise self.fail(f"invalid node name {name!r}: {problem}", loc)
            cmd += ["-r", f"__node:={name}"]
        own_namespace = (
            self.perform(node.namespace, scope, loc) if node.namespace is not None else None
        )
        namespace = prefix_namespace(scope.configurations.get("ros_namespace"), own_namespace)
        if namespace is not None:
            problem = namespace_problem(namespace)
            if problem is not None:
                raise self.fail(f"invalid ROS namespace {namespace!r}: {problem}", loc)
            cmd += ["-r", f"__ns:={namespace}"]
        label = self.label(node.options, os.path.basename(executable), scope, loc)
        # ros2 launch keys inline parameters by the full node name when it is
        # known, so they win over '/**' entries of parameter files.
        if name is not None and namespace is not None:
            params_key = prefix_namespace(namespace, name) or "/**"
        else:
            params_key = "/**"
        params_args, params_files = self.node_params(node, label, params_key, scope)
        cmd += params_args
        for source, target in node.remaps:
            cmd += [
                "-r",
                f"{self.perform(source, scope, loc)}:={self.perform(target, scope, loc)}",
            ]
        self.add_process("node", what, label, cmd, node.options, scope, loc, params_files)

    def node_params(
        self, node: Node, label: str, params_key: str, scope: _Scope
    ) -> tuple[list[str], list[ParamsFile]]:
        """``--params-file`` arguments in declaration order, and the inline files to write.

        Consecutive inline parameters share one file, written under
        ``params_key``; a ``from`` file keeps its place between them so that
        later definitions still win, as with ros2 launch.
        """
        loc = node.location
        args: list[str] = []
        files: list[ParamsFile] = []
        pending: list[InlineParam] = []

        def perform_at(text: Text, line: int) -> str:
            return self.perform(text, scope, Location(loc.file, loc.path, line))

        def flush_inline() -> None:
            if not pending:
                return
            try:
                values = flatten_params(pending, perform_at)
            except ParamError as exc:
                raise self.fail(exc.message, Location(loc.file, loc.path, exc.line)) from None
            pending.clear()
            filename = f"{_file_label(label)}_params_{len(files)}.yaml"
            path = os.path.join(self.params_dir, filename)
            files.append(ParamsFile(path, params_file_content(params_key, values)))
            args.extend(["--params-file", path])

        for param in node.params:
            if isinstance(param, ParamFile):
                flush_inline()
                path = os.path.abspath(perform_at(param.path, param.line))
                if not os.path.isfile(path):
                    raise self.fail(
                        f"parameters file not found: {path}",
                        Location(loc.file, loc.path, param.line),
                    )
                args += ["--params-file", path]
            else:
                pending.append(param)
        flush_inline()
        return args, files

    def executable(self, executable: Executable, scope: _Scope) -> None:
        loc = executable.location
        cmd = [self.perform(arg, scope, loc) for arg in executable.cmd]
        label = self.label(executable.options, os.path.basename(cmd[0]), scope, loc)
        self.add_process(
            "executable",
            cmd[0],
            label,
            cmd,
            executable.options,
            scope,
            loc,
            [],
            shell=executable.shell,
        )

    def timeout(
        self, value: float | None, key: str, default: float, scope: _Scope, loc: Location
    ) -> float:
        if value is not None:
            return value
        configured = scope.configurations.get(key)
        if configured is None:
            return default
        try:
            result = float(configured)
        except ValueError:
            raise self.fail(
                f"launch argument {key} must be a number, got {configured!r}", loc
            ) from None
        if result < 0:
            raise self.fail(f"launch argument {key} must not be negative", loc)
        return result

    def add_process(
        self,
        kind: str,
        what: str,
        label: str,
        cmd: list[str],
        options: ProcessOptions,
        scope: _Scope,
        loc: Location,
        params_files: list[ParamsFile],
        *,
        shell: bool = False,
    ) -> None:
        env = dict(scope.environment)
        for name, value in options.env:
            env[self.perform(name, scope, loc)] = self.perform(value, scope, loc)
        cwd = self.perform(options.cwd, scope, loc) if options.cwd is not None else None
        if cwd is not None and not os.path.isdir(cwd):
            raise self.fail(f"cwd {cwd!r} is not a directory", loc)
        if options.launch_prefix is not None:
            prefix = self.perform(options.launch_prefix, scope, loc)
        else:
            prefix = scope.configurations.get("launch-prefix", "")
        if prefix.strip():
            try:
                cmd = shlex.split(prefix) + cmd
            except ValueError as exc:
                raise self.fail(f"cannot split launch-prefix {prefix!r}: {exc}", loc) from None
        output = self.perform(options.output, scope, loc) if options.output is not None else None
        if output is None:
            output = "screen"
        elif output not in OUTPUT_MODES:
            raise self.fail(f"output must be one of {', '.join(OUTPUT_MODES)}, got {output!r}", loc)
        if isinstance(options.respawn, tuple):
            respawn = self.truth(options.respawn, scope, loc, "'respawn'")
        else:
            respawn = bool(options.respawn)
        if not shell:
            try:
                resolve_command(cmd[0], env, cwd)
            except LaunchError as exc:
                raise self.fail(str(exc), loc) from None
        changes: dict[str, str | None] = {
            key: value for key, value in env.items() if self.base_env.get(key) != value
        }
        changes.update({key: None for key in self.base_env if key not in env})
        self.processes.append(
            ProcessSpec(
                label=label,
                kind=kind,
                what=what,
                location=loc,
                cmd=cmd,
                env=env,
                env_changes=changes,
                cwd=cwd,
                shell=shell,
                output=output,
                respawn=respawn,
                respawn_delay=options.respawn_delay or 0.0,
                respawn_max_retries=(
                    -1 if options.respawn_max_retries is None else options.respawn_max_retries
                ),
                required=options.on_exit_shutdown,
                sigterm_timeout=self.timeout(
                    options.sigterm_timeout, "sigterm_timeout", DEFAULT_SIGTERM_TIMEOUT, scope, loc
                ),
                sigkill_timeout=self.timeout(
                    options.sigkill_timeout, "sigkill_timeout", DEFAULT_SIGKILL_TIMEOUT, scope, loc
                ),
                params_files=params_files,
            )
        )


def evaluate(
    path: str,
    arguments: Mapping[str, str] | None = None,
    *,
    params_dir: str,
    environment: Mapping[str, str] | None = None,
) -> LaunchPlan:
    """Evaluate the launch file at ``path`` with launch ``arguments`` (``name:=value``).

    ``params_dir`` is where inline parameters files will be written (they are
    only returned here, see :class:`ParamsFile`); ``environment`` defaults to
    ``os.environ``. Raises :class:`~.errors.LaunchError` (usually a
    :class:`~.errors.LaunchFileError` with file and line) on any problem.
    """
    env = os.environ if environment is None else environment
    return _Evaluator(arguments or {}, params_dir, env).run(path)

"""Turn a YAML launch file into :mod:`.description` objects, checking it strictly.

The accepted schema is the one of the ROS 2 YAML launch frontend
(``launch_yaml`` + the ``parse`` methods of the ``launch`` / ``launch_ros``
actions), restricted to the subset listed in this package's README. The checks
follow what ``ros2 launch`` enforces, so that a file accepted here also runs
there:

* the root is a mapping with the single key ``launch`` holding a list of
  single-key mappings (``- node: {...}``);
* string attributes must be YAML strings (``default: '5'``, not ``default: 5``:
  ros2 launch rejects the integer), float attributes must be floats
  (``respawn_delay: 2.0``), booleans must be booleans;
* an unknown tag, attribute or substitution is an error naming the file and the
  line, never ignored.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

from .description import (
    Arg,
    Condition,
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
    ParamScalar,
    ParamValue,
    ProcessOptions,
    PushRosNamespace,
    SetEnv,
    UnsetEnv,
)
from .errors import LaunchFileError
from .substitutions import Part, SubstitutionSyntaxError, Text, is_literal, parse_text
from .yaml_loader import LineDict, LineList, load_yaml_file

# Tags of the ROS 2 launch frontends that grounded-launch does not implement;
# named separately so the error says "not supported" rather than "unknown".
_KNOWN_UNSUPPORTED_TAGS = frozenset(
    {
        "append_env",
        "composable_node",
        "executable_in_package",
        "for",
        "for_each",
        "lifecycle_node",
        "load_composable_node",
        "log",
        "node_container",
        "reset",
        "ros_timer",
        "set_parameter",
        "set_parameters_file",
        "set_remap",
        "set_ros_log_dir",
        "set_use_sim_time",
        "shutdown",
        "timer",
    }
)

_CONDITION_KEYS = ("if", "unless")

_PROCESS_KEYS = (
    "cwd",
    "env",
    "output",
    "respawn",
    "respawn_delay",
    "respawn_max_retries",
    "on_exit",
    "launch-prefix",
    "sigterm_timeout",
    "sigkill_timeout",
)


def _unescape(value: str) -> str:
    """Backslash escapes, as ros2 launch applies to attributes without substitutions."""
    return re.sub(r"\\(.)", r"\1", value)


class _Attrs:
    """Typed access to the attributes of one tag, remembering which were read."""

    def __init__(self, parser: _FileParser, tag: str, data: LineDict) -> None:
        self.parser = parser
        self.tag = tag
        self.data = data
        self.read: set[str] = set()

    def line(self, key: str | None = None) -> int:
        return self.data.line if key is None else self.data.line_of(key)

    def error(self, message: str, key: str | None = None) -> LaunchFileError:
        return self.parser.error(message, self.line(key))

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, *, required: bool = False) -> Any:
        if key not in self.data:
            if required:
                raise self.error(f"'{self.tag}' needs the attribute '{key}'")
            return None
        self.read.add(key)
        return self.data[key]

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.raw(key, required=required)
        if value is None and key not in self.data:
            return None
        if not isinstance(value, str):
            hint = ""
            if isinstance(value, bool):
                hint = " (quote it: YAML reads true/false/yes/no/on/off unquoted as booleans)"
            elif isinstance(value, int | float):
                hint = f" (quote it: {key}: '{value}')"
            raise self.error(
                f"attribute '{key}' of '{self.tag}' must be a string,"
                f" got {_yaml_type(value)}{hint}",
                key,
            )
        return value

    def text(self, key: str, *, required: bool = False) -> Text | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        return self.parser.parse_text(value, self.line(key))

    def plain(self, key: str, *, required: bool = False) -> str | None:
        """A string taken literally (ros2 launch does not substitute in it)."""
        value = self.string(key, required=required)
        return None if value is None else _unescape(value)

    def boolean(self, key: str) -> bool | None:
        value = self.raw(key)
        if value is None and key not in self.data:
            return None
        if not isinstance(value, bool):
            raise self.error(
                f"attribute '{key}' of '{self.tag}' must be true or false, got {_yaml_type(value)}",
                key,
            )
        return value

    def number(self, key: str) -> float | None:
        value = self.raw(key)
        if value is None and key not in self.data:
            return None
        if isinstance(value, bool) or not isinstance(value, float):
            hint = ""
            if isinstance(value, int) and not isinstance(value, bool):
                hint = f" (write {value}.0: ros2 launch rejects integers here)"
            raise self.error(
                f"attribute '{key}' of '{self.tag}' must be a float, got {_yaml_type(value)}{hint}",
                key,
            )
        if value < 0:
            raise self.error(f"attribute '{key}' of '{self.tag}' must not be negative", key)
        return value

    def integer(self, key: str) -> int | None:
        value = self.raw(key)
        if value is None and key not in self.data:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(
                f"attribute '{key}' of '{self.tag}' must be an integer, got {_yaml_type(value)}",
                key,
            )
        return value

    def mappings(self, key: str) -> list[LineDict] | None:
        """A list of mappings, like ``param: [{name: a, value: b}]``."""
        value = self.raw(key)
        if value is None and key not in self.data:
            return None
        if not isinstance(value, list) or not value:
            raise self.error(
                f"attribute '{key}' of '{self.tag}' must be a non-empty list of mappings", key
            )
        for item in value:
            if not isinstance(item, LineDict):
                line = item.line if isinstance(item, LineList) else self.line(key)
                raise self.parser.error(
                    f"each item of '{key}' in '{self.tag}' must be a mapping,"
                    f" got {_yaml_type(item)}",
                    line,
                )
        return value

    def condition(self) -> Condition | None:
        if_ = self.text("if")
        unless = self.text("unless")
        if if_ is None and unless is None:
            return None
        if if_ is not None and unless is not None:
            raise self.error(f"'{self.tag}' cannot have both 'if' and 'unless'", "unless")
        return Condition(if_=if_, unless=unless)

    def finish(self) -> None:
        """Reject attributes nobody read: unknown keys are errors, never ignored."""
        for key in self.data:
            if key not in self.read:
                known = ", ".join(sorted(self.read | set(self.parser.allowed_keys(self.tag))))
                raise self.error(
                    f"unknown or unsupported attribute '{key}' in '{self.tag}'"
                    f" (supported: {known})",
                    key,
                )


def _yaml_type(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def split_command_line(text: Text) -> list[Text]:
    """Split a command line into arguments the way ros2 launch does.

    Literal parts are split with shell rules (``shlex``); the result of a
    substitution is never split, and joins the literal text it touches:
    ``"--x $(var a)/b c"`` gives ``["--x", [$(var a), "/b"], "c"]``.
    """
    args: list[Text] = []
    current: list[Part] = []

    def flush() -> None:
        nonlocal current
        if current:
            args.append(tuple(current))
            current = []

    for part in text:
        if not isinstance(part, str):
            current.append(part)
            continue
        tokens = shlex.split(part)  # ValueError on unbalanced quotes, handled by the caller
        if not tokens:
            flush()
            continue
        if part[0].isspace():
            flush()
        current.append(tokens[0])
        for token in tokens[1:]:
            flush()
            current.append(token)
        if part[-1].isspace():
            flush()
    flush()
    return args


class _FileParser:
    """Parses one launch file."""

    def __init__(self, path: str, display: str) -> None:
        self.path = os.path.abspath(path)
        self.display = display
        self.declared_args: list[Arg] = []
        self._handlers = {
            "arg": self._arg,
            "let": self._let,
            "set_env": self._set_env,
            "unset_env": self._unset_env,
            "push-ros-namespace": self._push_ros_namespace,
            "push_ros_namespace": self._push_ros_namespace,
            "group": self._group,
            "include": self._include,
            "node": self._node,
            "executable": self._executable,
        }

    # -- helpers ---------------------------------------------------------------

    def error(self, message: str, line: int | None) -> LaunchFileError:
        return LaunchFileError(message, self.display, line)

    def location(self, line: int) -> Location:
        return Location(self.display, self.path, line)

    def parse_text(self, value: str, line: int) -> Text:
        try:
            return parse_text(value)
        except SubstitutionSyntaxError as exc:
            raise self.error(
                f"{exc.message} (at column {exc.column + 1} of {value!r})", line
            ) from None

    def split(self, attrs: _Attrs, key: str, *, required: bool = False) -> list[Text] | None:
        text = attrs.text(key, required=required)
        if text is None:
            return None
        try:
            return split_command_line(text)
        except ValueError as exc:
            raise attrs.error(f"cannot split '{key}' into arguments: {exc}", key) from None

    def allowed_keys(self, tag: str) -> tuple[str, ...]:
        keys: dict[str, tuple[str, ...]] = {
            "arg": ("name", "default", "description", "choice"),
            "let": ("name", "value"),
            "set_env": ("name", "value"),
            "unset_env": ("name",),
            "push-ros-namespace": ("namespace",),
            "push_ros_namespace": ("namespace",),
            "group": ("children", "scoped", "forwarding", "keep"),
            "include": ("file", "arg"),
            "node": (
                "pkg",
                "exec",
                "name",
                "namespace",
                "exec_name",
                "args",
                "ros_args",
                "param",
                "remap",
                *_PROCESS_KEYS,
            ),
            "executable": ("cmd", "name", "shell", *_PROCESS_KEYS),
        }
        return (*keys.get(tag, ()), *_CONDITION_KEYS) if tag in keys else ()

    def attrs(self, tag: str, value: Any, line: int) -> _Attrs:
        if not isinstance(value, LineDict):
            raise self.error(
                f"'{tag}' must be a mapping of attributes, got {_yaml_type(value)}", line
            )
        return _Attrs(self, tag, value)

    def pairs(self, attrs: _Attrs, key: str, item_tag: str) -> list[tuple[Text, Text]]:
        """Lists of ``{name, value}`` (include args, env, keep)."""
        result = []
        for item in attrs.mappings(key) or []:
            sub = _Attrs(self, item_tag, item)
            name = sub.text("name", required=True)
            value = sub.text("value", required=True)
            sub.finish()
            result.append((name, value))
        return result

    # -- top level -------------------------------------------------------------

    def parse(self) -> LaunchFile:
        root = load_yaml_file(self.path, self.display)
        if not isinstance(root, LineDict) or list(root) != ["launch"]:
            line = root.line if isinstance(root, LineDict | LineList) else 1
            raise self.error(
                "a YAML launch file must be a mapping with the single key 'launch'"
                " holding a list of actions",
                line,
            )
        children = root["launch"]
        if not isinstance(children, LineList):
            raise self.error(
                f"'launch' must hold a list of actions, got {_yaml_type(children)}",
                root.line_of("launch"),
            )
        entities = self.entities(children)
        return LaunchFile(self.display, self.path, entities, self.declared_args)

    def entities(self, items: LineList) -> list[Entity]:
        result = []
        for item in items:
            if not isinstance(item, LineDict) or len(item) != 1:
                line = item.line if isinstance(item, LineDict | LineList) else items.line
                raise self.error(
                    "each action must be a mapping with a single key, the tag"
                    " (for example '- node: {pkg: ..., exec: ...}')",
                    line,
                )
            tag = next(iter(item))
            line = item.line_of(tag)
            handler = self._handlers.get(tag) if isinstance(tag, str) else None
            if handler is None:
                supported = ", ".join(sorted(self._handlers))
                if tag in _KNOWN_UNSUPPORTED_TAGS:
                    message = f"tag '{tag}' is valid in ROS 2 launch but not supported here"
                else:
                    message = f"unknown tag '{tag}'"
                raise self.error(f"{message} (supported: {supported})", line)
            result.append(handler(item[tag], line))
        return result

    # -- tags ------------------------------------------------------------------

    def _arg(self, value: Any, line: int) -> Arg:
        attrs = self.attrs("arg", value, line)
        name = attrs.plain("name", required=True)
        default = attrs.text("default")
        description = attrs.plain("description")
        choices = None
        choice_items = attrs.mappings("choice")
        if choice_items is not None:
            choices = []
            for item in choice_items:
                sub = _Attrs(self, "choice", item)
                choices.append(sub.plain("value", required=True))
                sub.finish()
        condition = attrs.condition()
        attrs.finish()
        if not name:
            raise attrs.error("'arg' needs a non-empty name", "name")
        if choices is not None and default is not None and is_literal(default):
            default_value = "".join(default)
            if default_value not in choices:
                raise attrs.error(
                    f"default {default_value!r} of arg '{name}' is not one of {choices}",
                    "default",
                )
        arg = Arg(self.location(line), name, default, description, choices, condition)
        self.declared_args.append(arg)
        return arg

    def _let(self, value: Any, line: int) -> Let:
        attrs = self.attrs("let", value, line)
        name = attrs.text("name", required=True)
        val = attrs.text("value", required=True)
        condition = attrs.condition()
        attrs.finish()
        return Let(self.location(line), name, val, condition)

    def _set_env(self, value: Any, line: int) -> SetEnv:
        attrs = self.attrs("set_env", value, line)
        name = attrs.text("name", required=True)
        val = attrs.text("value", required=True)
        condition = attrs.condition()
        attrs.finish()
        return SetEnv(self.location(line), name, val, condition)

    def _unset_env(self, value: Any, line: int) -> UnsetEnv:
        attrs = self.attrs("unset_env", value, line)
        name = attrs.text("name", required=True)
        condition = attrs.condition()
        attrs.finish()
        return UnsetEnv(self.location(line), name, condition)

    def _push_ros_namespace(self, value: Any, line: int) -> PushRosNamespace:
        attrs = self.attrs("push-ros-namespace", value, line)
        namespace = attrs.text("namespace", required=True)
        condition = attrs.condition()
        attrs.finish()
        return PushRosNamespace(self.location(line), namespace, condition)

    def _group(self, value: Any, line: int) -> Group:
        if isinstance(value, LineList):  # the short form: "- group: [ ...children ]"
            return Group(self.location(line), self.entities(value))
        attrs = self.attrs("group", value, line)
        children = attrs.raw("children", required=True)
        if not isinstance(children, LineList):
            raise attrs.error(
                f"'children' of 'group' must be a list of actions, got {_yaml_type(children)}",
                "children",
            )
        scoped = attrs.boolean("scoped")
        forwarding = attrs.boolean("forwarding")
        keep = self.pairs(attrs, "keep", "keep")
        condition = attrs.condition()
        attrs.finish()
        return Group(
            self.location(line),
            self.entities(children),
            scoped=True if scoped is None else scoped,
            forwarding=True if forwarding is None else forwarding,
            keep=keep,
            condition=condition,
        )

    def _include(self, value: Any, line: int) -> Include:
        if isinstance(value, str):  # the short form: "- include: path/to/file.launch.yaml"
            return Include(self.location(line), self.parse_text(value, line))
        attrs = self.attrs("include", value, line)
        file = attrs.text("file", required=True)
        args = self.pairs(attrs, "arg", "arg")
        condition = attrs.condition()
        attrs.finish()
        return Include(self.location(line), file, args, condition)

    def _process_options(self, attrs: _Attrs, label_key: str) -> ProcessOptions:
        options = ProcessOptions()
        options.label = attrs.text(label_key)
        options.cwd = attrs.text("cwd")
        options.env = self.pairs(attrs, "env", "env")
        options.output = attrs.text("output")
        respawn = attrs.raw("respawn")
        if isinstance(respawn, bool):
            options.respawn = respawn
        elif attrs.has("respawn"):
            options.respawn = attrs.text("respawn")
        options.respawn_delay = attrs.number("respawn_delay")
        options.respawn_max_retries = attrs.integer("respawn_max_retries")
        on_exit = attrs.string("on_exit")
        if on_exit is not None:
            if on_exit != "shutdown":
                raise attrs.error(
                    f"on_exit must be 'shutdown' (the only value ros2 launch accepts),"
                    f" got {on_exit!r}",
                    "on_exit",
                )
            options.on_exit_shutdown = True
        options.launch_prefix = attrs.text("launch-prefix")
        options.sigterm_timeout = attrs.number("sigterm_timeout")
        options.sigkill_timeout = attrs.number("sigkill_timeout")
        return options

    def _node(self, value: Any, line: int) -> Node:
        attrs = self.attrs("node", value, line)
        package = attrs.text("pkg")
        executable = attrs.text("exec", required=True)
        name = attrs.text("name")
        namespace = attrs.text("namespace")
        args = self.split(attrs, "args") or []
        ros_args = self.split(attrs, "ros_args")
        params = self._params(attrs.mappings("param") or [])
        remaps = []
        for item in attrs.mappings("remap") or []:
            sub = _Attrs(self, "remap", item)
            remaps.append((sub.text("from", required=True), sub.text("to", required=True)))
            sub.finish()
        options = self._process_options(attrs, "exec_name")
        condition = attrs.condition()
        attrs.finish()
        return Node(
            self.location(line),
            executable,
            package=package,
            name=name,
            namespace=namespace,
            args=args,
            ros_args=ros_args,
            params=params,
            remaps=remaps,
            options=options,
            condition=condition,
        )

    def _executable(self, value: Any, line: int) -> Executable:
        attrs = self.attrs("executable", value, line)
        cmd = self.split(attrs, "cmd", required=True)
        if not cmd:
            raise attrs.error("'cmd' of 'executable' is empty", "cmd")
        shell = attrs.boolean("shell")
        options = self._process_options(attrs, "name")
        condition = attrs.condition()
        attrs.finish()
        return Executable(self.location(line), cmd, bool(shell), options, condition)

    # -- parameters --------------------------------------------------------------

    def _params(self, items: list[LineDict]) -> list[ParamFile | InlineParam]:
        result: list[ParamFile | InlineParam] = []
        for item in items:
            if "from" in item and "name" in item:
                raise self.error("a 'param' takes either 'from' or 'name', not both", item.line)
            if "from" in item:
                attrs = _Attrs(self, "param", item)
                path = attrs.text("from", required=True)
                for key in item:
                    if key != "from":
                        raise attrs.error(
                            f"a 'param' with 'from' takes no other attribute, got '{key}'", key
                        )
                result.append(ParamFile(path, item.line_of("from")))
            elif "name" in item:
                result.append(self._inline_param(item))
            else:
                raise self.error(
                    "a 'param' needs 'from' (a parameters file) or 'name' (and 'value')",
                    item.line,
                )
        return result

    def _inline_param(self, item: LineDict) -> InlineParam:
        attrs = _Attrs(self, "param", item)
        name = attrs.text("name", required=True)
        has_value, has_nested = "value" in item, "param" in item
        if has_value and has_nested:
            raise attrs.error("a 'param' takes either 'value' or nested 'param', not both")
        if not has_value and not has_nested:
            raise attrs.error(f"param '{''.join(map(str, name))}' needs a 'value'")
        param = InlineParam(name, item.line)
        if has_value:
            param.value, param.value_is_text = self._param_value(attrs)
        else:
            param.children = [self._inline_param(child) for child in attrs.mappings("param")]
        for key in item:
            if key not in ("name", "value", "param"):
                raise attrs.error(
                    f"unknown or unsupported attribute '{key}' in 'param'"
                    " (supported: name, value, param, from)",
                    key,
                )
        return param

    def _param_value(self, attrs: _Attrs) -> tuple[ParamValue, bool]:
        raw = attrs.raw("value")
        line = attrs.line("value")
        if isinstance(raw, list):
            if not raw:
                raise attrs.error(
                    "a parameter cannot be an empty list (ROS cannot type it)", "value"
                )
            items = [self._param_scalar(item, line) for item in raw]
            literal_types = {type(v) for v, is_text in items if not is_text}
            if len(literal_types) > 1:
                raise attrs.error(
                    "the items of a list parameter must all have the same type", "value"
                )
            return [v for v, _ in items], any(is_text for _, is_text in items)
        return self._param_scalar(raw, line)

    def _param_scalar(self, raw: Any, line: int) -> tuple[ParamScalar, bool]:
        if isinstance(raw, str):
            text = self.parse_text(raw, line)
            if is_literal(text):
                # ros2 launch keeps a string without substitutions as a string.
                return "".join(str(part) for part in text), False
            return text, True
        if isinstance(raw, bool | int | float):
            return raw, False
        raise self.error(
            f"a parameter value must be a string, number, boolean or a list of those,"
            f" got {_yaml_type(raw)} (use nested 'param' entries for groups)",
            line,
        )


def parse_launch_file(path: str, display: str | None = None) -> LaunchFile:
    """Parse the launch file at ``path``; errors name ``display`` (default: ``path``)."""
    return _FileParser(path, display if display is not None else path).parse()

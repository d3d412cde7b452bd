"""The parsed form of a launch file: one dataclass per supported tag.

:mod:`.parser` builds these from YAML; :mod:`.evaluate` walks them with the
launch arguments to produce the processes to run. Strings that may contain
substitutions are kept as :data:`~.substitutions.Text` and only performed at
evaluation time, because their value depends on where they are reached (launch
configurations, environment, ROS namespace of the enclosing groups).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .substitutions import Text


@dataclass(frozen=True)
class Location:
    """Where an entity was written: ``file`` as shown to users, ``path`` absolute."""

    file: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Condition:
    """The ``if`` / ``unless`` attributes every action accepts."""

    if_: Text | None = None
    unless: Text | None = None


@dataclass
class Arg:
    """``arg``: declare a launch argument (required when it has no default)."""

    location: Location
    name: str
    default: Text | None = None
    description: str | None = None
    choices: list[str] | None = None
    condition: Condition | None = None


@dataclass
class Let:
    """``let``: set a launch configuration."""

    location: Location
    name: Text
    value: Text
    condition: Condition | None = None


@dataclass
class SetEnv:
    """``set_env``: set an environment variable for the processes started after it."""

    location: Location
    name: Text
    value: Text
    condition: Condition | None = None


@dataclass
class UnsetEnv:
    """``unset_env``: remove an environment variable for the processes started after it."""

    location: Location
    name: Text
    condition: Condition | None = None


@dataclass
class PushRosNamespace:
    """``push-ros-namespace`` (or ``push_ros_namespace``): prefix the ROS namespace."""

    location: Location
    namespace: Text
    condition: Condition | None = None


@dataclass
class Group:
    """``group``: children in a scope (``scoped``), optionally not inheriting it."""

    location: Location
    children: list[Entity]
    scoped: bool = True
    forwarding: bool = True
    keep: list[tuple[Text, Text]] = field(default_factory=list)
    condition: Condition | None = None


@dataclass
class Include:
    """``include``: another launch file, with launch arguments."""

    location: Location
    file: Text
    args: list[tuple[Text, Text]] = field(default_factory=list)
    condition: Condition | None = None


# A parameter value as written: a plain scalar, a string with substitutions
# (typed with YAML rules once performed, as ros2 launch does), or a list of those.
ParamScalar = str | int | float | bool | Text
ParamValue = ParamScalar | list[ParamScalar]


@dataclass
class ParamFile:
    """``param: [{from: FILE}]``: a parameters file passed with ``--params-file``."""

    path: Text
    line: int


@dataclass
class InlineParam:
    """``param: [{name, value}]``, or ``{name, param: [...]}`` for a nested group."""

    name: Text
    line: int
    value: ParamValue | None = None
    children: list[InlineParam] | None = None
    # True where ``value`` (or a list item) is a Text to perform and type with YAML.
    value_is_text: bool = False


@dataclass
class ProcessOptions:
    """Attributes shared by ``node`` and ``executable`` (ros2 launch's ExecuteProcess)."""

    label: Text | None = None  # 'name' of executable, 'exec_name' of node
    cwd: Text | None = None
    env: list[tuple[Text, Text]] = field(default_factory=list)
    output: Text | None = None
    respawn: bool | Text | None = None
    respawn_delay: float | None = None
    respawn_max_retries: int | None = None
    on_exit_shutdown: bool = False
    launch_prefix: Text | None = None
    sigterm_timeout: float | None = None
    sigkill_timeout: float | None = None


@dataclass
class Node:
    """``node``: a ROS node from a package (or an executable path when no ``pkg``)."""

    location: Location
    executable: Text
    package: Text | None = None
    name: Text | None = None
    namespace: Text | None = None
    args: list[Text] = field(default_factory=list)
    ros_args: list[Text] | None = None
    params: list[ParamFile | InlineParam] = field(default_factory=list)
    remaps: list[tuple[Text, Text]] = field(default_factory=list)
    options: ProcessOptions = field(default_factory=ProcessOptions)
    condition: Condition | None = None


@dataclass
class Executable:
    """``executable``: any command line."""

    location: Location
    cmd: list[Text]
    shell: bool = False
    options: ProcessOptions = field(default_factory=ProcessOptions)
    condition: Condition | None = None


Entity = Arg | Let | SetEnv | UnsetEnv | PushRosNamespace | Group | Include | Node | Executable


@dataclass
class LaunchFile:
    """A parsed launch file: its top-level entities and every ``arg`` it declares."""

    file: str
    path: str
    entities: list[Entity]
    declared_args: list[Arg] = field(default_factory=list)

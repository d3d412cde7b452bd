"""World description of the tabletop arm world, loaded from YAML (MISSION B1).

Everything a user may want to change about the world lives in a file under
``sim_worlds/`` (robot, table and fixtures, the objects with size, mass,
friction and colour, workspace and spawn bounds, motion settings of the
pick/place primitives, success tolerances, task step limits and the cameras).
This module turns such a file into frozen dataclasses and validates every
field at the boundary: a missing, mistyped, unknown or inconsistent field
raises :class:`~grounded_core.tabletop.errors.WorldConfigError` naming the file
and the dotted field path (``objects[1].mass``).

Finding files
    ``load_world_config("tabletop")`` looks for ``tabletop.yaml`` in the
    directories of ``$GROUNDED_SIM_WORLDS`` (``os.pathsep``-separated) and then
    in the repository's ``sim_worlds/`` folder; an existing path is used as is.
    Inside a world file, ``pybullet_data/...`` paths resolve into the
    ``pybullet_data`` package and other relative paths resolve against the
    folder of the YAML file, so a world can ship its own URDF/meshes.

Inheritance: ``base: tabletop`` at the top of a file starts from that world
and overrides parts of it (mappings merge, lists are replaced).

Units: metres, kilograms, seconds, radians (``fov_deg`` is in degrees as in
pybullet). Colours are RGBA in [0, 1].
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import WorldConfigError
from .state import LEFT_FINGER, RIGHT_FINGER, ROBOT, TABLE

#: Name of the default world file (``sim_worlds/tabletop.yaml``).
DEFAULT_WORLD = "tabletop"
#: Environment variable with extra directories searched for world files.
WORLDS_PATH_ENV = "GROUNDED_SIM_WORLDS"
#: Prefix of paths that resolve into the ``pybullet_data`` package.
PYBULLET_DATA_PREFIX = "pybullet_data/"
#: Object shapes the world can build (cubes fit the Panda gripper; MISSION B1).
SUPPORTED_SHAPES = ("cube",)
#: Renderers: pybullet's CPU tiny renderer (headless) or OpenGL (GUI only).
SUPPORTED_RENDERERS = ("tiny", "opengl")
#: Clearance (m) between a tower of all objects and the grasp point when travelling.
TRAVEL_MARGIN = 0.02
#: Task families whose step limit is configurable (see tasks.py).
TASK_FAMILIES = ("grasp", "stack", "stack_all")


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class PhysicsConfig:
    """Simulator settings."""

    time_step: float
    gravity: tuple[float, float, float]
    solver_iterations: int


@dataclass(frozen=True)
class RobotConfig:
    """The arm: URDF, which joints move, controller gains and the gripper."""

    urdf: Path
    base_position: tuple[float, float, float]
    base_yaw: float
    arm_joints: tuple[int, ...]
    finger_joints: tuple[int, int]
    ee_link: int
    home_joints: tuple[float, ...]
    arm_max_forces: tuple[float, ...]
    arm_max_velocity: float
    position_gain: float
    finger_open: float
    finger_force: float
    finger_max_velocity: float
    finger_friction: float
    finger_coupling_force: float
    gripper_yaw: float
    hand_half_extents: tuple[float, float]
    hand_bottom: float


@dataclass(frozen=True)
class BoxConfig:
    """A static box: the table or a fixture such as a basket wall."""

    name: str
    half_extents: tuple[float, float, float]
    position: tuple[float, float, float]
    colour: tuple[float, float, float, float]
    friction: float

    @property
    def top(self) -> float:
        """Height of the top face."""
        return self.position[2] + self.half_extents[2]


@dataclass(frozen=True)
class Bounds2D:
    """Axis-aligned rectangle on the table, ``[x_min, x_max] x [y_min, y_max]``."""

    x: tuple[float, float]
    y: tuple[float, float]

    def contains(self, x: float, y: float, tol: float = 0.0) -> bool:
        """True when (x, y) lies inside the rectangle grown by ``tol``."""
        return self.x[0] - tol <= x <= self.x[1] + tol and self.y[0] - tol <= y <= self.y[1] + tol

    @property
    def low(self) -> tuple[float, float]:
        return (self.x[0], self.y[0])

    @property
    def high(self) -> tuple[float, float]:
        return (self.x[1], self.y[1])

    @property
    def area(self) -> float:
        return (self.x[1] - self.x[0]) * (self.y[1] - self.y[0])


@dataclass(frozen=True)
class SpawnConfig:
    """Where reset places the objects."""

    bounds: Bounds2D
    min_separation: float
    yaw_range: tuple[float, float]
    max_tries: int


@dataclass(frozen=True)
class ObjectConfig:
    """One manipulable object. ``name`` is also the colour word used in language."""

    name: str
    shape: str
    size: float
    mass: float
    friction: float
    colour: tuple[float, float, float, float]

    @property
    def half_height(self) -> float:
        return self.size / 2.0


@dataclass(frozen=True)
class MotionConfig:
    """Settings of the pick/place primitives (see primitives.py for their use)."""

    travel_height: float
    grasp_depth: float
    min_grasp_height: float
    place_clearance: float
    waypoint_spacing: float
    ee_speed: float
    position_tolerance: float
    arrival_speed: float
    max_segment_time: float
    gripper_time: float
    release_time: float
    settle_time: float
    holding_min_width: float


@dataclass(frozen=True)
class TolerancesConfig:
    """Tolerances of the success predicates (see predicates.py)."""

    on_top_xy: float
    on_top_z: float
    lift_height: float
    resting_speed: float


@dataclass(frozen=True)
class CameraConfig:
    """A pinhole camera looking from ``eye`` at ``target``. ``fov_deg`` is vertical."""

    name: str
    width: int
    height: int
    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float]
    fov_deg: float
    near: float
    far: float
    enabled: bool


@dataclass(frozen=True)
class WorldConfig:
    """A complete world description (one YAML file)."""

    name: str
    source: Path | None
    gui: bool
    renderer: str
    physics: PhysicsConfig
    robot: RobotConfig
    table: BoxConfig
    fixtures: tuple[BoxConfig, ...]
    workspace: Bounds2D
    spawn: SpawnConfig
    objects: tuple[ObjectConfig, ...]
    motion: MotionConfig
    tolerances: TolerancesConfig
    max_steps: Mapping[str, int]
    cameras: tuple[CameraConfig, ...]

    @property
    def object_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects)

    def object(self, name: str) -> ObjectConfig:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object named {name!r}; objects are {list(self.object_names)}")

    def camera(self, name: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"no camera named {name!r}; cameras are {[c.name for c in self.cameras]}")

    @property
    def enabled_cameras(self) -> tuple[CameraConfig, ...]:
        return tuple(c for c in self.cameras if c.enabled)


# --------------------------------------------------------------------------- field reader


class _Section:
    """A mapping read from YAML that knows its file and dotted path for errors."""

    def __init__(self, data: Any, file: Path | None, path: str) -> None:
        if not isinstance(data, Mapping):
            raise WorldConfigError(file, path or None, f"must be a mapping, got {_kind(data)}")
        self.data = data
        self.file = file
        self.path = path
        self.used: set[str] = set()

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str | None, problem: str) -> WorldConfigError:
        return WorldConfigError(self.file, self.field(key) if key else self.path or None, problem)

    def raw(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise self.error(key, "is required but missing")
            return default
        return self.data[key]

    def section(self, key: str, default: Any = ...) -> _Section:
        return _Section(self.raw(key, default), self.file, self.field(key))

    def number(self, key: str, default: Any = ..., *, minimum=None, positive=False) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, got {_kind(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise self.error(key, f"must be finite, got {value}")
        if positive and value <= 0:
            raise self.error(key, f"must be > 0, got {value}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def integer(self, key: str, default: Any = ..., *, minimum: int | None = None) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def boolean(self, key: str, default: Any = ...) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {_kind(value)}")
        return value

    def string(self, key: str, default: Any = ..., *, choices: Sequence[str] | None = None) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(key, f"must be a non-empty string, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {list(choices)}, got {value!r}")
        return value

    def vector(self, key: str, length: int | None, default: Any = ..., **checks) -> tuple:
        value = self.raw(key, default)
        if not isinstance(value, list | tuple):
            raise self.error(key, f"must be a list of numbers, got {_kind(value)}")
        if length is not None and len(value) != length:
            raise self.error(key, f"must have {length} numbers, got {len(value)}")
        item = _Section({str(i): v for i, v in enumerate(value)}, self.file, self.field(key))
        return tuple(item.number(str(i), **checks) for i in range(len(value)))

    def int_vector(self, key: str, default: Any = ..., *, minimum: int | None = None) -> tuple:
        value = self.raw(key, default)
        if not isinstance(value, list | tuple) or not value:
            raise self.error(key, f"must be a non-empty list of integers, got {_kind(value)}")
        item = _Section({str(i): v for i, v in enumerate(value)}, self.file, self.field(key))
        return tuple(item.integer(str(i), minimum=minimum) for i in range(len(value)))

    def interval(self, key: str, default: Any = ...) -> tuple[float, float]:
        low, high = self.vector(key, 2, default)
        if low > high:
            raise self.error(key, f"lower bound {low} is above upper bound {high}")
        return (low, high)

    def colour(self, key: str, default: Any = ...) -> tuple[float, float, float, float]:
        value = self.vector(key, None, default)
        if len(value) not in (3, 4):
            raise self.error(key, f"must be RGB or RGBA (3 or 4 numbers), got {len(value)}")
        if any(not 0.0 <= c <= 1.0 for c in value):
            raise self.error(key, f"components must lie in [0, 1], got {list(value)}")
        return (*value, 1.0) if len(value) == 3 else value

    def items(self, key: str, default: Any = ...) -> list[_Section]:
        value = self.raw(key, default)
        if not isinstance(value, list):
            raise self.error(key, f"must be a list, got {_kind(value)}")
        return [_Section(v, self.file, f"{self.field(key)}[{i}]") for i, v in enumerate(value)]

    def finish(self) -> None:
        """Reject unknown keys: a typo must not silently fall back to a default."""
        unknown = sorted(str(k) for k in self.data if k not in self.used)
        if unknown:
            raise self.error(unknown[0], f"unknown field (known fields here: {sorted(self.used)})")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


# --------------------------------------------------------------------------- parsing


def _parse_box(sec: _Section, default_name: str, *, named: bool = True) -> BoxConfig:
    box = BoxConfig(
        name=sec.string("name", default_name) if named else default_name,
        half_extents=sec.vector("half_extents", 3, positive=True),
        position=sec.vector("position", 3),
        colour=sec.colour("colour", [0.6, 0.6, 0.6, 1.0]),
        friction=sec.number("friction", 0.8, minimum=0.0),
    )
    sec.finish()
    return box


def _resolve_asset(sec: _Section, key: str, base_dir: Path | None) -> Path:
    text = sec.string(key)
    if text.startswith(PYBULLET_DATA_PREFIX):
        import pybullet_data  # local import: only needed when the path uses it

        path = Path(pybullet_data.getDataPath()) / text[len(PYBULLET_DATA_PREFIX) :]
    else:
        path = Path(text)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
    if not path.is_file():
        raise sec.error(key, f"file not found: {path}")
    return path


def _parse_robot(sec: _Section, base_dir: Path | None) -> RobotConfig:
    arm_joints = sec.int_vector("arm_joints", minimum=0)
    finger_joints = sec.int_vector("finger_joints", minimum=0)
    if len(finger_joints) != 2:
        raise sec.error("finger_joints", f"must name exactly 2 joints, got {len(finger_joints)}")
    home = sec.vector("home_joints", len(arm_joints))
    forces = sec.vector("arm_max_forces", len(arm_joints), positive=True)
    robot = RobotConfig(
        urdf=_resolve_asset(sec, "urdf", base_dir),
        base_position=sec.vector("base_position", 3, [0.0, 0.0, 0.0]),
        base_yaw=sec.number("base_yaw", 0.0),
        arm_joints=arm_joints,
        finger_joints=(finger_joints[0], finger_joints[1]),
        ee_link=sec.integer("ee_link", minimum=0),
        home_joints=home,
        arm_max_forces=forces,
        arm_max_velocity=sec.number("arm_max_velocity", positive=True),
        position_gain=sec.number("position_gain", positive=True),
        finger_open=sec.number("finger_open", positive=True),
        finger_force=sec.number("finger_force", positive=True),
        finger_max_velocity=sec.number("finger_max_velocity", positive=True),
        finger_friction=sec.number("finger_friction", minimum=0.0),
        finger_coupling_force=sec.number("finger_coupling_force", minimum=0.0),
        gripper_yaw=sec.number("gripper_yaw", 0.0),
        hand_half_extents=sec.vector("hand_half_extents", 2, positive=True),
        hand_bottom=sec.number("hand_bottom", positive=True),
    )
    sec.finish()
    return robot


def _parse_bounds(sec: _Section) -> Bounds2D:
    bounds = Bounds2D(x=sec.interval("x"), y=sec.interval("y"))
    sec.finish()
    for axis, (low, high) in (("x", bounds.x), ("y", bounds.y)):
        if high - low <= 0:
            raise sec.error(axis, f"interval [{low}, {high}] is empty")
    return bounds


def _parse_object(sec: _Section) -> ObjectConfig:
    obj = ObjectConfig(
        name=sec.string("name"),
        shape=sec.string("shape", "cube", choices=SUPPORTED_SHAPES),
        size=sec.number("size", positive=True),
        mass=sec.number("mass", positive=True),
        friction=sec.number("friction", minimum=0.0),
        colour=sec.colour("colour"),
    )
    sec.finish()
    if not obj.name.isidentifier() or obj.name == "all":
        raise sec.error("name", f"must be a single word (used in task names), got {obj.name!r}")
    return obj


def _parse_camera(sec: _Section) -> CameraConfig:
    cam = CameraConfig(
        name=sec.string("name"),
        width=sec.integer("width", minimum=1),
        height=sec.integer("height", minimum=1),
        eye=sec.vector("eye", 3),
        target=sec.vector("target", 3),
        up=sec.vector("up", 3, [0.0, 0.0, 1.0]),
        fov_deg=sec.number("fov_deg", positive=True),
        near=sec.number("near", positive=True),
        far=sec.number("far", positive=True),
        enabled=sec.boolean("enabled", True),
    )
    sec.finish()
    if cam.fov_deg >= 180.0:
        raise sec.error("fov_deg", f"must be below 180, got {cam.fov_deg}")
    if cam.far <= cam.near:
        raise sec.error("far", f"must be greater than near ({cam.near}), got {cam.far}")
    if math.dist(cam.eye, cam.target) < 1e-6:
        raise sec.error("target", "must differ from eye")
    return cam


def parse_world_config(data: Any, source: str | Path | None = None) -> WorldConfig:
    """Validate a world description already parsed from YAML into plain Python.

    ``source`` is the file the data came from; it is used in error messages and
    to resolve relative asset paths.
    """
    file = Path(source) if source is not None else None
    base_dir = file.parent if file is not None else None
    root = _Section(data, file, "")

    physics_sec = root.section("physics", {})
    physics = PhysicsConfig(
        time_step=physics_sec.number("time_step", 1.0 / 240.0, positive=True),
        gravity=physics_sec.vector("gravity", 3, [0.0, 0.0, -9.81]),
        solver_iterations=physics_sec.integer("solver_iterations", 50, minimum=1),
    )
    physics_sec.finish()

    robot = _parse_robot(root.section("robot"), base_dir)
    table = _parse_box(root.section("table"), TABLE, named=False)
    fixtures = tuple(
        _parse_box(sec, f"fixture_{i}") for i, sec in enumerate(root.items("fixtures", []))
    )
    workspace = _parse_bounds(root.section("workspace"))

    spawn_sec = root.section("spawn")
    spawn = SpawnConfig(
        bounds=Bounds2D(x=spawn_sec.interval("x"), y=spawn_sec.interval("y")),
        min_separation=spawn_sec.number("min_separation", positive=True),
        yaw_range=spawn_sec.interval("yaw_range", [0.0, 0.0]),
        max_tries=spawn_sec.integer("max_tries", 1000, minimum=1),
    )
    spawn_sec.finish()
    for axis, (low, high), (wlow, whigh) in (
        ("x", spawn.bounds.x, workspace.x),
        ("y", spawn.bounds.y, workspace.y),
    ):
        if low < wlow or high > whigh:
            raise spawn_sec.error(
                axis,
                f"spawn interval [{low}, {high}] must lie inside the workspace [{wlow}, {whigh}]",
            )

    object_secs = root.items("objects")
    objects = tuple(_parse_object(sec) for sec in object_secs)
    if len(objects) < 2:
        raise root.error("objects", f"needs at least 2 objects, got {len(objects)}")
    names = [o.name for o in objects]
    reserved = {TABLE, ROBOT, LEFT_FINGER, RIGHT_FINGER}
    fixture_names = [f.name for f in fixtures]
    for i, name in enumerate(fixture_names):
        if name in reserved or name in fixture_names[:i]:
            raise root.error(f"fixtures[{i}].name", f"duplicate or reserved name {name!r}")
    for i, name in enumerate(names):
        if name in names[:i] or name in reserved or name in fixture_names:
            raise object_secs[i].error("name", f"duplicate or reserved name {name!r}")

    motion_sec = root.section("motion")
    motion = MotionConfig(
        travel_height=motion_sec.number("travel_height", positive=True),
        grasp_depth=motion_sec.number("grasp_depth", positive=True),
        min_grasp_height=motion_sec.number("min_grasp_height", minimum=0.0),
        place_clearance=motion_sec.number("place_clearance", minimum=0.0),
        waypoint_spacing=motion_sec.number("waypoint_spacing", positive=True),
        ee_speed=motion_sec.number("ee_speed", positive=True),
        position_tolerance=motion_sec.number("position_tolerance", positive=True),
        arrival_speed=motion_sec.number("arrival_speed", positive=True),
        max_segment_time=motion_sec.number("max_segment_time", positive=True),
        gripper_time=motion_sec.number("gripper_time", positive=True),
        release_time=motion_sec.number("release_time", positive=True),
        settle_time=motion_sec.number("settle_time", minimum=0.0),
        holding_min_width=motion_sec.number("holding_min_width", positive=True),
    )
    motion_sec.finish()
    # The fingertips hang ~1 cm below the grasp point: travelling empty-handed
    # they must clear a tower of all objects (which also clears any stack of
    # the others while one object is carried at its middle).
    tower = sum(o.size for o in objects)
    if motion.travel_height <= tower + TRAVEL_MARGIN:
        raise motion_sec.error(
            "travel_height",
            f"must clear a tower of all objects by {TRAVEL_MARGIN} m "
            f"(> {tower + TRAVEL_MARGIN:.3f} m), got {motion.travel_height}",
        )

    tol_sec = root.section("tolerances")
    tolerances = TolerancesConfig(
        on_top_xy=tol_sec.number("on_top_xy", positive=True),
        on_top_z=tol_sec.number("on_top_z", positive=True),
        lift_height=tol_sec.number("lift_height", minimum=0.0),
        resting_speed=tol_sec.number("resting_speed", positive=True),
    )
    tol_sec.finish()

    tasks_sec = root.section("tasks")
    steps_sec = tasks_sec.section("max_steps")
    max_steps = {fam: steps_sec.integer(fam, minimum=1) for fam in TASK_FAMILIES}
    steps_sec.finish()
    tasks_sec.finish()

    camera_secs = root.items("cameras")
    cameras = tuple(_parse_camera(sec) for sec in camera_secs)
    cam_names = [c.name for c in cameras]
    for i, name in enumerate(cam_names):
        if name in cam_names[:i]:
            raise camera_secs[i].error("name", f"duplicate camera name {name!r}")

    config = WorldConfig(
        name=root.string("name"),
        source=file,
        gui=root.boolean("gui", False),
        renderer=root.string("renderer", "tiny", choices=SUPPORTED_RENDERERS),
        physics=physics,
        robot=robot,
        table=table,
        fixtures=fixtures,
        workspace=workspace,
        spawn=spawn,
        objects=objects,
        motion=motion,
        tolerances=tolerances,
        max_steps=max_steps,
        cameras=cameras,
    )
    root.raw("description", "")  # free text for humans; accepted and ignored
    root.raw("base", "")  # already merged in by load_world_config
    root.finish()
    return config


def world_search_dirs() -> list[Path]:
    """Directories searched for ``<name>.yaml``, in order."""
    dirs = [Path(d) for d in os.environ.get(WORLDS_PATH_ENV, "").split(os.pathsep) if d]
    # The repository layout: <repo>/src/grounded_core/grounded_core/tabletop/this_file.
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "sim_worlds"
        if candidate.is_dir():
            dirs.append(candidate)
            break
    return dirs


def resolve_world_path(name_or_path: str | Path) -> Path:
    """Return the YAML file for a world name (``"tabletop"``) or an existing path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        raise WorldConfigError(path, None, "world file not found")
    searched = world_search_dirs()
    for directory in searched:
        for suffix in (".yaml", ".yml"):
            candidate = directory / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
    raise WorldConfigError(
        f"{name_or_path}.yaml",
        None,
        f"world not found in {[str(d) for d in searched]} (set ${WORLDS_PATH_ENV} to add folders)",
    )


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorldConfigError(path, None, f"cannot read file: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorldConfigError(path, None, f"invalid YAML: {exc}") from exc


def _deep_merge(base: Mapping, override: Mapping) -> dict:
    """Mappings merge key by key; any other value (lists included) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _load_data(path: Path, chain: tuple[Path, ...]) -> Any:
    """The YAML of ``path`` with its ``base`` world (if any) merged underneath."""
    data = _read_yaml(path)
    if not isinstance(data, Mapping) or "base" not in data:
        return data
    base = data["base"]
    if not isinstance(base, str) or not base:
        raise WorldConfigError(
            path, "base", f"must be a world name or file path, got {_kind(base)}"
        )
    sibling = path.parent / base
    base_path = sibling if sibling.is_file() else resolve_world_path(base)
    if base_path.resolve() in chain:
        raise WorldConfigError(path, "base", f"circular base: {base_path} is already being loaded")
    base_data = _load_data(base_path, (*chain, base_path.resolve()))
    # A base is a complete world: validate it on its own so its errors name its file.
    parse_world_config(base_data, base_path)
    return _deep_merge(base_data, {k: v for k, v in data.items() if k != "base"})


def load_world_config(name_or_path: str | Path = DEFAULT_WORLD) -> WorldConfig:
    """Load and validate a world file by name (searched) or path.

    A file may start from another world with ``base: <name or path>`` (looked up
    next to the file first, then like any world name) and override parts of it:
    mappings merge key by key, lists (objects, cameras, fixtures) are replaced.
    """
    path = resolve_world_path(name_or_path)
    return parse_world_config(_load_data(path, (path.resolve(),)), path)

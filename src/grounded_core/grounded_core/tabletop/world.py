"""The tabletop arm world: one private pybullet simulation (MISSION B1).

:class:`TabletopWorld` loads a world description (world_config.py), owns its
own pybullet client (``BulletClient``: every call carries this world's client
id, so many worlds can live in one process, as the Collect & Infer actors of
MISSION B5 need), resets the objects from a seed or a given layout, executes
the pick/place primitives (primitives.py) and reports the state
(state.py), rendered frames (cameras.py) and physical relations.

Typical use::

    world = TabletopWorld("tabletop", seed=0)
    world.reset(seed=3)
    result = world.act(0.5, 0.0)        # pick (gripper empty) or place (holding)
    state = world.state()
    frames = world.render_all()

Determinism: a world is reset by dropping bullet's contact caches, restoring
an in-memory snapshot taken right after loading (same bodies, same ids), then
placing the objects with an RNG seeded by ``seed``; the physics engine runs
with ``deterministicOverlappingPairs``. The same seed and the same actions
therefore give bit-identical states, in a fresh world or in one that has run
other episodes (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pybullet

from ._quiet import connect
from .cameras import Camera, CameraFrame
from .errors import InvalidActionError, InvalidLayoutError, WorldConfigError
from .primitives import Arm, PrimitiveResult, execute_primitive
from .state import LEFT_FINGER, RIGHT_FINGER, ROBOT, TABLE, ObjectState, WorldState
from .world_config import DEFAULT_WORLD, BoxConfig, WorldConfig, load_world_config

#: A contact point counts as touching when the bodies are at most this far apart.
CONTACT_DISTANCE = 1e-3
#: Objects are spawned this far above their resting height (0: exactly resting;
#: a drop would still be bouncing when reset returns).
SPAWN_DROP = 0.0

#: A layout entry: (x, y) or (x, y, yaw) on the table, or the name of the object
#: it rests on (centred, same yaw).
LayoutEntry = Sequence[float] | str
Layout = Mapping[str, LayoutEntry]


class TabletopWorld:
    """A robot arm, a table and a few objects in a private pybullet simulation."""

    def __init__(
        self,
        config: WorldConfig | str | Path = DEFAULT_WORLD,
        *,
        gui: bool | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config if isinstance(config, WorldConfig) else load_world_config(config)
        self.gui = self.config.gui if gui is None else bool(gui)
        self.client = connect(self.gui)
        self._closed = False
        self.arm: Arm | None = None
        try:
            self._configure_physics()
            self._load_bodies()
            self.arm = Arm(self)
            self.cameras = {c.name: Camera(c) for c in self.config.cameras}
            self._renderer = (
                pybullet.ER_BULLET_HARDWARE_OPENGL
                if self.gui and self.config.renderer == "opengl"
                else pybullet.ER_TINY_RENDERER
            )
            self._snapshot = self.client.saveState()
            self._sim_steps = 0
            self.reset(seed=seed)
        except Exception:
            self.close()  # do not leak simulations on a bad world file or spawn area
            raise

    # ------------------------------------------------------------------ construction

    def _configure_physics(self) -> None:
        phys = self.config.physics
        p = self.client
        p.setGravity(*phys.gravity)
        p.setPhysicsEngineParameter(
            fixedTimeStep=phys.time_step,
            numSolverIterations=phys.solver_iterations,
            deterministicOverlappingPairs=1,
        )
        if self.gui:
            p.configureDebugVisualizer(pybullet.COV_ENABLE_GUI, 0)
            cx = sum(self.config.workspace.x) / 2.0
            cy = sum(self.config.workspace.y) / 2.0
            p.resetDebugVisualizerCamera(1.0, 60.0, -35.0, [cx, cy, self.table_height])

    def _make_box(self, box: BoxConfig, mass: float = 0.0) -> int:
        p = self.client
        col = p.createCollisionShape(pybullet.GEOM_BOX, halfExtents=box.half_extents)
        vis = p.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=box.half_extents, rgbaColor=box.colour
        )
        body = p.createMultiBody(mass, col, vis, box.position)
        p.changeDynamics(body, -1, lateralFriction=box.friction)
        return body

    def _load_bodies(self) -> None:
        cfg, p = self.config, self.client
        self.table_id = self._make_box(cfg.table)
        self.fixture_ids = {f.name: self._make_box(f) for f in cfg.fixtures}
        robot = cfg.robot
        self.robot_id = p.loadURDF(
            str(robot.urdf),
            robot.base_position,
            p.getQuaternionFromEuler([0.0, 0.0, robot.base_yaw]),
            useFixedBase=True,
            flags=pybullet.URDF_ENABLE_CACHED_GRAPHICS_SHAPES,
        )
        n_joints = p.getNumJoints(self.robot_id)
        infos = [p.getJointInfo(self.robot_id, j) for j in range(n_joints)]
        self._movable_joints = [j for j, i in enumerate(infos) if i[2] != pybullet.JOINT_FIXED]
        self._joint_names = [infos[j][1].decode() for j in self._movable_joints]
        for field, joints in (
            ("robot.arm_joints", robot.arm_joints),
            ("robot.finger_joints", robot.finger_joints),
            ("robot.ee_link", (robot.ee_link,)),
        ):
            bad = [j for j in joints if j >= n_joints]
            if bad:
                raise WorldConfigError(
                    cfg.source, field, f"joint/link index {bad[0]} >= {n_joints} joints in the URDF"
                )
        for finger in robot.finger_joints:
            p.changeDynamics(self.robot_id, finger, lateralFriction=robot.finger_friction)
        if robot.finger_coupling_force > 0:
            # The real Panda hand drives both fingers with one motor (the URDF's
            # <mimic>, which pybullet ignores): a gear constraint keeps them
            # symmetric, so a held object stays centred instead of sliding with
            # both fingers when the arm accelerates.
            left, right = robot.finger_joints
            gear = p.createConstraint(
                self.robot_id,
                left,
                self.robot_id,
                right,
                jointType=pybullet.JOINT_GEAR,
                jointAxis=[1, 0, 0],
                parentFramePosition=[0, 0, 0],
                childFramePosition=[0, 0, 0],
            )
            p.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=robot.finger_coupling_force)
        self.object_ids: dict[str, int] = {}
        for obj in cfg.objects:
            half = [obj.size / 2.0] * 3
            col = p.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half)
            vis = p.createVisualShape(pybullet.GEOM_BOX, halfExtents=half, rgbaColor=obj.colour)
            body = p.createMultiBody(obj.mass, col, vis, [0.0, 0.0, -1.0])
            p.changeDynamics(body, -1, lateralFriction=obj.friction)
            self.object_ids[obj.name] = body
        # Contact/segmentation names of every body (and of the two finger links).
        self.body_names: dict[int, str] = {self.table_id: TABLE, self.robot_id: ROBOT}
        self.body_names.update({b: n for n, b in self.fixture_ids.items()})
        self.body_names.update({b: n for n, b in self.object_ids.items()})
        self._finger_names = {
            robot.finger_joints[0]: LEFT_FINGER,
            robot.finger_joints[1]: RIGHT_FINGER,
        }
        self._object_sizes = {o.name: o.size for o in cfg.objects}

    # ------------------------------------------------------------------ basic properties

    @property
    def table_height(self) -> float:
        return self.config.table.top

    @property
    def object_names(self) -> tuple[str, ...]:
        return self.config.object_names

    @property
    def sim_time(self) -> float:
        return self._sim_steps * self.config.physics.time_step

    @property
    def sim_steps(self) -> int:
        """Physics steps since the last reset."""
        return self._sim_steps

    def step_simulation(self, n: int = 1) -> None:
        """Advance the physics by ``n`` fixed time steps."""
        step = self.client.stepSimulation
        for _ in range(n):
            step()
        self._sim_steps += n

    # ------------------------------------------------------------------ reset and layouts

    def reset(self, seed: int | None = None, layout: Layout | None = None) -> WorldState:
        """Put the arm at home with the gripper open and place the objects.

        With ``layout`` the objects go where it says (see :data:`LayoutEntry`);
        otherwise at random, non-overlapping positions in the spawn area drawn
        from an RNG seeded with ``seed`` (``None``: fresh entropy).
        """
        self._check_open()
        rng = np.random.default_rng(seed)
        poses = self._resolve_layout(layout) if layout is not None else self._random_poses(rng)
        self._forget_contacts()
        self.client.restoreState(self._snapshot)
        for name, (position, yaw) in poses.items():
            self.client.resetBasePositionAndOrientation(
                self.object_ids[name], position, self.client.getQuaternionFromEuler([0, 0, yaw])
            )
            self.client.resetBaseVelocity(self.object_ids[name], [0, 0, 0], [0, 0, 0])
        self.arm.reset()
        self._sim_steps = 0
        self.step_simulation(
            max(1, round(self.config.motion.settle_time / self.config.physics.time_step))
        )
        self._sim_steps = 0
        return self.state()

    def _forget_contacts(self) -> None:
        """Drop the contact caches of the last episode.

        restoreState does not clear bullet's persistent contact manifolds; an
        object reset to where it touched something before would start with
        warm-started contacts and settle differently, so the same seed could
        give different episodes depending on history. Moving every object out
        of reach and running collision detection removes those manifolds.
        """
        for i, body in enumerate(self.object_ids.values()):
            self.client.resetBasePositionAndOrientation(
                body, [10.0 * (i + 1), 0, -10.0], [0, 0, 0, 1]
            )
        self.client.performCollisionDetection()

    def random_layout(self, seed: int | None = None) -> dict[str, tuple[float, float, float]]:
        """A random layout (x, y, yaw per object) as reset would draw it for ``seed``."""
        poses = self._random_poses(np.random.default_rng(seed))
        return {n: (float(p[0]), float(p[1]), float(yaw)) for n, (p, yaw) in poses.items()}

    def _random_poses(self, rng: np.random.Generator) -> dict[str, tuple[list[float], float]]:
        spawn = self.config.spawn
        placed: list[tuple[float, float]] = []
        poses = {}
        for obj in self.config.objects:
            for _ in range(spawn.max_tries):
                x = float(rng.uniform(*spawn.bounds.x))
                y = float(rng.uniform(*spawn.bounds.y))
                if all(math.hypot(x - px, y - py) >= spawn.min_separation for px, py in placed):
                    break
            else:
                raise InvalidLayoutError(
                    f"could not place {obj.name!r} {spawn.min_separation} m from the others in "
                    f"{spawn.max_tries} tries: the spawn area of {self.config.source} is too small"
                )
            placed.append((x, y))
            yaw = float(rng.uniform(*spawn.yaw_range))
            poses[obj.name] = ([x, y, self.table_height + obj.half_height + SPAWN_DROP], yaw)
        return poses

    def _resolve_layout(self, layout: Layout) -> dict[str, tuple[list[float], float]]:
        if not isinstance(layout, Mapping):
            raise InvalidLayoutError(f"layout must be a mapping name -> entry, got {layout!r}")
        names = set(self.object_names)
        unknown = sorted(set(layout) - names)
        missing = sorted(names - set(layout))
        if unknown or missing:
            raise InvalidLayoutError(
                f"layout must give every object exactly once; unknown {unknown}, missing {missing}"
            )
        supports = [v for v in layout.values() if isinstance(v, str)]
        if len(supports) != len(set(supports)):
            raise InvalidLayoutError(f"two objects cannot rest on the same object: {layout!r}")
        poses: dict[str, tuple[list[float], float]] = {}
        pending = dict(layout)
        while pending:
            progressed = False
            for name, entry in list(pending.items()):
                size = self._object_sizes[name]
                if isinstance(entry, str):
                    if entry not in names or entry == name:
                        raise InvalidLayoutError(f"{name!r} cannot rest on {entry!r}")
                    if entry not in poses:
                        continue
                    (bx, by, bz), yaw = poses[entry]
                    z = bz + self._object_sizes[entry] / 2.0 + size / 2.0 + SPAWN_DROP
                    poses[name] = ([bx, by, z], yaw)
                else:
                    x, y, yaw = self._layout_xy(name, entry)
                    poses[name] = ([x, y, self.table_height + size / 2.0 + SPAWN_DROP], yaw)
                del pending[name]
                progressed = True
            if not progressed:
                raise InvalidLayoutError(f"stacking in the layout is cyclic: {dict(pending)!r}")
        on_table = [n for n in poses if not isinstance(layout[n], str)]
        for i, a in enumerate(on_table):
            for b in on_table[:i]:
                distance = math.dist(poses[a][0][:2], poses[b][0][:2])
                limit = (self._object_sizes[a] + self._object_sizes[b]) / 2.0 * math.sqrt(2.0)
                if distance < limit:
                    raise InvalidLayoutError(
                        f"objects {b!r} and {a!r} overlap "
                        f"({distance:.3f} m apart, need {limit:.3f})"
                    )
        return poses

    def _layout_xy(self, name: str, entry: LayoutEntry) -> tuple[float, float, float]:
        try:
            values = [float(v) for v in entry]
        except (TypeError, ValueError) as exc:
            raise InvalidLayoutError(
                f"layout entry of {name!r} must be (x, y), (x, y, yaw) or an object name"
            ) from exc
        if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
            raise InvalidLayoutError(
                f"layout entry of {name!r} must be 2 or 3 finite numbers, got {entry!r}"
            )
        x, y = values[:2]
        if not self.config.workspace.contains(x, y):
            raise InvalidLayoutError(
                f"layout puts {name!r} at ({x:.3f}, {y:.3f}), outside the workspace "
                f"x {self.config.workspace.x}, y {self.config.workspace.y}"
            )
        return x, y, values[2] if len(values) == 3 else 0.0

    # ------------------------------------------------------------------ actions

    def validate_action(self, x: float, y: float) -> tuple[float, float]:
        """Return (x, y) as floats or raise :class:`InvalidActionError` (never clips)."""
        try:
            fx, fy = float(x), float(y)
        except (TypeError, ValueError) as exc:
            raise InvalidActionError(
                f"action must be two numbers (x, y), got {x!r}, {y!r}"
            ) from exc
        if not (math.isfinite(fx) and math.isfinite(fy)):
            raise InvalidActionError(f"action must be finite, got ({fx}, {fy})")
        ws = self.config.workspace
        # 1e-6 m of slack so float32 bounds (gymnasium Box) are accepted.
        if not ws.contains(fx, fy, tol=1e-6):
            raise InvalidActionError(
                f"action ({fx:.4f}, {fy:.4f}) is outside the workspace "
                f"x in [{ws.x[0]}, {ws.x[1]}], "
                f"y in [{ws.y[0]}, {ws.y[1]}]"
            )
        return fx, fy

    def act(self, x: float, y: float) -> PrimitiveResult:
        """Execute one pick/place primitive at (x, y) (MISSION B1's action space)."""
        self._check_open()
        fx, fy = self.validate_action(x, y)
        return execute_primitive(self, fx, fy)

    # ------------------------------------------------------------------ state and queries

    def contacts(self) -> frozenset[frozenset[str]]:
        """Pairs of named bodies touching, for every pair that involves an object."""
        p = self.client
        pairs = set()
        for name, body in self.object_ids.items():
            for point in p.getContactPoints(bodyA=body):
                if point[8] > CONTACT_DISTANCE:
                    continue
                other, link = point[2], point[4]
                if other == self.robot_id:
                    other_name = self._finger_names.get(link, ROBOT)
                else:
                    other_name = self.body_names.get(other, f"body_{other}")
                pairs.add(frozenset((name, other_name)))
        return frozenset(pairs)

    def joint_states(self) -> dict[str, tuple[float, float]]:
        """Movable joints of the robot (URDF names, index order) -> (position, velocity).

        What the ROS node publishes as ``joint_states``.
        """
        states = self.client.getJointStates(self.robot_id, self._movable_joints)
        return {
            name: (float(s[0]), float(s[1]))
            for name, s in zip(self._joint_names, states, strict=True)
        }

    def object_state(self, name: str) -> ObjectState:
        body = self.object_ids[name]
        position, orientation = self.client.getBasePositionAndOrientation(body)
        velocity, _ = self.client.getBaseVelocity(body)
        return ObjectState(
            position=np.array(position),
            orientation=np.array(orientation),
            linear_velocity=np.array(velocity),
            size=self._object_sizes[name],
        )

    def state(self) -> WorldState:
        """A snapshot of everything the predicates, captions and policies need."""
        self._check_open()
        return WorldState(
            objects={name: self.object_state(name) for name in self.object_names},
            ee_position=self.arm.ee_position(),
            gripper_width=self.arm.gripper_width(),
            gripper_closed=self.arm.gripper_closed,
            holding=self.arm.is_holding(),
            contacts=self.contacts(),
            table_height=self.table_height,
            sim_time=self.sim_time,
            object_names=self.object_names,
        )

    def surface_below(
        self, points_xy: Sequence[Sequence[float]], start_z: float
    ) -> tuple[float, str]:
        """Highest surface hit by vertical rays cast down from ``start_z``.

        Returns (height, body name); the table top and ``"table"`` when a ray hits
        nothing. Rays start below the gripper (the caller picks ``start_z``) so
        they see what is under the arm, like a top-down depth camera would.
        """
        bottom = self.table_height - 0.05
        starts = [[x, y, start_z] for x, y in points_xy]
        ends = [[x, y, bottom] for x, y in points_xy]
        best_z, best_name = self.table_height, TABLE
        for hit in self.client.rayTestBatch(starts, ends):
            body, position = hit[0], hit[3]
            if body < 0:
                continue
            if position[2] > best_z:
                best_z = float(position[2])
                best_name = (
                    self._finger_names.get(hit[1], ROBOT)
                    if body == self.robot_id
                    else self.body_names.get(body, f"body_{body}")
                )
        return best_z, best_name

    # ------------------------------------------------------------------ rendering

    def render(self, camera: str) -> CameraFrame:
        """RGB, depth (metres) and segmentation (body ids) from one configured camera."""
        self._check_open()
        if camera not in self.cameras:
            raise KeyError(f"no camera named {camera!r}; cameras are {sorted(self.cameras)}")
        return self.cameras[camera].render(self.client, self._renderer)

    def render_all(self, enabled_only: bool = True) -> dict[str, CameraFrame]:
        """Frames from every enabled camera (or from every camera)."""
        names = [c.name for c in self.config.cameras if c.enabled or not enabled_only]
        return {name: self.render(name) for name in names}

    def segmentation_labels(self) -> dict[int, str]:
        """Body id -> name, to read the segmentation images."""
        return dict(self.body_names)

    # ------------------------------------------------------------------ lifetime

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this TabletopWorld has been closed")

    def close(self) -> None:
        """Disconnect the private pybullet client (idempotent)."""
        if not self._closed:
            self._closed = True
            if self.arm is not None:
                self.arm.close()
            self.client.disconnect()

    def __enter__(self) -> TabletopWorld:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

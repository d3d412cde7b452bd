"""Plan a pick or place at (x, y) into checked joint trajectories and gripper commands.

The same primitives as the simulator (``grounded_core.tabletop.primitives``),
for a real arm that is only reachable through a joint trajectory controller:

pick(x, y)
    open the gripper; (lift to ``travel_height`` if lower); travel there to
    above (x, y); descend to ``grasp_depth`` below the top of what is under
    (x, y) (the highest tracked object whose footprint covers (x, y), else the
    table; never below ``min_grasp_height``); close the gripper; lift back.
place(x, y)
    (lift); travel to above (x, y); descend until the held object's bottom is
    ``place_clearance`` above the highest support under its footprint; open
    the gripper; retreat to ``travel_height``.

Every straight line is cut into waypoints ``waypoint_spacing`` apart, each
solved by IK from the previous solution; nothing is returned unless every
line end is inside the workspace box, every waypoint's IK residual is below
``ik_tolerance`` and every joint waypoint is inside the joint limits
(:class:`SafetyLimits`). Waypoint times come from the joint velocity limits
(trajectory.time_parameterize). What is "under (x, y)" comes from tracked
object states (the simulator's or a perception tracker's ``object_states``);
without them the table is assumed, or the caller gives z explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .config import MotionSettings
from .kinematics import Kinematics
from .safety import SafetyError, SafetyLimits
from .trajectory import time_parameterize

PICK = "pick"
PLACE = "place"
MOVE = "move"
GRIPPER = "gripper"
TABLE = "table"
#: Share of the objects' half sizes that must overlap for one to support the other.
FOOTPRINT_SHARE = 0.9
#: A line shorter than this (m) is skipped (already there).
MIN_LINE = 1e-3


@dataclass(frozen=True)
class TrackedObject:
    """An object as a tracker reports it: centre position (m) and edge length (m)."""

    name: str
    position: tuple[float, float, float]
    size: float

    @property
    def top(self) -> float:
        return self.position[2] + self.size / 2.0


@dataclass(frozen=True)
class Segment:
    """One step of a plan: a joint trajectory (``move``) or a gripper command."""

    kind: str  # MOVE or GRIPPER
    label: str  # approach, descend, close, lift, open, retreat ...
    times: np.ndarray | None = None  # time_from_start of every waypoint (s)
    positions: np.ndarray | None = None  # waypoints x arm joints
    waypoints: np.ndarray | None = None  # waypoints x (x, y, z) of the grasp point
    gripper: float | None = None  # target position of every gripper joint

    @property
    def duration(self) -> float:
        return float(self.times[-1]) if self.times is not None else 0.0


@dataclass(frozen=True)
class Plan:
    """A checked pick or place: its segments and what it expects to happen."""

    kind: str  # PICK or PLACE
    x: float
    y: float
    z: float  # lowest grasp point height of the primitive
    surface: str  # what is under (x, y): an object name or "table"
    surface_height: float
    object: str | None  # pick: the object expected to be grasped; place: the held one
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    def describe(self) -> str:
        moves = [s for s in self.segments if s.kind == MOVE]
        points = sum(len(s.times) for s in moves)
        return (
            f"{self.kind} at ({self.x:.3f}, {self.y:.3f}) down to z {self.z:.3f} over "
            f"{self.surface} (top {self.surface_height:.3f}): {len(self.segments)} segments, "
            f"{points} joint waypoints, {self.duration:.2f} s of motion"
        )


class PickPlacePlanner:
    """Turns pick/place requests into :class:`Plan` s for one robot."""

    def __init__(
        self,
        kinematics: Kinematics,
        limits: SafetyLimits | None = None,
        motion: MotionSettings | None = None,
    ) -> None:
        self.kin = kinematics
        self.limits = limits or SafetyLimits()
        self.motion = motion or MotionSettings()
        self.max_velocity = self.limits.velocity_limits(kinematics.urdf_velocity)
        if self.motion.table_height + self.motion.min_grasp_height < self.limits.workspace_z[0]:
            raise SafetyError(
                "table_height + min_grasp_height is below workspace_z min: grasps would be refused"
            )

    @property
    def travel_z(self) -> float:
        return self.motion.table_height + self.motion.travel_height

    # ------------------------------------------------------------------ surfaces

    def surface_under(
        self,
        x: float,
        y: float,
        objects: Sequence[TrackedObject],
        exclude: str | None = None,
        footprint: float = 0.0,
    ) -> tuple[float, str]:
        """Highest top (height, name) under (x, y); ``footprint``: size of a held object."""
        best = (self.motion.table_height, TABLE)
        for obj in objects:
            if obj.name == exclude:
                continue
            reach = (obj.size + footprint) / 2.0 * (FOOTPRINT_SHARE if footprint else 1.0)
            if math.hypot(obj.position[0] - x, obj.position[1] - y) <= reach and obj.top > best[0]:
                best = (obj.top, obj.name)
        return best

    # ------------------------------------------------------------------ motions

    def line(self, start: np.ndarray, end: np.ndarray, seed: np.ndarray, label: str) -> Segment:
        """A straight line of the grasp point from ``start`` to ``end`` (IK from ``seed``)."""
        self.limits.check_cartesian(end, f"{label} target")
        distance = float(np.linalg.norm(end - start))
        n = max(1, math.ceil(distance / self.motion.waypoint_spacing))
        waypoints = [start + (end - start) * (i / n) for i in range(n + 1)]
        path = [np.asarray(seed, dtype=float)]
        for i, point in enumerate(waypoints[1:], start=1):
            q, residual = self.kin.solve(point, seed=path[-1])
            if residual > self.motion.ik_tolerance:
                raise SafetyError(
                    f"{label}: waypoint {i}/{n} ({point[0]:.3f}, {point[1]:.3f}, {point[2]:.3f}) "
                    f"is unreachable: IK misses it by {residual * 1000:.1f} mm "
                    f"(tolerance {self.motion.ik_tolerance * 1000:.1f} mm)"
                )
            self.limits.check_joints(
                q, self.kin.lower, self.kin.upper, self.kin.joint_names, f"{label} waypoint {i}"
            )
            path.append(q)
        lengths = np.full(n, distance / n)
        times = time_parameterize(
            np.array(path),
            self.max_velocity,
            lengths=lengths,
            ee_speed=self.motion.ee_speed,
            ramp_share=self.motion.ramp_share,
        )
        # The first point is where the arm is: the controller starts from there.
        return Segment(
            MOVE,
            label,
            times=times[1:],
            positions=np.array(path[1:]),
            waypoints=np.array(waypoints),
        )

    def _lines(
        self, q_now: np.ndarray, targets: list[tuple[str, np.ndarray]]
    ) -> tuple[list[Segment], np.ndarray]:
        """Consecutive lines through ``targets`` from the current pose; returns the last q."""
        segments: list[Segment] = []
        q = np.asarray(q_now, dtype=float)
        position = self.kin.forward(q)
        for label, target in targets:
            if np.linalg.norm(target - position) < MIN_LINE:
                continue
            segment = self.line(position, target, q, label)
            segments.append(segment)
            q, position = segment.positions[-1], target
        return segments, q

    def _travel(self, q_now: np.ndarray, x: float, y: float) -> list[tuple[str, np.ndarray]]:
        """Targets that bring the grasp point to above (x, y) at travel height."""
        here = self.kin.forward(np.asarray(q_now, dtype=float))
        targets = []
        if here[2] < self.travel_z - 0.01:
            targets.append(("lift", np.array([here[0], here[1], self.travel_z])))
        targets.append(("approach", np.array([x, y, self.travel_z])))
        return targets

    # ------------------------------------------------------------------ primitives

    def plan_pick(
        self,
        x: float,
        y: float,
        q_now: Sequence[float],
        objects: Sequence[TrackedObject] = (),
        z: float | None = None,
    ) -> Plan:
        """Open, travel above (x, y), descend, close, lift."""
        x, y = self.limits.check_target(x, y)
        q_now = self._check_current(q_now)
        m = self.motion
        surface_z, surface = self.surface_under(x, y, objects)
        if z is None:
            grasp_z = max(surface_z - m.grasp_depth, m.table_height + m.min_grasp_height)
        else:
            grasp_z = self._explicit_z(z)
        targets = [
            *self._travel(q_now, x, y),
            ("descend", np.array([x, y, grasp_z])),
        ]
        moves, q = self._lines(q_now, targets)
        lift, _ = self._lines(q, [("lift", np.array([x, y, self.travel_z]))])
        cfg = self.kin.config
        segments = [
            Segment(GRIPPER, "open", gripper=cfg.gripper_open),
            *moves,
            Segment(GRIPPER, "close", gripper=cfg.gripper_closed),
            *lift,
        ]
        picked = None if surface == TABLE else surface
        return Plan(PICK, x, y, grasp_z, surface, surface_z, picked, segments)

    def plan_place(
        self,
        x: float,
        y: float,
        q_now: Sequence[float],
        objects: Sequence[TrackedObject] = (),
        held: str | None = None,
        held_offset: float | None = None,
        z: float | None = None,
    ) -> Plan:
        """Travel above (x, y), descend until the held object nearly rests, open, retreat.

        ``held_offset``: height of the grasp point above the held object's
        bottom (default: as grasped by plan_pick, size - grasp_depth).
        """
        x, y = self.limits.check_target(x, y)
        q_now = self._check_current(q_now)
        m = self.motion
        sizes = {o.name: o.size for o in objects}
        size = sizes.get(held, m.object_size) if held else m.object_size
        if held_offset is None or not (math.isfinite(held_offset) and 0.0 < held_offset <= size):
            # unknown or implausible (a tracker glitch must not drive the object into a stack)
            held_offset = size - m.grasp_depth
        surface_z, surface = self.surface_under(x, y, objects, exclude=held, footprint=size)
        if z is None:
            release_z = max(
                surface_z + m.place_clearance + held_offset, m.table_height + m.min_grasp_height
            )
        else:
            release_z = self._explicit_z(z)
        moves, q = self._lines(
            q_now, [*self._travel(q_now, x, y), ("descend", np.array([x, y, release_z]))]
        )
        retreat, _ = self._lines(q, [("retreat", np.array([x, y, self.travel_z]))])
        segments = [
            *moves,
            Segment(GRIPPER, "open", gripper=self.kin.config.gripper_open),
            *retreat,
        ]
        return Plan(PLACE, x, y, release_z, surface, surface_z, held, segments)

    def plan_move(self, position: Sequence[float], q_now: Sequence[float]) -> Plan:
        """A straight line of the grasp point to ``position`` (e.g. a home or inspection pose)."""
        q_now = self._check_current(q_now)
        target = self.limits.check_cartesian(position, "move target")
        moves, _ = self._lines(q_now, [("move", target)])
        return Plan(
            "move", float(target[0]), float(target[1]), float(target[2]), TABLE, 0.0, None, moves
        )

    def _check_current(self, q_now: Sequence[float]) -> np.ndarray:
        q = np.asarray(q_now, dtype=float)
        if q.shape != (len(self.kin.joint_names),) or not np.all(np.isfinite(q)):
            raise SafetyError(f"current joint positions are invalid: {q.tolist()}")
        return q

    def _explicit_z(self, z: float) -> float:
        z = float(z)
        if not math.isfinite(z):
            raise SafetyError(f"target z must be finite, got {z}")
        low, high = self.limits.workspace_z
        if not low <= z <= high:
            raise SafetyError(f"target z {z:.3f} is outside the workspace z in [{low}, {high}]")
        return z

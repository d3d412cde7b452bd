"""Joint trajectories: velocity-limited timing, and tracking one over time.

``time_parameterize`` gives the waypoints of a joint path their
``time_from_start`` so that, interpolated linearly (what a joint trajectory
controller does with position-only points), **no joint ever exceeds its
velocity limit**: every interval lasts at least ``max_j |dq_j| / vmax_j`` (and
at least its Cartesian length / ``ee_speed``), and a trapezoidal profile over
the whole path (``ramp_share`` of the time accelerating, the same
decelerating) only ever slows intervals down.

``TrajectoryTracker`` is the other side: what ros2_control's
joint_trajectory_controller does with a ``trajectory_msgs/JointTrajectory``.
A new trajectory replaces the current one and starts now, from the currently
commanded positions when its first point is later than t = 0; joints it does not
name keep their positions; an empty trajectory holds the arm where it is.
``sample(t)`` is the position command at time t (linear interpolation; the
last point is held once reached). The simulator's ros2_control emulation
samples it every physics step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TrajectoryError(ValueError):
    """A trajectory a controller must refuse (unknown joint, times not increasing, NaN...)."""


def _inverse_trapezoid(s: np.ndarray, ramp: float) -> np.ndarray:
    """Time share u at which a trapezoidal profile (ramp share ``ramp``) reaches progress s."""
    peak = 1.0 / (1.0 - ramp)
    s = np.clip(s, 0.0, 1.0)
    if ramp <= 0.0:
        return s
    edge = peak * ramp / 2.0
    return np.where(
        s < edge,
        np.sqrt(2.0 * ramp * s / peak),
        np.where(s > 1.0 - edge, 1.0 - np.sqrt(2.0 * ramp * (1.0 - s) / peak), s / peak + ramp / 2),
    )


def time_parameterize(
    path: np.ndarray,
    max_velocity: Sequence[float],
    *,
    lengths: Sequence[float] | None = None,
    ee_speed: float | None = None,
    ramp_share: float = 0.2,
    min_duration: float = 0.05,
) -> np.ndarray:
    """``time_from_start`` (s) of every waypoint of ``path`` (n x joints); times[0] = 0.

    ``lengths`` (n - 1 Cartesian interval lengths) with ``ee_speed`` also
    limits the speed of the end effector.
    """
    q = np.asarray(path, dtype=float)
    vmax = np.asarray(max_velocity, dtype=float)
    if q.ndim != 2 or q.shape[0] < 1 or q.shape[1] != vmax.size:
        raise TrajectoryError(f"path must be n x {vmax.size}, got shape {q.shape}")
    if not np.all(np.isfinite(q)):
        raise TrajectoryError("path contains NaN or inf")
    if not np.all(vmax > 0):
        raise TrajectoryError(f"velocity limits must be > 0, got {vmax.tolist()}")
    if q.shape[0] == 1:
        return np.array([0.0])
    durations = np.max(np.abs(np.diff(q, axis=0)) / vmax, axis=1)
    if lengths is not None and ee_speed is not None:
        durations = np.maximum(durations, np.asarray(lengths, dtype=float) / ee_speed)
    durations = np.maximum(durations, 1e-4)
    total = float(np.sum(durations))
    progress = np.concatenate([[0.0], np.cumsum(durations)]) / total
    duration = max(total / (1.0 - ramp_share), min_duration)
    times = duration * _inverse_trapezoid(progress, ramp_share)
    times[0] = 0.0
    # Keep strictly increasing even where floating point rounding ties two points.
    for i in range(1, times.size):
        times[i] = max(times[i], times[i - 1] + 1e-6)
    return times


def peak_joint_speeds(path: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Highest speed of each joint when ``path`` is interpolated linearly over ``times``."""
    q = np.asarray(path, dtype=float)
    dt = np.diff(np.asarray(times, dtype=float))
    if q.shape[0] < 2:
        return np.zeros(q.shape[1])
    return np.max(np.abs(np.diff(q, axis=0)) / dt[:, None], axis=0)


class TrajectoryTracker:
    """Interpolates the latest joint trajectory over time, for a set of joints."""

    def __init__(self, joint_names: Sequence[str], positions: Sequence[float], now: float = 0.0):
        self.joint_names = list(joint_names)
        self._index = {name: i for i, name in enumerate(self.joint_names)}
        start = np.asarray(positions, dtype=float)
        if start.shape != (len(self.joint_names),):
            raise TrajectoryError(f"{len(self.joint_names)} positions needed, got {start.shape}")
        self.hold(start, now)

    def hold(self, positions: Sequence[float], now: float) -> None:
        """Hold ``positions`` from ``now`` on (cancels any trajectory)."""
        self._t0 = float(now)
        self._times = np.array([0.0])
        self._points = np.asarray(positions, dtype=float)[None, :].copy()

    def set_trajectory(
        self,
        names: Sequence[str],
        times: Sequence[float],
        positions: Sequence[Sequence[float]],
        now: float,
        actual: Sequence[float] | None = None,
    ) -> None:
        """Start a new trajectory at ``now`` (validated first; on error nothing changes).

        No points: hold ``actual`` (the measured positions; default the
        current command), as joint_trajectory_controller does.
        """
        current = self.sample(now)
        if len(positions) == 0:
            self.hold(current if actual is None else actual, now)
            return
        names = list(names)
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise TrajectoryError(f"unknown joint(s) {unknown}; known: {self.joint_names}")
        if len(set(names)) != len(names):
            raise TrajectoryError(f"joint_names lists a joint twice: {names}")
        t = np.asarray(times, dtype=float)
        if t.shape != (len(positions),):
            raise TrajectoryError("one time_from_start per point needed")
        if not np.all(np.isfinite(t)) or t[0] < 0 or np.any(np.diff(t) <= 0):
            raise TrajectoryError(
                f"time_from_start must be finite, >= 0 and strictly increasing, got {t.tolist()}"
            )
        try:
            values = np.asarray(positions, dtype=float)
        except ValueError as error:
            raise TrajectoryError("every point needs one position per joint") from error
        if values.shape != (len(t), len(names)):
            raise TrajectoryError(
                f"every point needs {len(names)} positions, got shape {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise TrajectoryError("trajectory positions contain NaN or inf")
        columns = [self._index[n] for n in names]
        points = np.repeat(current[None, :], len(t), axis=0)
        points[:, columns] = values
        if t[0] > 0:
            t = np.concatenate([[0.0], t])
            points = np.vstack([current[None, :], points])
        self._t0 = float(now)
        self._times = t
        self._points = points

    def sample(self, now: float) -> np.ndarray:
        """Position command at time ``now``."""
        u = float(now) - self._t0
        times, points = self._times, self._points
        if u <= times[0] or times.size == 1:
            return points[0].copy()
        if u >= times[-1]:
            return points[-1].copy()
        i = int(np.searchsorted(times, u, side="right")) - 1
        share = (u - times[i]) / (times[i + 1] - times[i])
        return points[i] + (points[i + 1] - points[i]) * share

    def finished(self, now: float) -> bool:
        return float(now) - self._t0 >= self._times[-1]

    @property
    def goal(self) -> np.ndarray:
        """Final positions of the current trajectory."""
        return self._points[-1].copy()

    @property
    def duration(self) -> float:
        return float(self._times[-1])

"""Safety checks of the arm bridge: nothing moves unless every check passes.

* ``SafetyLimits.check_target`` / ``check_cartesian``: finite numbers inside the
  workspace box (x, y on the table, z of the grasp point). The box is convex,
  so straight lines between checked targets stay inside it.
* ``SafetyLimits.check_joints``: finite joint positions inside the URDF limits
  shrunk by ``joint_margin``.
* ``SafetyLimits.velocity_limits``: per-joint speed limits (the URDF's, capped
  by ``max_joint_velocity``, scaled by ``velocity_scale``) that the trajectory
  timing is derived from (trajectory.py).
* ``Watchdog``: an input that has not been seen for ``timeout`` seconds is stale
  (joint states during motion; the bridge then holds the arm).
* ``EmergencyStop``: a latch. Pressing engages it; it stays engaged (every
  command refused) until an explicit release.

Every failed check raises :class:`SafetyError` saying what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class SafetyError(ValueError):
    """A command or motion refused by a safety check; the message says why."""


def _finite_array(name: str, values) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise SafetyError(f"{name} must be numbers, got {values!r}") from error
    if not np.all(np.isfinite(array)):
        raise SafetyError(f"{name} must be finite (no NaN or inf), got {array.tolist()}")
    return array


@dataclass(frozen=True)
class SafetyLimits:
    """Workspace box, joint limits margin and velocity limits."""

    workspace_x: tuple[float, float] = (0.35, 0.65)
    workspace_y: tuple[float, float] = (-0.15, 0.15)
    workspace_z: tuple[float, float] = (0.015, 0.40)
    joint_margin: float = 0.02  # rad (or m) kept clear of every URDF joint limit
    max_joint_velocity: float = 1.0  # rad/s cap on the URDF velocity limits
    velocity_scale: float = 1.0  # share of the (capped) limits trajectories may use

    def __post_init__(self) -> None:
        for axis in ("workspace_x", "workspace_y", "workspace_z"):
            low, high = getattr(self, axis)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise SafetyError(f"{axis} must be finite with min < max, got {(low, high)}")
        if not (math.isfinite(self.joint_margin) and self.joint_margin >= 0):
            raise SafetyError(f"joint_margin must be >= 0, got {self.joint_margin}")
        if not (math.isfinite(self.max_joint_velocity) and self.max_joint_velocity > 0):
            raise SafetyError(f"max_joint_velocity must be > 0, got {self.max_joint_velocity}")
        if not (0.0 < self.velocity_scale <= 1.0):
            raise SafetyError(f"velocity_scale must be in (0, 1], got {self.velocity_scale}")

    # ------------------------------------------------------------------ Cartesian

    def check_target(self, x: float, y: float) -> tuple[float, float]:
        """An (x, y) command target: finite and inside the workspace rectangle."""
        fx, fy = _finite_array("target (x, y)", [x, y]).tolist()
        (x0, x1), (y0, y1) = self.workspace_x, self.workspace_y
        if not (x0 <= fx <= x1 and y0 <= fy <= y1):
            raise SafetyError(
                f"target ({fx:.4f}, {fy:.4f}) is outside the workspace "
                f"x in [{x0}, {x1}], y in [{y0}, {y1}]"
            )
        return fx, fy

    def check_cartesian(self, point: Sequence[float], what: str = "waypoint") -> np.ndarray:
        """A grasp-point position: finite and inside the workspace box."""
        p = _finite_array(what, point)
        if p.shape != (3,):
            raise SafetyError(f"{what} must be (x, y, z), got shape {p.shape}")
        for value, (low, high), axis in zip(
            p, (self.workspace_x, self.workspace_y, self.workspace_z), "xyz", strict=True
        ):
            if not low <= value <= high:
                raise SafetyError(
                    f"{what} ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) is outside the workspace: "
                    f"{axis} = {value:.3f} not in [{low}, {high}]"
                )
        return p

    # ------------------------------------------------------------------ joints

    def check_joints(
        self,
        positions: Sequence[float],
        lower: Sequence[float],
        upper: Sequence[float],
        names: Sequence[str],
        what: str = "joint target",
    ) -> np.ndarray:
        """Finite joint positions inside [lower + margin, upper - margin]."""
        q = _finite_array(what, positions)
        lo = np.asarray(lower, dtype=float) + self.joint_margin
        hi = np.asarray(upper, dtype=float) - self.joint_margin
        if q.shape != lo.shape:
            raise SafetyError(f"{what} has {q.size} values for {lo.size} joints")
        bad = np.flatnonzero((q < lo) | (q > hi))
        if bad.size:
            i = int(bad[0])
            raise SafetyError(
                f"{what}: {names[i]} = {q[i]:.4f} violates its joint limits "
                f"[{lo[i]:.4f}, {hi[i]:.4f}] (URDF limits minus a {self.joint_margin} margin)"
            )
        return q

    def velocity_limits(self, urdf_limits: Sequence[float]) -> np.ndarray:
        """Per-joint speed limits: URDF limits (<= 0: none) capped, then scaled."""
        urdf = np.asarray(urdf_limits, dtype=float)
        capped = np.where(
            urdf > 0, np.minimum(urdf, self.max_joint_velocity), self.max_joint_velocity
        )
        return capped * self.velocity_scale


class Watchdog:
    """Says when an input went stale: not fed for more than ``timeout`` seconds.

    Times come from the caller (any monotonic clock), so tests need no sleeps.
    Never fed counts as stale.
    """

    def __init__(self, timeout: float, name: str = "input") -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise SafetyError(f"watchdog timeout must be > 0 s, got {timeout}")
        self.timeout = float(timeout)
        self.name = name
        self.last: float | None = None

    def feed(self, now: float) -> None:
        self.last = float(now)

    def age(self, now: float) -> float:
        """Seconds since the last feed (inf if never fed)."""
        return math.inf if self.last is None else float(now) - self.last

    def stale(self, now: float) -> bool:
        return self.age(now) > self.timeout

    def problem(self, now: float) -> str | None:
        """Why the input is stale, or None when it is fresh."""
        if self.last is None:
            return f"no {self.name} received yet"
        age = self.age(now)
        if age > self.timeout:
            return f"{self.name} stale: last one {age:.3f} s ago (timeout {self.timeout} s)"
        return None


class EmergencyStop:
    """A latching emergency stop.

    ``update(True)`` engages it; it stays engaged whatever else happens until
    ``update(False)`` releases it (an explicit release, as a hardware e-stop
    button that must be turned back). ``presses`` counts engagements.
    """

    def __init__(self) -> None:
        self.engaged = False
        self.presses = 0
        self.since: float | None = None

    def update(self, pressed: bool, now: float = 0.0) -> bool:
        """Apply one e-stop message; return True when the state changed."""
        pressed = bool(pressed)
        if pressed and not self.engaged:
            self.engaged = True
            self.presses += 1
            self.since = float(now)
            return True
        if not pressed and self.engaged:
            self.engaged = False
            self.since = None
            return True
        return False

    def problem(self) -> str | None:
        if self.engaged:
            return "emergency stop is engaged (latched): publish false on emergency_stop to release"
        return None

"""Immutable snapshots of the tabletop world (MISSION B1, B4).

A :class:`WorldState` holds everything the success predicates, the captions,
the policy (object and end-effector positions, MISSION B4) and the ROS node
need, and nothing that ties it to a live simulator: it can be stored with a
dataset and captions can be recomputed from it later. Physical contact between
bodies is part of the state because "resting on" and "held" are contact
relations, not just geometry.

Contact names: object names, ``"table"``, fixture names,
``"left_finger"``/``"right_finger"`` for the two gripper fingers and
``"robot"`` for every other link of the arm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

LEFT_FINGER = "left_finger"
RIGHT_FINGER = "right_finger"
ROBOT = "robot"
TABLE = "table"


@dataclass(frozen=True)
class ObjectState:
    """Pose and motion of one object in the world frame."""

    position: np.ndarray  # (3,) centre of mass, metres
    orientation: np.ndarray  # (4,) quaternion x, y, z, w
    linear_velocity: np.ndarray  # (3,) m/s
    size: float  # edge length of the cube, metres

    @property
    def speed(self) -> float:
        return float(np.linalg.norm(self.linear_velocity))


@dataclass(frozen=True)
class WorldState:
    """A snapshot of the world after a primitive (or at reset)."""

    objects: Mapping[str, ObjectState]
    ee_position: np.ndarray  # (3,) grasp point between the fingertips
    gripper_width: float  # distance between the fingers, metres
    gripper_closed: bool  # last gripper command was "close"
    holding: bool  # closed on something (fingers stopped apart), as a real gripper reports
    contacts: frozenset[frozenset[str]]  # unordered pairs of touching bodies
    table_height: float  # z of the table top
    sim_time: float = 0.0  # seconds of simulated time since reset
    object_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.object_names:
            object.__setattr__(self, "object_names", tuple(self.objects))

    def position(self, name: str) -> np.ndarray:
        return self.objects[name].position

    def touching(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.contacts

    def positions_array(self) -> np.ndarray:
        """Object positions as a (n_objects, 3) array in ``object_names`` order."""
        return np.stack([self.objects[n].position for n in self.object_names])

    def to_dict(self) -> dict:
        """JSON-friendly form (lists and plain floats) for datasets and messages."""
        return {
            "objects": {
                name: {
                    "position": [float(v) for v in s.position],
                    "orientation": [float(v) for v in s.orientation],
                    "linear_velocity": [float(v) for v in s.linear_velocity],
                    "size": float(s.size),
                }
                for name, s in self.objects.items()
            },
            "object_names": list(self.object_names),
            "ee_position": [float(v) for v in self.ee_position],
            "gripper_width": float(self.gripper_width),
            "gripper_closed": bool(self.gripper_closed),
            "holding": bool(self.holding),
            "contacts": sorted(sorted(pair) for pair in self.contacts),
            "table_height": float(self.table_height),
            "sim_time": float(self.sim_time),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> WorldState:
        """Inverse of :meth:`to_dict`."""
        objects = {
            name: ObjectState(
                position=np.asarray(s["position"], dtype=float),
                orientation=np.asarray(s["orientation"], dtype=float),
                linear_velocity=np.asarray(s["linear_velocity"], dtype=float),
                size=float(s["size"]),
            )
            for name, s in data["objects"].items()
        }
        return cls(
            objects=objects,
            ee_position=np.asarray(data["ee_position"], dtype=float),
            gripper_width=float(data["gripper_width"]),
            gripper_closed=bool(data["gripper_closed"]),
            holding=bool(data["holding"]),
            contacts=frozenset(frozenset(pair) for pair in data["contacts"]),
            table_height=float(data["table_height"]),
            sim_time=float(data.get("sim_time", 0.0)),
            object_names=tuple(data.get("object_names", objects)),
        )

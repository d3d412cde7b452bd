"""Message types for rosbag2 files without ROS: a rosbags typestore with our interfaces.

Bags hold CDR-serialised messages; the ``rosbags`` library (de)serialises them
from message definitions alone, so the bag tools work on machines without
ROS (MISSION C, rosbag replay). :func:`default_typestore` is the ROS 2 Jazzy
store (std_msgs, sensor_msgs, geometry_msgs, ... as ``ros2 bag`` on Jazzy sees
them) plus every ``grounded_interfaces`` message, parsed from the ``.msg``
files of the checkout or of an installed share directory. Types a bag brings
along in its own message definitions are added per bag (bags.py).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

#: Our interface package and where its ``.msg`` files may live.
INTERFACES_PACKAGE = "grounded_interfaces"
#: Environment variable naming an extra directory of grounded_interfaces ``.msg`` files.
MSG_DIR_ENV = "GROUNDED_INTERFACES_MSG_DIR"


def interface_msg_dirs() -> list[Path]:
    """Directories that may hold ``grounded_interfaces/msg/*.msg``, most specific first."""
    candidates = []
    if os.environ.get(MSG_DIR_ENV):
        candidates.append(Path(os.environ[MSG_DIR_ENV]))
    # A checkout: src/grounded_core/grounded_core/data -> src/grounded_interfaces/msg.
    candidates.append(Path(__file__).resolve().parents[3] / INTERFACES_PACKAGE / "msg")
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    candidates += [Path(p) / "share" / INTERFACES_PACKAGE / "msg" for p in prefixes]
    return [c for c in candidates if c.is_dir() and any(c.glob("*.msg"))]


def msg_types_from_dir(directory: Path, package: str) -> dict:
    """Parse every ``<Name>.msg`` in ``directory`` as ``<package>/msg/<Name>``."""
    types: dict = {}
    for path in sorted(Path(directory).glob("*.msg")):
        types.update(
            get_types_from_msg(path.read_text(encoding="utf-8"), f"{package}/msg/{path.stem}")
        )
    return types


@functools.lru_cache(maxsize=1)
def _interface_types() -> dict:
    dirs = interface_msg_dirs()
    return msg_types_from_dir(dirs[0], INTERFACES_PACKAGE) if dirs else {}


def default_typestore() -> Typestore:
    """A fresh Jazzy typestore with the grounded_interfaces messages registered.

    Fresh per call: bags may register their own definitions into it.
    """
    store = get_typestore(Stores.ROS2_JAZZY)
    types = _interface_types()
    if types:
        store.register(types)
    return store


def has_type(store: Typestore, msgtype: str) -> bool:
    """True when ``store`` can (de)serialise ``msgtype`` ("pkg/msg/Name")."""
    return msgtype in store.fielddefs


def normalise_type_name(msgtype: str) -> str:
    """ "pkg/Name" or "pkg/msg/Name" -> "pkg/msg/Name" (the form rosbag2 stores)."""
    parts = msgtype.strip().split("/")
    if len(parts) == 2 and all(parts):
        return f"{parts[0]}/msg/{parts[1]}"
    if len(parts) == 3 and all(parts):
        return msgtype.strip()
    raise ValueError(f"not a message type name: {msgtype!r} (expected pkg/msg/Name)")

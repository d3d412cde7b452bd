"""Python message classes of ROS type names ("pkg/msg/Name"), for generic pub/sub.

rclpy needs a message class to create a subscription or publisher even when
it only moves serialized bytes (``raw=True`` subscriptions, ``publish(bytes)``);
the class comes from the generated Python package of the type.
"""

from __future__ import annotations

import importlib


def message_class(type_name: str):
    """The rclpy message class of ``type_name`` ("pkg/msg/Name" or "pkg/Name")."""
    parts = type_name.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a message type name: {type_name!r}")
    package, kind, name = parts
    try:
        module = importlib.import_module(f"{package}.{kind}")
    except ImportError as error:
        raise ValueError(
            f"message package {package!r} is not installed here ({error}); "
            f"cannot use topics of type {type_name}"
        ) from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise ValueError(f"{package}.{kind} has no message {name!r} ({type_name})") from None

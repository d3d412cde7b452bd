"""ROS names and launch truth values, with the rules ros2 launch applies.

rclpy's validators cannot be used (the launcher must not import rclpy), so the
checks here follow the documented ROS 2 name rules: tokens of letters, digits
and underscores not starting with a digit; absolute namespaces without empty
tokens or a trailing slash.
"""

from __future__ import annotations

import re

_NAME_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def prefix_namespace(base: str | None, namespace: str | None) -> str | None:
    """Combine a pushed namespace with a node's (launch_ros semantics).

    A relative ``namespace`` goes under ``base``; an absolute one replaces it;
    the result is absolute without a trailing slash, or None when both are None.
    """
    if base is None and namespace is None:
        return None
    if namespace is None:
        combined = base or ""
    elif not base or namespace.startswith("/"):
        combined = namespace
    else:
        combined = ("" if base == "/" else base) + "/" + namespace
    if combined != "/":
        combined = combined.rstrip("/")
    return combined if combined.startswith("/") else "/" + combined


def namespace_problem(namespace: str) -> str | None:
    """Why ``namespace`` is not a valid absolute ROS namespace, or None."""
    if namespace == "/":
        return None
    if not namespace.startswith("/"):
        return "it must be absolute"
    if namespace.endswith("/"):
        return "it must not end with '/'"
    for token in namespace[1:].split("/"):
        if not token:
            return "it must not contain '//'"
        if not _NAME_TOKEN.match(token):
            return (
                f"'{token}' is not a valid name token (letters, digits and '_',"
                " not starting with a digit)"
            )
    return None


def node_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid ROS node name, or None."""
    if not _NAME_TOKEN.match(name):
        return "use letters, digits and '_', not starting with a digit"
    return None


def truth(value: str) -> bool | None:
    """ros2 launch's condition values: true/1 and false/0, any case; None otherwise."""
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None

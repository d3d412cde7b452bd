"""A small launcher for ROS 2 YAML launch files, for machines without ``ros2 launch``.

``launch``, ``launch_ros`` and the ``ros2`` CLI are not installable from PyPI,
so this package runs the project's ``launch/*.launch.yaml`` files itself: the
same files ``ros2 launch`` runs on a full ROS install, restricted to the subset
listed in ``README.md`` next to this file. It only starts and supervises
processes and never imports rclpy.

Pipeline: :mod:`.yaml_loader` (YAML with line numbers) -> :mod:`.parser`
(strict schema -> :mod:`.description` dataclasses, with :mod:`.substitutions`)
-> :mod:`.evaluate` (launch arguments, scopes, namespaces with :mod:`.names`,
inline parameters with :mod:`.params`, executables via :mod:`.resolve` ->
process specs) -> :mod:`.supervisor` (run them); :mod:`.cli` is the
``grounded-launch`` command.
"""

from .errors import LaunchError, LaunchFileError
from .evaluate import LaunchPlan, ProcessSpec, evaluate
from .parser import parse_launch_file
from .supervisor import Supervisor

__all__ = [
    "LaunchError",
    "LaunchFileError",
    "LaunchPlan",
    "ProcessSpec",
    "Supervisor",
    "evaluate",
    "parse_launch_file",
]

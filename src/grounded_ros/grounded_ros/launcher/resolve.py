"""Find packages and executables: the ament index, colcon prefixes, pip entry points.

``ros2 launch`` finds a package through the ament resource index of the
prefixes in ``AMENT_PREFIX_PATH`` and a node's executable in
``<prefix>/lib/<pkg>/<exec>``. This module does the same, with two fallbacks
for a plain ``pip install`` (no colcon, maybe no ``AMENT_PREFIX_PATH``):

* the Python environment's own prefix (``sys.prefix``) is searched after the
  prefixes of ``AMENT_PREFIX_PATH``, because ROS wheels and ament_python
  packages installed with pip register themselves there;
* a node executable may be a ``console_scripts`` entry point named ``exec`` of
  the installed distribution named ``pkg``; it is run with the current Python
  interpreter.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from collections.abc import Mapping

from .errors import LaunchError


class PackageNotFoundError(LaunchError):
    """A ``$(find-pkg-share)`` / ``$(find-pkg-prefix)`` / ``pkg`` that is not installed."""


class ExecutableNotFoundError(LaunchError):
    """A node's ``exec`` or an ``executable``'s command that cannot be found."""


def ament_prefixes(environment: Mapping[str, str] | None = None) -> list[str]:
    """The install prefixes to search, in order (``AMENT_PREFIX_PATH``, then sys.prefix)."""
    env = os.environ if environment is None else environment
    prefixes = [p for p in env.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if sys.prefix not in prefixes:
        prefixes.append(sys.prefix)
    return prefixes


def find_package_prefix(package: str, environment: Mapping[str, str] | None = None) -> str:
    """The prefix whose ament index lists ``package`` (like ``get_package_prefix``)."""
    prefixes = ament_prefixes(environment)
    for prefix in prefixes:
        marker = os.path.join(prefix, "share", "ament_index", "resource_index", "packages", package)
        if os.path.isfile(marker):
            return prefix
    raise PackageNotFoundError(
        f"package '{package}' not found in the ament index of: {', '.join(prefixes)}"
        " (set AMENT_PREFIX_PATH, e.g. by sourcing the colcon install's setup script)"
    )


def find_package_share(package: str, environment: Mapping[str, str] | None = None) -> str:
    """``<prefix>/share/<package>`` (like ``get_package_share_directory``)."""
    return os.path.join(find_package_prefix(package, environment), "share", package)


def _entry_point_command(package: str, executable: str) -> list[str] | None:
    """Command running the console script ``executable`` of distribution ``package``."""
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry_point in distribution.entry_points:
        if entry_point.group == "console_scripts" and entry_point.name == executable:
            module, attr = entry_point.module, entry_point.attr
            # Same as the generated console script, without depending on where
            # (or whether) pip wrote that script.
            code = f"import sys; import {module} as _m; sys.exit(_m.{attr}())"
            return [sys.executable, "-c", code]
    return None


def resolve_node_executable(
    package: str, executable: str, environment: Mapping[str, str] | None = None
) -> list[str]:
    """The command that starts ``exec`` of ``pkg`` (first element: the program)."""
    prefixes = ament_prefixes(environment)
    looked = []
    for prefix in prefixes:
        candidate = os.path.join(prefix, "lib", package, executable)
        looked.append(candidate)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return [candidate]
    command = _entry_point_command(package, executable)
    if command is not None:
        return command
    raise ExecutableNotFoundError(
        f"executable '{executable}' of package '{package}' not found: no executable file at "
        f"{', '.join(looked)}, and no console script '{executable}' in an installed"
        f" Python distribution named '{package}'"
    )


def resolve_command(program: str, environment: Mapping[str, str], cwd: str | None) -> str:
    """Check that ``program`` (a path, or a name looked up on PATH) can be run."""
    if os.sep in program:
        path = program if os.path.isabs(program) or cwd is None else os.path.join(cwd, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return program
        raise ExecutableNotFoundError(f"'{program}' is not an executable file")
    found = shutil.which(program, path=environment.get("PATH", os.defpath))
    if found is None:
        raise ExecutableNotFoundError(f"'{program}' not found on PATH")
    return program

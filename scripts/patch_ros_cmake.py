"""Point the ROS 2 wheels' exported CMake files at this environment's Python.

The ros-jazzy-* wheels on PyPI were built in a manylinux container, and their
exported ``*.cmake`` files name that container's Python include directory and
NumPy include directory (e.g. ``/opt/python/cp311-cp311/include/python3.11``).
Building our own interfaces against them then fails on any other machine. This
script rewrites every such path that does not exist here to this interpreter's
include directory and NumPy's, so the fix does not depend on where the wheels
were built. It is idempotent and is re-run after every install of ROS wheels.

Usage: python scripts/patch_ros_cmake.py PREFIX   (normally $VIRTUAL_ENV)
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

# An absolute path to a Python include dir ("/.../include/python3.11") or to
# NumPy's C headers ("/.../site-packages/numpy/_core/include"), stopping at the
# separators CMake uses inside lists and strings.
PYTHON_INCLUDE = re.compile(r"/[^;\"'\s)]*?/include/python3\.\d+")
NUMPY_INCLUDE = re.compile(r"/[^;\"'\s)]*?/numpy/(?:_core|core)/include")


def _replace_missing(pattern: re.Pattern[str], text: str, replacement: str) -> tuple[str, int]:
    """Replace every match of pattern that is not an existing path."""
    count = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) == replacement or Path(match.group(0)).exists():
            return match.group(0)
        count += 1
        return replacement

    return pattern.sub(swap, text), count


def patch_prefix(prefix: Path) -> int:
    """Rewrite stale include paths under prefix/share; return the number of files changed."""
    import numpy  # imported here: only needed when patching

    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for cmake_file in sorted((prefix / "share").glob("*/cmake/*.cmake")):
        text = cmake_file.read_text(encoding="utf-8")
        if "/include/python3" not in text and "numpy" not in text:
            continue
        new_text, n_py = _replace_missing(PYTHON_INCLUDE, text, python_include)
        new_text, n_np = _replace_missing(NUMPY_INCLUDE, new_text, numpy_include)
        if n_py or n_np:
            tmp = cmake_file.with_suffix(".cmake.tmp")
            tmp.write_text(new_text, encoding="utf-8")
            tmp.replace(cmake_file)
            changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    prefix = Path(args[0])
    if not (prefix / "share").is_dir():
        print(
            f"error: {prefix}/share does not exist: is {prefix} a venv with ROS wheels?",
            file=sys.stderr,
        )
        return 2
    changed = patch_prefix(prefix)
    print(f"patch_ros_cmake: {changed} CMake file(s) pointed at {sysconfig.get_paths()['include']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

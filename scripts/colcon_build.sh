#!/usr/bin/env bash
# colcon build of the workspace on the pip path (the ROS way, without apt ROS).
# On a real ROS 2 install (e.g. the docker image) just run, from the repo root:
#     source /opt/ros/jazzy/setup.bash && colcon build
# COLCON_BUILD_BASE / COLCON_INSTALL_BASE / COLCON_LOG_PATH move the outputs.
# Here the ROS 2 "underlay" is the venv (its wheels and CMake exports), so we
# point colcon at it. Result: build/colcon and install/ (source install/setup.bash).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "$ROOT" && realpath -m "${VENV:-.venv}")"  # absolute: CMake and colcon need it
cd "$ROOT"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export PATH="$VENV/bin:$PATH"
export COLCON_LOG_PATH="${COLCON_LOG_PATH:-$ROOT/log}"
exec "$VENV/bin/colcon" build \
  --base-paths "$ROOT/src" \
  --build-base "${COLCON_BUILD_BASE:-$ROOT/build/colcon}" \
  --install-base "${COLCON_INSTALL_BASE:-$ROOT/install}" \
  --metas colcon.meta \
  --cmake-args "-DPython3_EXECUTABLE=$VENV/bin/python" \
  "$@"

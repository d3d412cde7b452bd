#!/usr/bin/env bash
# The README's "run" command: the main job of the project on its embedded
# defaults, through the project's launcher. Extra arguments go to the launch
# file (name:=value).
#
# Today's main job: the foundation graph (launch/transport_demo.launch.yaml),
# a synthetic camera and a monitor in two processes over ROS 2 / Fast DDS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "$ROOT" && realpath -m "${VENV:-.venv}")"  # absolute: CMake and colcon need it
cd "$ROOT"
# Keep a demo on a shared machine to itself unless the user chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/runs/ros_log}"
mkdir -p runs
exec "$VENV/bin/grounded-launch" launch/transport_demo.launch.yaml \
  duration_s:=10 summary_file:="$ROOT/runs/transport_demo_summary.json" "$@"

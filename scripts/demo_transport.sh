#!/usr/bin/env bash
# The foundation demo (make demo-transport): launch/transport_demo.launch.yaml through
# the project's launcher, a synthetic 640x480 camera and a stream monitor in two
# processes over ROS 2 / Fast DDS; ends after 10 s with runs/transport_demo_summary.json.
# Extra arguments go to the launch file (name:=value).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "$ROOT" && realpath -m "${VENV:-.venv}")"  # absolute: CMake and colcon need it
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/runs/ros_log}"
mkdir -p runs
exec "$VENV/bin/grounded-launch" launch/transport_demo.launch.yaml \
  duration_s:=10 summary_file:="$ROOT/runs/transport_demo_summary.json" "$@"

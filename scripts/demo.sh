#!/usr/bin/env bash
# The README's "run" command (make demo): the tabletop stack end to end over ROS 2 on
# the embedded defaults (config/demo.yaml), through grounded-demo
# (src/grounded_ros/grounded_ros/demo/): the simulator, the CLIP captioner, the LLM
# planner and the policy (launch/demo.launch.yaml) are started with the project's
# launcher; the instruction "stack the red object on the blue object" goes to the
# policy's execute_task action; the plan, the captions as they are detected and the
# result are printed; runs/demo/episode.mp4 and runs/demo/learning_curve.png are
# written. A missing captioner (or policy) is trained and cached first (progress bars).
# Extra arguments go to grounded-demo, e.g.
#   scripts/demo.sh --seed 3 --instruction "stack the red object on the blue object"
#   scripts/demo.sh --retrain                 # train the policy from scratch
#   scripts/demo.sh --set caption_source=state   # captions from the simulator, no captioner
# The earlier foundation demo (camera + monitor over Fast DDS) is scripts/demo_transport.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "$ROOT" && realpath -m "${VENV:-.venv}")"  # absolute: CMake and colcon need it
cd "$ROOT"
# Keep a demo on a shared machine to itself unless the user chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/runs/ros_log}"
export PYTHONUNBUFFERED=1
mkdir -p runs
exec "$VENV/bin/grounded-demo" "$@"

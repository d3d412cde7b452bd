#!/usr/bin/env bash
# Source ROS 2 and the workspace, use the project's DDS profile, run the command.
set -e
source /opt/ros/jazzy/setup.bash
source /ws/install/setup.bash
export FASTRTPS_DEFAULT_PROFILES_FILE="${FASTRTPS_DEFAULT_PROFILES_FILE:-/ws/config/fastdds_large_data.xml}"
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$FASTRTPS_DEFAULT_PROFILES_FILE}"
exec "$@"

"""Test-session setup shared by every test: ROS 2 isolation and paths.

ROS tests talk over real DDS, so each test run is isolated from anything else
on the machine (MISSION/PLATFORM): discovery limited to localhost, a domain id
unique to this run, logs in a temporary directory, and the project's Fast DDS
profile. This is set at import time, before any test imports rclpy, and child
processes inherit it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)  # ignored by Jazzy, confusing if set
# Domain ids 1-100 stay clear of the ephemeral port range with default settings.
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="grounded-roslog-")
_profile = str(REPO_ROOT / "config" / "fastdds_large_data.xml")
os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = _profile
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = _profile
os.environ.setdefault("PYTHONUNBUFFERED", "1")

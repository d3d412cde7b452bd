"""colcon (pip's colcon, against the venv's ROS wheels) builds the whole workspace,
and a node runs from the resulting install space, as documented for ROS users."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent

pytestmark = pytest.mark.ros


def test_colcon_builds_the_workspace_and_nodes_run_from_install(tmp_path):
    env = {
        **os.environ,
        "VENV": str(VENV),
        "COLCON_BUILD_BASE": str(tmp_path / "build"),
        "COLCON_INSTALL_BASE": str(tmp_path / "install"),
        "COLCON_LOG_PATH": str(tmp_path / "log"),
    }
    build = subprocess.run(
        ["bash", str(ROOT / "scripts" / "colcon_build.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "3 packages finished" in build.stdout

    install = tmp_path / "install"
    node = install / "grounded_ros" / "lib" / "grounded_ros" / "image_source"
    assert node.exists(), "colcon did not install the node where ros2 run looks"
    iface = install / "grounded_interfaces" / "lib" / "python3.11" / "site-packages"
    assert (iface / "grounded_interfaces" / "msg" / "_arm_command.py").exists()

    run = subprocess.run(
        [
            "bash",
            "-c",
            f"source {install}/setup.bash && {node} --ros-args -p max_frames:=3 -p rate_hz:=50.0 "
            f"&& {sys.executable} -c 'import grounded_interfaces.msg as m; print(m.__file__)'",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "published 3 frames, stopping" in run.stdout + run.stderr
    # the install space, not the venv, provides the interfaces once sourced
    assert str(install) in run.stdout

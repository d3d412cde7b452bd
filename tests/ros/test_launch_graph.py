"""The project launcher brings up a real node graph from a YAML launch file:
messages flow between the launched processes, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from sensor_msgs.msg import Image

from grounded_interfaces.msg import Metrics
from grounded_ros.qos import RELIABLE_FRAMES
from tests.ros.harness import REPO_ROOT, VENV_BIN, ClientNode, NodeProcess, descendants, pid_alive

pytestmark = pytest.mark.ros


def test_launch_file_graph_flows_and_ctrl_c_reaps_everything(tmp_path):
    launcher = NodeProcess(
        [
            str(VENV_BIN / "grounded-launch"),
            "launch/transport_demo.launch.yaml",
            "namespace:=lt",
            "duration_s:=0",
            "rate_hz:=20.0",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        tmp_path / "launch.out",
    )
    try:
        with ClientNode("launch_graph_client") as client:
            images: list[Image] = []
            metrics: list[Metrics] = []
            client.node.create_subscription(
                Image, "/lt/camera/image_raw", images.append, RELIABLE_FRAMES
            )
            client.node.create_subscription(Metrics, "/lt/monitor/metrics", metrics.append, 10)
            assert client.spin_until(lambda: len(images) >= 5 and len(metrics) >= 2, 30.0), (
                launcher.output()
            )
        assert (images[0].width, images[0].height, images[0].encoding) == (640, 480, "rgb8")
        received = dict(zip(metrics[-1].names, metrics[-1].values, strict=True))["received"]
        assert received > 0, "the monitor (a separate launched process) got no frames"
        children = descendants(launcher.pid)
        assert len(children) >= 2, "expected the two node processes under the launcher"
    finally:
        # Ctrl-C in a terminal reaches the launcher; it must forward and reap.
        if launcher.proc.poll() is None:
            os.kill(launcher.pid, signal.SIGINT)
        try:
            code = launcher.proc.wait(timeout=20)
        finally:
            launcher.stop()
    assert code == 0, launcher.output()
    time.sleep(0.2)
    leftovers = [pid for pid in children if pid_alive(pid)]
    assert leftovers == [], f"processes left behind: {leftovers}"


def test_transport_demo_command_runs_and_reports(tmp_path):
    """`make demo-transport`'s script: the graph comes up, measures, and ends by itself with 0."""
    summary = tmp_path / "summary.json"
    env = {**os.environ, "ROS_LOG_DIR": str(tmp_path / "log")}
    run = subprocess.run(
        ["bash", "scripts/demo_transport.sh", "duration_s:=3", f"summary_file:={summary}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "required process stream_monitor-1 exited with code 0" in run.stdout + run.stderr
    result = json.loads(summary.read_text())
    assert result["received"] > 30 and result["rejected"] == 0

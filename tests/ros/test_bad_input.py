"""A node fed malformed input logs a clear error and keeps running (real process, real DDS)."""

from __future__ import annotations

import pytest
from sensor_msgs.msg import Image

from grounded_interfaces.msg import Metrics
from grounded_ros.image_conversions import numpy_to_image
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros


def test_stream_monitor_survives_malformed_images(tmp_path):
    import numpy as np

    monitor = NodeProcess(
        node_command("stream_monitor", "-p", "report_period_s:=0.2"), tmp_path / "monitor.log"
    )
    try:
        with ClientNode("bad_input_client") as client:
            metrics: list[Metrics] = []
            client.node.create_subscription(Metrics, "/stream_monitor/metrics", metrics.append, 10)
            publisher = client.node.create_publisher(Image, "image", 10)
            assert client.spin_until(lambda: publisher.get_subscription_count() > 0, 20.0)

            bad = Image(height=10, width=10, encoding="rgb8", step=30, data=bytes(7))
            good = numpy_to_image(np.zeros((10, 10, 3), np.uint8), "rgb8")

            def counts():
                if not metrics:
                    return None
                m = dict(zip(metrics[-1].names, metrics[-1].values, strict=True))
                return int(m["received"]), int(m["rejected"])

            publisher.publish(bad)
            assert client.spin_until(lambda: counts() is not None and counts()[1] >= 1, 15.0)
            # still alive and still consuming good frames
            publisher.publish(good)
            assert client.spin_until(lambda: counts() is not None and counts()[0] >= 1, 15.0)
        assert monitor.proc.poll() is None, "monitor died on a malformed image"
    finally:
        monitor.stop()
    log = monitor.output()
    assert "rejected input: data length 7 does not match height*step = 10*30 = 300" in log

"""grounded_core: the ROS-free library behind grounded_agent.

Everything that learns, simulates or reasons lives here and never imports
rclpy, so it is usable and testable on any Python machine. The ROS 2 nodes in
``grounded_ros`` only translate messages to and from these objects.
"""

__version__ = "0.1.0"

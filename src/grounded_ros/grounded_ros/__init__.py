"""grounded_ros: the ROS 2 side of grounded_agent.

Nodes (``grounded_ros.nodes``) only translate messages to and from
``grounded_core`` objects, hold parameters and schedule work; the shared
plumbing (image conversion, parameters, QoS, the node runtime) lives in the
modules beside this one, and ``grounded_ros.launcher`` runs the project's
YAML launch files on machines without ``ros2 launch``.
"""

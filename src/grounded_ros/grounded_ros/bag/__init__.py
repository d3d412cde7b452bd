"""Live rosbag2 recording and playback for pip installs without ``ros2 bag`` (MISSION C).

``grounded-bag`` (cli.py) records topics to rosbag2 (recorder.py: raw CDR
from generic subscriptions into grounded_core.data.bags.BagWriter), plays a
bag onto live topics with its timing (player.py: raw CDR through publishers),
and wraps the ROS-free tools (info, import-video, export-frames). Bags are
the files ``ros2 bag`` reads and writes.
"""

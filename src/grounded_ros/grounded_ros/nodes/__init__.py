"""One module per ROS 2 node; each has a ``main(args=None)`` console entry point."""

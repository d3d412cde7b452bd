"""Install grounded_ros: the ROS 2 nodes (one console script per node) and the launcher.

colcon puts the node executables in lib/grounded_ros (setup.cfg), where
`ros2 run` and `ros2 launch` look; pip puts them on the venv's PATH, where the
project's launcher finds them through their entry points.
"""

from setuptools import find_packages, setup

PACKAGE = "grounded_ros"

# One console script per node: name -> module (each node module has main()).
NODES = {
    "image_source": "grounded_ros.nodes.image_source",
    "stream_monitor": "grounded_ros.nodes.stream_monitor",
    "babyai_text_env": "grounded_ros.nodes.babyai_text_env",
    "tabletop_sim": "grounded_ros.nodes.tabletop_sim",
    "arm_bridge": "grounded_ros.nodes.arm_bridge",
    "glam_learner": "grounded_ros.nodes.glam_learner",
    "object_tracker": "grounded_ros.nodes.object_tracker",
    "demo_observer": "grounded_ros.nodes.demo_observer",
    "captioner": "grounded_ros.nodes.captioner",
    "planner": "grounded_ros.nodes.planner",
    "policy": "grounded_ros.nodes.policy",
    "collect_infer_trainer": "grounded_ros.nodes.collect_infer_trainer",
}

# Project tools that are not nodes.
TOOLS = {
    "grounded-launch": "grounded_ros.launcher.cli:main",
    "grounded-bag": "grounded_ros.bag.cli:main",
    "grounded-demo": "grounded_ros.demo.cli:main",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["launcher/README.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools", "numpy", "pyyaml"],
    zip_safe=False,
    license="Apache-2.0",
    description="ROS 2 nodes of grounded_agent",
    entry_points={
        "console_scripts": [f"{name} = {module}:main" for name, module in NODES.items()]
        + [f"{name} = {target}" for name, target in TOOLS.items()],
    },
)

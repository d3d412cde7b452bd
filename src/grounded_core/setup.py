"""Install grounded_core: the ROS-free library (pip and colcon both use this)."""

from setuptools import find_packages, setup

PACKAGE = "grounded_core"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["tests"]),
    package_data={PACKAGE: ["**/*.yaml", "**/*.json", "**/*.txt"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["numpy", "pyyaml", "minigrid>=3.2,<4", "gymnasium>=1.0"],
    zip_safe=False,
    license="Apache-2.0",
    description="ROS-free core of grounded_agent",
    entry_points={
        "console_scripts": [
            "grounded-babyai = grounded_core.babyai_text.cli:main",
            "grounded-glam = grounded_core.learning.glam_cli:main",
            "grounded-clip = grounded_core.vision.cli:main",
            "grounded-collect-infer = grounded_core.learning.collect_infer:main",
            "grounded-plan = grounded_core.llm.planner_cli:main",
            "grounded-plan-tune = grounded_core.llm.planner_tune_cli:main",
            "grounded-demo-videos = grounded_core.tabletop.demo_videos:main",
        ]
    },
)

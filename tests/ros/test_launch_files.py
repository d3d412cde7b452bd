"""Every launch file in launch/ is accepted by the project launcher: arguments
declared, substitutions valid, every node's executable found (dry run)."""

from __future__ import annotations

import subprocess

import pytest

from tests.ros.harness import REPO_ROOT, VENV_BIN

LAUNCH_FILES = sorted((REPO_ROOT / "launch").glob("*.launch.yaml"))


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_dry_run(path, tmp_path):
    run = subprocess.run(
        [str(VENV_BIN / "grounded-launch"), str(path), "--dry-run", "--log-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "cmd:" in run.stdout

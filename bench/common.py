"""Shared by every benchmark: machine description and writing results files.

Each benchmark writes bench/results/<name>.json (machine, commit, settings,
numbers) and a short <name>.md table for people, atomically, so a results file
is never half-written.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
#: The six "stack X on Y" tasks of the tabletop world, in the order the benchmarks
#: train them (each colour is moved, and is a base, twice).
STACK_TASKS = (
    "stack_red_on_blue",
    "stack_blue_on_green",
    "stack_green_on_red",
    "stack_red_on_green",
    "stack_green_on_blue",
    "stack_blue_on_red",
)


def git_commit() -> str:
    """HEAD commit, with '+dirty' when the tree has changes; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(packages: tuple[str, ...] = ()) -> dict:
    """Where the numbers were measured."""
    cpu_model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "packages": {p: _version(p) for p in packages},
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_results(name: str, payload: dict, markdown: str) -> tuple[Path, Path]:
    """Write results/<name>.json and results/<name>.md; return both paths."""
    json_path = RESULTS_DIR / f"{name}.json"
    md_path = RESULTS_DIR / f"{name}.md"
    _atomic_write(json_path, json.dumps(payload, indent=2, sort_keys=False) + "\n")
    _atomic_write(md_path, markdown.rstrip() + "\n")
    return json_path, md_path

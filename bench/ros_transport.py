"""Benchmark: 640x480 rgb8 at 30 Hz between two processes over ROS 2 / Fast DDS.

Runs the project's own ``image_source`` and ``stream_monitor`` nodes as two
processes on an isolated DDS domain, with the shipped large-data profile
(config/fastdds_large_data.xml) and, for comparison, with Fast DDS defaults.
Writes bench/results/ros_transport.{json,md}: received rate and latency
percentiles (receive time minus header stamp, same machine clock).

Targets (issue 2): >= 29 Hz received and p50 latency <= 5 ms with the profile.

    python bench/ros_transport.py [--duration 20] [--rate 30] [--qos reliable_frames]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, git_commit, machine_info, write_results

BIN = Path(sys.executable).parent
PROFILE = REPO_ROOT / "config" / "fastdds_large_data.xml"


def run_case(profile: Path | None, args: argparse.Namespace, domain: int) -> dict:
    """Run source + monitor once; return the monitor's summary."""
    workdir = Path(tempfile.mkdtemp(prefix="ros-transport-"))
    env = {
        **os.environ,
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": str(domain),
        "ROS_LOG_DIR": str(workdir / "log"),
    }
    for var in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(var, None)
        if profile is not None:
            env[var] = str(profile)
    summary_file = workdir / "summary.json"
    frames = int(args.rate * (args.duration + 10))
    common = ["-p", f"qos:={args.qos}"]
    source = subprocess.Popen(
        [
            str(BIN / "image_source"),
            "--ros-args",
            "-p",
            f"rate_hz:={args.rate}",
            "-p",
            f"max_frames:={frames}",
            "-p",
            f"width:={args.width}",
            "-p",
            f"height:={args.height}",
            *common,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        monitor = subprocess.run(
            [
                str(BIN / "stream_monitor"),
                "--ros-args",
                "-p",
                f"duration_s:={args.duration}",
                "-p",
                f"warmup_frames:={int(args.rate)}",
                "-p",
                f"summary_file:={summary_file}",
                "-p",
                "report_period_s:=5.0",
                *common,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=args.duration + 60,
        )
    finally:
        source.terminate()
        source.wait(timeout=10)
    if monitor.returncode != 0 or not summary_file.exists():
        raise RuntimeError(f"monitor failed ({monitor.returncode}):\n{monitor.stderr[-2000:]}")
    return json.loads(summary_file.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per case")
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--qos", default="reliable_frames")
    args = parser.parse_args()

    domain = 100 - os.getpid() % 40
    cases = {}
    for label, profile in (("shipped_profile", PROFILE), ("fastdds_defaults", None)):
        print(
            f"[ros_transport] {label}: {args.duration:.0f} s of {args.width}x{args.height} "
            f"rgb8 at {args.rate} Hz ...",
            flush=True,
        )
        cases[label] = run_case(profile, args, domain)
        print(f"[ros_transport] {label}: {json.dumps(cases[label])}", flush=True)

    shipped = cases["shipped_profile"]
    targets = {
        "rate_hz>=29": shipped["rate_hz"] >= 29.0,
        "p50_ms<=5": shipped["p50_ms"] <= 5.0,
    }
    payload = {
        "benchmark": "ros_transport",
        "machine": machine_info(("ros-jazzy-rclpy", "ros-jazzy-rmw-fastrtps-cpp", "numpy")),
        "commit": git_commit(),
        "settings": {
            **vars(args),
            "encoding": "rgb8",
            "rmw": "rmw_fastrtps_cpp",
            "dds_profile": str(PROFILE.relative_to(REPO_ROOT)),
            "latency": "receive time - header.stamp (same clock)",
        },
        "results": cases,
        "targets_met": targets,
    }
    rows = "\n".join(
        f"| {label} | {c['received']} | {c['rate_hz']:.2f} | {c['p50_ms']:.2f} | "
        f"{c['p90_ms']:.2f} | {c['p99_ms']:.2f} | {c['max_ms']:.2f} |"
        for label, c in cases.items()
    )
    markdown = f"""# ROS 2 transport: {args.width}x{args.height} rgb8 at {args.rate:g} Hz, two processes

Commit `{payload["commit"]}`, {payload["machine"]["cpu_model"]} ({payload["machine"]["cpu_count"]} cores), {payload["machine"]["date_utc"]}.
QoS `{args.qos}`, {args.duration:g} s measured per case after a 1 s warm-up.

| DDS config | frames | rate (Hz) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |
|---|---|---|---|---|---|---|
{rows}

Targets with the shipped profile: rate >= 29 Hz: {"met" if targets["rate_hz>=29"] else "NOT met"}; p50 <= 5 ms: {"met" if targets["p50_ms<=5"] else "NOT met"}.
Produced by `python bench/ros_transport.py` (`make bench-transport`).
"""
    json_path, _ = write_results("ros_transport", payload, markdown)
    print(markdown)
    print(f"wrote {json_path}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

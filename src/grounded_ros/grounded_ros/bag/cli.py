"""``grounded-bag``: record, play, inspect and convert rosbag2 bags on a pip install.

``ros2 bag`` is not installable from PyPI; this tool covers what the stack
needs and writes/reads the same files (in the docker image ``ros2 bag`` works
on them too)::

    grounded-bag record -o demo_bag /camera/front_left/image_raw /object_states
    grounded-bag record --all -o everything --storage sqlite3 --duration 10
    grounded-bag play demo_bag --rate 2 --loop --remap /camera/front_left/image_raw:=/image
    grounded-bag info demo_bag
    grounded-bag import-video demo.mp4 demo_bag --topic /camera/image_raw [--compressed]
    grounded-bag export-frames demo_bag frames/            # PNGs + frames.csv
    grounded-bag export-frames demo_bag demo.mp4 --fps 30  # a video

ROS arguments (``--ros-args -p use_sim_time:=true``) after the subcommand's
own options go to rclpy. Exit codes: 0 success, 1 a bag/video error (one
line on stderr), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from grounded_core.data.bags import DEFAULT_STORAGE, STORAGES, BagError, read_info
from grounded_core.data.video import DEFAULT_TOPIC, VideoError, export_frames, import_video


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grounded-bag",
        description="Record, play, inspect and convert rosbag2 bags (the files ros2 bag uses).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rec = sub.add_parser("record", help="record topics to a bag")
    rec.add_argument("topics", nargs="*", help="topics to record")
    rec.add_argument("-a", "--all", action="store_true", help="record every topic")
    rec.add_argument("-o", "--output", help="bag directory (default rosbag2_<date>)")
    rec.add_argument("-s", "--storage", choices=STORAGES, default=DEFAULT_STORAGE)
    rec.add_argument(
        "--exclude",
        help="regex of topics not to record with --all (/rosout, /parameter_events never are)",
    )
    rec.add_argument("--duration", type=float, default=0.0, help="stop after seconds (0: never)")
    rec.add_argument("--max-messages", type=int, default=0, help="stop after N messages")

    play = sub.add_parser("play", help="play a bag onto live topics")
    play.add_argument("bag", help="bag directory or .mcap/.db3 file")
    play.add_argument("--topics", nargs="+", help="only these topics")
    play.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO")
    play.add_argument("-r", "--rate", type=float, default=1.0, help="speed factor")
    play.add_argument("-l", "--loop", action="store_true")
    play.add_argument("--start-offset", type=float, default=0.0, help="skip the first seconds")
    play.add_argument("--clock", type=float, default=0.0, help="publish /clock at this rate (Hz)")
    play.add_argument("--delay", type=float, default=0.0, help="seconds to wait before playing")
    play.add_argument(
        "--wait-for-subscribers",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long for a subscriber on every played topic",
    )

    info = sub.add_parser("info", help="summarise a bag")
    info.add_argument("bag")

    imp = sub.add_parser("import-video", help="video file -> bag of image messages")
    imp.add_argument("video")
    imp.add_argument("output", help="new bag directory")
    imp.add_argument("--topic", default=DEFAULT_TOPIC)
    imp.add_argument("--compressed", action="store_true", help="sensor_msgs/CompressedImage")
    imp.add_argument("--format", choices=("jpeg", "png"), default="jpeg")
    imp.add_argument("--quality", type=int, default=90, help="JPEG quality")
    imp.add_argument("--frame-id", default="camera")
    imp.add_argument("--start-time", type=float, help="ROS time of frame 0 in s (default: now)")
    imp.add_argument("-s", "--storage", choices=STORAGES, default=DEFAULT_STORAGE)
    imp.add_argument("--stride", type=int, default=1, help="keep every n-th frame")
    imp.add_argument("--max-frames", type=int)

    exp = sub.add_parser("export-frames", help="image topic of a bag -> PNG files or a video")
    exp.add_argument("bag")
    exp.add_argument("output", help="new directory (PNGs) or a .mp4/.avi file")
    exp.add_argument("--topic", help="image topic (default: the bag's only one)")
    exp.add_argument("--fps", type=float, help="video frame rate (default: from the stamps)")
    exp.add_argument("--every", type=int, default=1, help="keep every n-th frame")
    exp.add_argument("--max-frames", type=int)
    return parser


def _split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--ros-args" in argv:
        index = argv.index("--ros-args")
        return argv[:index], argv[index:]
    return argv, []


def _record(args, ros_args: list[str]) -> int:
    from ..node_runtime import run_node
    from .recorder import BagRecorder

    output = Path(args.output or time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S"))
    return run_node(
        lambda: BagRecorder(
            output,
            args.topics,
            record_all=args.all,
            storage=args.storage,
            exclude=args.exclude,
            duration=args.duration,
            max_messages=args.max_messages,
        ),
        ["grounded-bag", *ros_args],
    )


def _play(args, ros_args: list[str]) -> int:
    from ..node_runtime import run_node
    from .player import BagPlayer, parse_remaps

    try:
        remap = parse_remaps(args.remap)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run_node(
        lambda: BagPlayer(
            Path(args.bag),
            topics=args.topics,
            remap=remap,
            rate=args.rate,
            loop=args.loop,
            start_offset=args.start_offset,
            clock_hz=args.clock,
            delay=args.delay,
            wait_for_subscribers=args.wait_for_subscribers,
        ),
        ["grounded-bag", *ros_args],
    )


def main(argv: Sequence[str] | None = None) -> int:
    own, ros_args = _split_ros_args(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(own)
    try:
        if args.command == "record":
            return _record(args, ros_args)
        if args.command == "play":
            return _play(args, ros_args)
        if args.command == "info":
            print(read_info(args.bag).format())
            return 0
        if args.command == "import-video":
            summary = import_video(
                args.video,
                args.output,
                args.topic,
                compressed=args.compressed,
                compressed_format=args.format,
                quality=args.quality,
                frame_id=args.frame_id,
                start_ns=None if args.start_time is None else round(args.start_time * 1e9),
                storage=args.storage,
                stride=args.stride,
                max_frames=args.max_frames,
                progress=True,
            )
            print(
                f"wrote {summary.frames} frames to {summary.bag} on {summary.topic} "
                f"({(summary.last_ns - summary.first_ns) / 1e9:.3f} s)"
            )
            if summary.expected_frames and summary.frames < summary.expected_frames:
                print(
                    f"warning: the video announced {summary.expected_frames} frames, "
                    f"{summary.frames} decoded (truncated file?)",
                    file=sys.stderr,
                )
            return 0
        if args.command == "export-frames":
            summary = export_frames(
                args.bag,
                args.output,
                args.topic,
                fps=args.fps,
                every=args.every,
                max_frames=args.max_frames,
                progress=True,
            )
            rate = f" at {summary.fps:.2f} fps" if summary.fps else ""
            print(f"wrote {summary.frames} frames of {summary.topic} to {summary.output}{rate}")
            if summary.skipped:
                print(f"warning: {summary.skipped} messages did not decode", file=sys.stderr)
            return 0
    except (BagError, VideoError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())

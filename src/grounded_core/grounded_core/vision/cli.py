"""``grounded-clip``: render the dataset, train, calibrate, evaluate, caption images/videos.

Examples::

    grounded-clip render --out data/captioner/train --n 1500 --seed 0
    grounded-clip train --default                     # the cached default captioner
    grounded-clip train --run-dir runs/clip --config config/captioner.yaml --set epochs=4
    grounded-clip evaluate --model runs/clip --data data/captioner/test
    grounded-clip calibrate --model runs/clip --set target_precision=0.99
    grounded-clip caption --model default frame.png demo.mp4 --json
    grounded-clip info --model default

``--model`` takes ``default`` (the cached default, trained on first use), a
checkpoint or run folder, or an open_clip architecture name with ``--pretrained``
(a local weights file). Exit codes: 0 ok, 1 targets not met (evaluate
``--require-targets``), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .config import DEFAULT_GAMMA, FUSIONS, CaptionerConfigError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="default",
        help="'default', a checkpoint/run folder, or an open_clip arch name",
    )
    parser.add_argument(
        "--pretrained", default=None, help="weights file for a named open_clip architecture"
    )
    parser.add_argument(
        "--allow-download",
        action="store_true",
        help="allow an open_clip pretrained tag to download (off: offline)",
    )
    parser.add_argument(
        "--captions",
        default=None,
        help="caption file (config/captions.yaml format) to score instead",
    )
    parser.add_argument(
        "--fusion",
        choices=FUSIONS,
        default=None,
        help="how the cameras of a state combine (default: the checkpoint's)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")


def _load_captioner(args):
    import torch

    from .captioner import Captioner
    from .config import load_caption_set

    if args.threads:
        torch.set_num_threads(args.threads)
    captioner = Captioner.from_pretrained(
        args.model,
        pretrained=args.pretrained,
        allow_download=args.allow_download,
        fusion=args.fusion,
    )
    if args.captions:
        caption_set = load_caption_set(args.captions)
        captioner.captions = list(caption_set.captions)
        if caption_set.threshold != DEFAULT_GAMMA:
            captioner.gamma = caption_set.threshold
    return captioner


# ---------------------------------------------------------------------------- render


def cmd_render(args) -> int:
    from .data import render_dataset

    root = render_dataset(
        args.out,
        args.n,
        seed=args.seed,
        world=args.world,
        expert_fraction=args.expert_fraction,
        cameras=args.cameras.split(",") if args.cameras else None,
        progress=not args.no_progress,
    )
    meta = json.loads((Path(root) / "meta.json").read_text(encoding="utf-8"))
    print(f"dataset {root}: {meta['n_states']} states, cameras {sorted(meta['cameras'])}")
    for caption, count in meta["positives"].items():
        print(f"  {count:5d} states  {caption}")
    return 0


# ---------------------------------------------------------------------------- train


def cmd_train(args) -> int:
    from .config import load_captioner_config
    from .default import default_run_dir
    from .train import train_captioner

    overrides = list(args.set or [])
    if args.threads:
        overrides.append(f"num_threads={args.threads}")
    config = load_captioner_config(args.config, overrides)
    if args.default:
        run_dir = default_run_dir(config)
    elif args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        print("error: give --run-dir DIR or --default", file=sys.stderr)
        return 2
    print(f"training {config.arch} in {run_dir} (config {config.fingerprint()})", flush=True)
    result = train_captioner(
        config,
        run_dir,
        train_data=args.train_data,
        val_data=args.val_data,
        resume=not args.no_resume,
        progress=not args.no_progress,
    )
    if not result.trained_now:
        print(f"already trained: {result.checkpoint} (delete it or use --no-resume to retrain)")
    print(f"checkpoint: {result.checkpoint}")
    print("thresholds:")
    for caption, t in result.thresholds.items():
        print(f"  {t:.3f}  {caption}")
    return 0


# ---------------------------------------------------------------------------- calibrate


def cmd_calibrate(args) -> int:
    from .config import CaptionerConfig, parse_overrides
    from .train import calibrate_checkpoint

    changes = dict(parse_overrides(args.set or []))
    typed = CaptionerConfig.from_dict(changes, source="--set") if changes else None
    kwargs = {k: getattr(typed, k) for k in changes} if typed else {}
    result = calibrate_checkpoint(args.model, args.val_data, **kwargs)
    print(f"recalibrated {result.checkpoint}")
    for caption, t in result.thresholds.items():
        print(f"  {t:.3f}  {caption}")
    return 0


# ---------------------------------------------------------------------------- evaluate


def cmd_evaluate(args) -> int:
    from .data import load_frames
    from .evaluate import evaluate, format_table, meets_targets

    captioner = _load_captioner(args)
    frames = load_frames(
        args.data,
        captioner.captions,
        cameras=args.cameras.split(",") if args.cameras else None,
        max_states=args.max_states,
    )
    report = evaluate(captioner, frames, fusion=args.fusion)
    print(f"{report.n_states} states, {report.n_frames} frames, fusion={report.fusion}")
    print("\nper state (cameras fused):")
    print(format_table(report.states))
    for camera in frames.cameras:
        print(f"\nper frame, camera {camera}:")
        print(format_table(report.frames[camera]))
    print(f"\nexact set match (states): {report.exact_match:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    if args.require_targets and not all(meets_targets(report.states).values()):
        return 1
    return 0


# ---------------------------------------------------------------------------- caption


def _read_image(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _caption_video(captioner, path: Path, every: int, debounce: int) -> dict:
    import cv2

    from .streaming import StreamingCaptioner

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: not a readable video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    stream = StreamingCaptioner(captioner, debounce=debounce)
    frames, events, active = [], [], set()
    index = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % every == 0:
                t = index / fps
                detection = stream.update(
                    cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), "video", stamp=t, now=t
                )
                if detection is not None:
                    frames.append(
                        {
                            "frame": index,
                            "time_s": round(t, 3),
                            "detected": detection.captions,
                            "scores": [round(float(s), 4) for s in detection.scores],
                        }
                    )
                    now_active = set(detection.captions)
                    for caption in detection.captions:  # sub-goals that fire, in time order
                        if caption not in active:
                            events.append(
                                {"caption": caption, "frame": index, "time_s": round(t, 3)}
                            )
                    active = now_active
            index += 1
    finally:
        capture.release()
    return {
        "file": str(path),
        "fps": fps,
        "frames": frames,
        "events": events,
        "sequence": [e["caption"] for e in events],
    }


def cmd_caption(args) -> int:
    captioner = _load_captioner(args)
    captions = captioner.captions
    results = []
    for name in args.inputs:
        path = Path(name)
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 2
        if path.suffix.lower() in VIDEO_SUFFIXES:
            results.append(_caption_video(captioner, path, args.every, args.debounce))
            continue
        image = _read_image(path)
        scores = captioner.score(image)[0]
        thresholds = captioner.thresholds
        results.append(
            {
                "file": str(path),
                "detected": [c for c, s, t in zip(captions, scores, thresholds) if s >= t],
                "scores": {c: round(float(s), 4) for c, s in zip(captions, scores)},
            }
        )
    if args.json:
        print(
            json.dumps(
                {
                    "captions": captions,
                    "thresholds": captioner.thresholds.tolist(),
                    "results": results,
                },
                indent=2,
            )
        )
        return 0
    for result in results:
        print(result["file"])
        if "events" in result:
            print(f"  {len(result['frames'])} frames scored; sub-goals in time order:")
            for event in result["events"]:
                print(f"    t={event['time_s']:7.2f}s  {event['caption']}")
            continue
        for caption in captions:
            mark = "*" if caption in result["detected"] else " "
            print(f"  {mark} {result['scores'][caption]:.3f}  {caption}")
    return 0


# ---------------------------------------------------------------------------- info


def cmd_info(args) -> int:
    captioner = _load_captioner(args)
    scale, bias = captioner.logit_scale_bias()
    meta = captioner.metadata
    info = meta.get("captioner", {})
    print(repr(captioner))
    if "checkpoint" in meta:
        print(f"checkpoint: {meta['checkpoint']} (step {meta.get('step')})")
    print(f"score = sigmoid({scale:.3f} * cos + {bias:.3f}); mode {captioner.score_mode}")
    if info:
        print(
            f"trained on {info.get('train_states')} states / {info.get('train_frames')} "
            f"frames, cameras {info.get('cameras')}, {info.get('train_seconds', 0):.0f} s"
        )
    print("caption thresholds (score | equivalent cosine):")
    for caption, t, c in zip(
        captioner.captions, captioner.thresholds, captioner.cosine_thresholds()
    ):
        print(f"  {t:.3f} | {c:+.3f}  {caption}")
    return 0


# ---------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grounded-clip", description="CLIP captioner of grounded_agent (MISSION B2)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("render", help="render labelled tabletop frames")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, required=True, help="number of states")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--world", default="tabletop")
    p.add_argument("--expert-fraction", type=float, default=0.85)
    p.add_argument("--cameras", default=None, help="comma-separated (default: enabled ones)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("train", help="train (or resume) a captioner")
    p.add_argument("--config", default=None, help="config/captioner.yaml (default: built-in)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--run-dir", default=None, help="run folder (checkpoints/, data/)")
    p.add_argument("--default", action="store_true", help="train the cached default captioner")
    p.add_argument("--train-data", default=None, help="existing dataset folder")
    p.add_argument("--val-data", default=None, help="existing dataset folder (unseen seeds)")
    p.add_argument("--no-resume", action="store_true", help="start over")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("calibrate", help="recompute a trained captioner's thresholds")
    p.add_argument("--model", required=True, help="checkpoint or run folder")
    p.add_argument("--val-data", default=None, help="validation dataset (default: the run's)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="e.g. target_precision=0.99, min_threshold=0.6, fusion=min",
    )
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("evaluate", help="per-caption precision/recall on a dataset")
    _add_model_args(p)
    p.add_argument("--data", required=True, help="dataset folder (held-out seeds)")
    p.add_argument("--cameras", default=None)
    p.add_argument("--max-states", type=int, default=None)
    p.add_argument("--json", default=None, help="write the full report here")
    p.add_argument(
        "--require-targets",
        action="store_true",
        help="exit 1 unless precision >= 0.95 and recall >= 0.80 for every caption",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("caption", help="caption images or videos")
    _add_model_args(p)
    p.add_argument("inputs", nargs="+", help="image or video files")
    p.add_argument("--every", type=int, default=1, help="video: score every N-th frame")
    p.add_argument(
        "--debounce",
        type=int,
        default=1,
        help="video: frames in a row a caption must hold to count",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_caption)

    p = sub.add_parser("info", help="describe a captioner (thresholds, score mapping)")
    _add_model_args(p)
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "every", 1) < 1 or getattr(args, "debounce", 1) < 1:
        print("error: --every and --debounce must be >= 1", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (CaptionerConfigError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

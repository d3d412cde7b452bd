"""Demonstration videos of the scripted expert, with ground-truth sub-goals (MISSION C).

Rosbag replay (MISSION C) starts from videos of a demonstrator doing a task;
the captioner recovers the sub-goal sequence from the frames and the robot
imitates it. This module makes such videos from the simulator, where the
truth is known: the :class:`ScriptedExpert` solves a task in a
:class:`TabletopWorld` and a camera films it *during* the motion (a frame
every ``k`` physics steps, not only between primitives), in variants that
look different from the captioner's training frames:

=========  ================================================================
variant    what changes
=========  ================================================================
default    nothing: the training camera ``front_left``, default lighting
camera     another camera pose (from the robot's left side, higher up)
lighting   warm, low side light with shadows, less ambient light
hand       the robot is hidden; a skin-coloured hand (palm, two fingers,
           forearm) follows the gripper, like a human demonstrator's hand
=========  ================================================================

Variants combine with ``+`` (``camera+hand``). Each video is an MP4 plus a
sidecar JSON (same name, ``.json``) with the task, seed, variant, world,
frame rate, per-primitive times and the ground-truth sub-goal sequence: the
captions of MISSION B2 in the order they became true (held for at least
``min_hold_s``), with frame index and time. For "stack red on blue" that is
["The robot is grasping the red object", "The red object is on top of the
blue object"]. ``grounded-bag import-video`` turns a video into a bag and
keeps the sidecar in the bag's metadata.

Frame ``i`` shows the world at simulated time ``i / fps`` (``fps`` must
divide the physics rate, 120 Hz for the default world).

Usage::

    grounded-demo-videos --task stack_red_on_blue --seeds 0 1 \\
        --variants default camera lighting hand --out runs/demo_videos
    # same as: python -m grounded_core.tabletop.demo_videos ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet

from ..data.video import VideoError, write_video
from .cameras import Camera
from .captions import caption_truth
from .errors import TabletopError
from .expert import ScriptedExpert
from .tasks import get_task
from .world import TabletopWorld
from .world_config import DEFAULT_WORLD, CameraConfig, load_world_config

SIDECAR_FORMAT = "grounded_demo_video/1"
TRAINING_CAMERA = "front_left"
SKIN = (0.96, 0.76, 0.68, 1.0)
SLEEVE = (0.2, 0.25, 0.45, 1.0)

#: Camera pose of the "camera" variant: from the robot's left, higher up.
OTHER_CAMERA = {"eye": (0.42, -0.55, 0.45), "target": (0.5, 0.0, 0.05), "fov_deg": 45.0}
#: Lighting of the "lighting" variant (pybullet getCameraImage arguments).
OTHER_LIGHTING = {
    "lightDirection": [-1.0, 1.5, 0.6],
    "lightColor": [1.0, 0.78, 0.55],
    "lightAmbientCoeff": 0.35,
    "lightDiffuseCoeff": 0.85,
    "lightSpecularCoeff": 0.1,
    "shadow": 1,
}
VARIANT_PARTS = ("default", "camera", "lighting", "hand")
VARIANTS = VARIANT_PARTS


@dataclass(frozen=True)
class Variant:
    """How a demo video looks: camera, lighting and who acts (robot or hand)."""

    name: str
    camera: bool = False
    lighting: bool = False
    hand: bool = False

    @staticmethod
    def parse(name: str) -> Variant:
        parts = [p for p in name.strip().split("+") if p]
        bad = [p for p in parts if p not in VARIANT_PARTS]
        if not parts or bad:
            raise ValueError(
                f"unknown variant {name!r}: combine {VARIANT_PARTS} with '+' (e.g. camera+hand)"
            )
        flags = set(parts) - {"default"}
        return Variant(
            name="+".join(parts),
            camera="camera" in flags,
            lighting="lighting" in flags,
            hand="hand" in flags,
        )

    def settings(self) -> dict:
        return {
            "camera": dict(OTHER_CAMERA) if self.camera else TRAINING_CAMERA,
            "lighting": dict(OTHER_LIGHTING) if self.lighting else "default",
            "actor": "hand" if self.hand else "robot",
        }


class _FilmedWorld(TabletopWorld):
    """A world that calls ``on_step`` after every physics step (the filming hook).

    The primitives step the world through ``step_simulation``; overriding it
    here films the motion without touching the tabletop code.
    """

    on_step: Callable[[], None] | None = None

    def step_simulation(self, n: int = 1) -> None:
        for _ in range(n):
            super().step_simulation(1)
            if self.on_step is not None:
                self.on_step()


class _Hand:
    """A skin-coloured stand-in hand that follows the gripper (visual only, no collision)."""

    def __init__(self, world: TabletopWorld) -> None:
        self.world = world
        p, robot = world.client, world.robot_id
        for link in range(-1, p.getNumJoints(robot)):
            p.changeVisualShape(robot, link, rgbaColor=[0, 0, 0, 0])  # hide the robot
        self.fingers = world.config.robot.finger_joints
        self.hand_link = world.config.robot.ee_link

        def body(shape: int, colour, **kwargs) -> int:
            visual = p.createVisualShape(shape, rgbaColor=colour, **kwargs)
            return p.createMultiBody(0.0, -1, visual, [0, 0, -5])

        self.palm = body(pybullet.GEOM_BOX, SKIN, halfExtents=[0.03, 0.045, 0.02])
        self.digits = [
            body(pybullet.GEOM_CAPSULE, SKIN, radius=0.011, length=0.045) for _ in self.fingers
        ]
        self.forearm = body(pybullet.GEOM_CAPSULE, SKIN, radius=0.028, length=0.16)
        self.sleeve = body(pybullet.GEOM_CYLINDER, SLEEVE, radius=0.036, length=0.14)
        self.update()

    def update(self) -> None:
        p, robot = self.world.client, self.world.robot_id
        state = p.getLinkState(robot, self.hand_link, computeForwardKinematics=True)
        grasp, orientation = np.array(state[4]), state[5]
        axes = np.array(p.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        approach = axes[:, 2]  # the gripper's z axis points from the palm to the fingertips
        palm = grasp - approach * 0.075
        p.resetBasePositionAndOrientation(self.palm, palm.tolist(), orientation)
        for digit, joint in zip(self.digits, self.fingers, strict=True):
            finger = p.getLinkState(robot, joint, computeForwardKinematics=True)
            tip = np.array(finger[4]) - approach * 0.01
            p.resetBasePositionAndOrientation(digit, tip.tolist(), orientation)
        p.resetBasePositionAndOrientation(
            self.forearm, (palm - approach * 0.1).tolist(), orientation
        )
        p.resetBasePositionAndOrientation(
            self.sleeve, (palm - approach * 0.24).tolist(), orientation
        )


@dataclass(frozen=True)
class DemoVideo:
    """A rendered demonstration: video and sidecar paths, and the sidecar's content."""

    video: Path
    sidecar: Path
    info: dict


def _training_camera(config) -> CameraConfig:
    """The captioner's training camera (``front_left``; else the world's first camera)."""
    if not config.cameras:
        raise ValueError(f"world {config.name!r} has no camera")
    return next((c for c in config.cameras if c.name == TRAINING_CAMERA), config.cameras[0])


def _camera_config(world: TabletopWorld, variant: Variant, width: int, height: int):
    base = _training_camera(world.config)
    config = dataclasses.replace(base, name="demo", width=width, height=height)
    if variant.camera:
        config = dataclasses.replace(config, **OTHER_CAMERA)
    return config


def _render(world: TabletopWorld, camera: Camera, lighting: dict) -> np.ndarray:
    cfg: CameraConfig = camera.config
    _, _, rgba, _, _ = world.client.getCameraImage(
        cfg.width,
        cfg.height,
        viewMatrix=camera.view_matrix,
        projectionMatrix=camera.projection_matrix,
        renderer=pybullet.ER_TINY_RENDERER,
        flags=pybullet.ER_NO_SEGMENTATION_MASK,
        **lighting,
    )
    rgb = np.asarray(rgba, dtype=np.uint8).reshape(cfg.height, cfg.width, 4)[:, :, :3]
    return np.ascontiguousarray(rgb)


def _subgoals(truth_per_frame: list[dict[str, bool]], fps: float, min_hold: int) -> list[dict]:
    """Captions in the order they became true and stayed true >= min_hold frames."""
    events = []
    if not truth_per_frame:
        return events
    captions = list(truth_per_frame[0])
    run_start = {c: (0 if truth_per_frame[0][c] else None) for c in captions}
    initially = {c for c in captions if truth_per_frame[0][c]}
    counted: set[tuple[str, int]] = set()
    for index, truth in enumerate(truth_per_frame):
        for caption in captions:
            if truth[caption]:
                if run_start[caption] is None:
                    run_start[caption] = index
                start = run_start[caption]
                key = (caption, start)
                held = index - start + 1
                if (
                    held >= min_hold
                    and key not in counted
                    and not (start == 0 and caption in initially)
                ):
                    counted.add(key)
                    events.append({"caption": caption, "frame": start, "time_s": start / fps})
            else:
                run_start[caption] = None
    events.sort(key=lambda e: (e["frame"], e["caption"]))
    return events


def _intervals(truth_per_frame: list[dict[str, bool]], fps: float) -> list[dict]:
    intervals = []
    if not truth_per_frame:
        return intervals
    for caption in truth_per_frame[0]:
        start = None
        for index, truth in enumerate([*truth_per_frame, dict.fromkeys(truth_per_frame[0], False)]):
            if truth[caption] and start is None:
                start = index
            elif not truth[caption] and start is not None:
                intervals.append(
                    {"caption": caption, "start_time_s": start / fps, "end_time_s": index / fps}
                )
                start = None
    intervals.sort(key=lambda i: (i["start_time_s"], i["caption"]))
    return intervals


def render_demo(
    task: str,
    seed: int,
    variant: str | Variant = "default",
    out_dir: str | Path = "runs/demo_videos",
    *,
    world: str | Path = DEFAULT_WORLD,
    fps: float = 30.0,
    width: int | None = None,
    height: int | None = None,
    max_primitives: int | None = None,
    tail_s: float = 0.5,
    min_hold_s: float = 0.1,
    name: str | None = None,
) -> DemoVideo:
    """Film the scripted expert doing ``task`` from the layout of ``seed``; see module doc.

    ``width``/``height`` default to the training camera's (128x128), so the
    default variant frames exactly what the captioner was trained on.
    """
    variant = variant if isinstance(variant, Variant) else Variant.parse(variant)
    config = load_world_config(world)
    training = _training_camera(config)
    width, height = width or training.width, height or training.height
    if width < 16 or height < 16:
        raise ValueError(f"video size must be at least 16x16, got {width}x{height}")
    dt = config.physics.time_step
    steps_per_frame = round(1.0 / (fps * dt)) if fps > 0 else 0
    if steps_per_frame < 1 or abs(steps_per_frame * dt * fps - 1.0) > 1e-3:
        raise ValueError(
            f"fps {fps} must divide the physics rate {1.0 / dt:.1f} Hz (e.g. 10, 15, 20, 30, 60)"
        )
    task_obj = get_task(task, config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = name or f"{task}_seed{seed}_{variant.name.replace('+', '-')}"
    video_path, sidecar_path = out_dir / f"{stem}.mp4", out_dir / f"{stem}.json"

    frames: list[np.ndarray] = []
    truths: list[dict[str, bool]] = []
    tol = config.tolerances
    with _FilmedWorld(config, seed=seed) as sim:
        camera = Camera(_camera_config(sim, variant, width, height))
        lighting = dict(OTHER_LIGHTING) if variant.lighting else {}
        hand = _Hand(sim) if variant.hand else None

        def film() -> None:
            if hand is not None:
                hand.update()
            frames.append(_render(sim, camera, lighting))
            truths.append(caption_truth(sim.state(), tol))

        def on_step() -> None:
            if sim.sim_steps % steps_per_frame == 0:
                film()

        film()  # frame 0: the initial scene
        sim.on_step = on_step
        expert = ScriptedExpert(config, task_obj)
        primitives = []
        limit = task_obj.max_steps if max_primitives is None else max_primitives
        for _ in range(limit):
            if task_obj.is_success(sim.state(), tol):
                break
            try:
                x, y = expert.act(sim.state())
            except TabletopError:
                break
            start = sim.sim_time
            result = sim.act(float(x), float(y))
            primitives.append(
                {
                    "kind": result.kind,
                    "x": result.x,
                    "y": result.y,
                    "picked": result.picked,
                    "placed": result.placed,
                    "placed_on": result.placed_on,
                    "start_time_s": start,
                    "end_time_s": sim.sim_time,
                }
            )
        success = task_obj.is_success(sim.state(), tol)
        sim.step_simulation(max(0, round(tail_s / dt)))
        sim.on_step = None

    write_video(frames, video_path, fps)
    min_hold = max(1, round(min_hold_s * fps))
    info = {
        "format": SIDECAR_FORMAT,
        "video": video_path.name,
        "task": task,
        "instruction": task_obj.instruction,
        "seed": seed,
        "world": config.name,
        "variant": variant.name,
        "variant_settings": variant.settings(),
        "fps": fps,
        "width": width,
        "height": height,
        "frame_count": len(frames),
        "duration_s": len(frames) / fps,
        "success": success,
        "reference_plan": list(task_obj.reference_plan),
        "subgoals": _subgoals(truths, fps, min_hold),
        "caption_intervals": _intervals(truths, fps),
        "primitives": primitives,
    }
    partial = sidecar_path.with_name(f".{sidecar_path.name}.partial-{os.getpid()}")
    partial.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, sidecar_path)
    return DemoVideo(video_path, sidecar_path, info)


def subgoal_sequence(info: dict) -> list[str]:
    """The ground-truth sub-goal captions of a sidecar, in order."""
    return [event["caption"] for event in info["subgoals"]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grounded-demo-videos",
        description="Render demonstration videos (MP4 + sidecar JSON with ground-truth "
        "sub-goals) of the scripted expert in the tabletop world.",
    )
    parser.add_argument("--task", default="stack_red_on_blue", help="task name (see tasks.py)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="layout seeds")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        help=f"variants, combinable with '+': {', '.join(VARIANT_PARTS)}",
    )
    parser.add_argument("--out", default="runs/demo_videos", help="output directory")
    parser.add_argument("--world", default=DEFAULT_WORLD, help="world file name or path")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per simulated second")
    parser.add_argument(
        "--width", type=int, help="frame width (default: the training camera's, 128)"
    )
    parser.add_argument("--height", type=int, help="frame height (default: the training camera's)")
    parser.add_argument("--tail", type=float, default=0.5, help="seconds filmed after the end")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        variants = [Variant.parse(v) for v in args.variants]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    jobs = [(seed, v) for seed in args.seeds for v in variants]
    for seed, variant in tqdm(jobs, desc="demo videos", unit="video"):
        try:
            demo = render_demo(
                args.task,
                seed,
                variant,
                args.out,
                world=args.world,
                fps=args.fps,
                width=args.width,
                height=args.height,
                tail_s=args.tail,
            )
        except (ValueError, VideoError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        plan = " -> ".join(subgoal_sequence(demo.info)) or "(none)"
        tqdm.write(
            f"{demo.video} ({demo.info['frame_count']} frames, "
            f"success={demo.info['success']}): {plan}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

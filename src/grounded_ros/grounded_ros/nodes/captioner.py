"""captioner: the CLIP captioner of MISSION B2 as a ROS 2 node.

Wraps ``grounded_core.vision`` (``Captioner`` for batches, ``StreamingCaptioner`` for
the live path). Topics and services are relative to the node's namespace.

Subscribes ``camera/<name>/image_raw`` (sensor_msgs/Image, rgb8 or bgr8) for every
camera in ``cameras`` (default: the tabletop_sim node's ``front_left`` and
``front_right``; remap a topic to use another camera). The image callback only keeps
the latest frame of each camera; a timer at ``rate_hz`` scores the latest frames
(fused over the cameras like the trained thresholds assume) and publishes
``captions`` (grounded_interfaces/Captions: one score, threshold and detected flag
per caption, in the caption-file order; the header is the newest frame's). Frames
arriving faster than the rate are dropped, never queued.

Service ``score_frames`` (grounded_interfaces/ScoreFrames): scores a batch of stored
frames (hindsight relabelling, MISSION B5) against the requested captions (empty =
the configured caption set); scores are row-major frames x captions.

Frames of another encoding than rgb8/bgr8 or another size than ``width`` x
``height`` are rejected with a message saying which and why (logged on the topic
path, ``success=false`` on the service path); the node keeps running.

Model (``model``): ``default`` (the cached default captioner; when none is trained
yet the node stops with a message unless ``train_if_missing``, as training takes
minutes), a checkpoint or run folder written by ``grounded-clip train``, or an
open_clip architecture name with ``pretrained`` (a weights file, or a tag when
``allow_download``), e.g. ``ViT-B-32``.
"""

from __future__ import annotations

import time

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image

from grounded_interfaces.msg import Caption, Captions
from grounded_interfaces.srv import ScoreFrames
from grounded_ros.image_conversions import ImageConversionError, image_to_numpy
from grounded_ros.node_runtime import run_node, survive_bad_input
from grounded_ros.parameters import Param, declare_parameters
from grounded_ros.qos import PROFILES, STATE

COLOR_ENCODINGS = ("rgb8", "bgr8")
FUSIONS = ("", "mean", "max", "min", "none")

PARAMS = (
    Param(
        "model",
        "default",
        "'default' (cached default captioner), a checkpoint/run folder, or an open_clip "
        "architecture name (e.g. ViT-B-32 with 'pretrained').",
        read_only=True,
    ),
    Param(
        "pretrained",
        "",
        "For an architecture name: a local weights file, or an open_clip pretrained tag "
        "(needs allow_download).",
        read_only=True,
    ),
    Param(
        "allow_download",
        False,
        "Let open_clip download a pretrained tag (off: offline only).",
        read_only=True,
    ),
    Param(
        "train_if_missing",
        False,
        "model=default and no trained default cached: train it now (minutes) instead of failing.",
        read_only=True,
    ),
    Param(
        "caption_file",
        "",
        "Caption set YAML (config/captions.yaml); empty = the model's own captions.",
        read_only=True,
    ),
    Param(
        "threshold",
        -1.0,
        "Threshold (gamma) for every caption; < 0 = the checkpoint's calibrated "
        "per-caption thresholds (the caption file's threshold for uncalibrated captions).",
        min=-1.0,
        max=1.0,
        read_only=True,
    ),
    Param(
        "fusion",
        "",
        "How the cameras' scores combine (empty = the checkpoint's).",
        choices=FUSIONS,
        read_only=True,
    ),
    Param("device", "cpu", "torch device (cpu, cuda, cuda:1, ...).", read_only=True),
    Param(
        "torch_threads", 1, "torch threads (0 = torch's default).", min=0, max=256, read_only=True
    ),
    Param(
        "cameras",
        "front_left,front_right",
        "Comma-separated camera names; subscribes camera/<name>/image_raw for each.",
        read_only=True,
    ),
    Param(
        "image_qos",
        "reliable_frames",
        "QoS of the camera subscriptions.",
        choices=tuple(PROFILES),
        read_only=True,
    ),
    Param(
        "rate_hz",
        2.0,
        "Most captions messages per second (latest frames win).",
        min=0.01,
        max=100.0,
        read_only=True,
    ),
    Param(
        "max_age_s",
        1.0,
        "Frames older than this (vs the newest camera) are not fused.",
        min=0.01,
        max=3600.0,
        read_only=True,
    ),
    Param(
        "debounce",
        1,
        "Consecutive scored updates a caption must hold before it is reported detected.",
        min=1,
        max=1000,
        read_only=True,
    ),
    Param("width", 128, "Expected frame width (0 = any).", min=0, max=8192, read_only=True),
    Param("height", 128, "Expected frame height (0 = any).", min=0, max=8192, read_only=True),
)


def frame_to_rgb(msg: Image, width: int = 0, height: int = 0) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB of an rgb8/bgr8 Image; ValueError saying why otherwise."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise ImageConversionError(
            f"encoding {msg.encoding!r} not supported by the captioner (needs "
            f"{' or '.join(COLOR_ENCODINGS)})"
        )
    if (width and msg.width != width) or (height and msg.height != height):
        raise ImageConversionError(
            f"frame is {msg.width}x{msg.height}, the captioner expects {width or 'any'}x"
            f"{height or 'any'} (set the width/height parameters for another camera)"
        )
    image = image_to_numpy(msg)
    return image[:, :, ::-1].copy() if msg.encoding == "bgr8" else image


def load_captioner(p: dict):
    """The ``Captioner`` the parameters ask for (ValueError/FileNotFoundError if unusable)."""
    from grounded_core.vision.captioner import Captioner
    from grounded_core.vision.config import load_caption_set

    model = p["model"].strip()
    if not model:
        raise ValueError("model must not be empty (use 'default')")
    if model == "default":
        from grounded_core.vision.default import default_captioner

        try:
            captioner = default_captioner(
                device=p["device"], train_if_missing=p["train_if_missing"], progress=False
            )
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"{error}. The node does not train it unasked (minutes of CPU): set "
                "train_if_missing:=true, or model:=<checkpoint folder>"
            ) from error
    else:
        captioner = Captioner.from_pretrained(
            model,
            pretrained=p["pretrained"] or None,
            device=p["device"],
            allow_download=p["allow_download"],
        )
    if p["caption_file"]:
        caption_set = load_caption_set(p["caption_file"])
        captioner.captions = list(caption_set.captions)
        captioner.gamma = caption_set.threshold
    if p["threshold"] >= 0.0:
        if not 0.0 < p["threshold"] < 1.0 and captioner.score_mode == "sigmoid":
            raise ValueError(f"threshold must lie in (0, 1), got {p['threshold']}")
        captioner.set_thresholds(float(p["threshold"]))
        captioner.gamma = float(p["threshold"])
    if p["fusion"]:
        captioner.fusion = p["fusion"]
    return captioner


def model_name(captioner) -> str:
    """Provenance string for Captions.model: the checkpoint folder or the architecture."""
    meta = captioner.metadata
    if meta.get("checkpoint"):
        return str(meta["checkpoint"])
    name = meta.get("arch", "")
    return f"{name}:{meta['pretrained']}" if meta.get("pretrained") else str(name)


class CaptionerNode(Node):
    """Live captions for camera frames and a batch scoring service."""

    def __init__(self) -> None:
        super().__init__("captioner")
        self.params = p = declare_parameters(self, PARAMS)
        import torch

        from grounded_core.vision.streaming import StreamingCaptioner

        if p["torch_threads"]:
            torch.set_num_threads(p["torch_threads"])
        cameras = [c.strip() for c in p["cameras"].split(",") if c.strip()]
        if not cameras:
            raise ValueError("cameras must name at least one camera")
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"cameras lists a camera twice: {cameras}")
        started = time.perf_counter()
        self.captioner = load_captioner(p)
        self.model = model_name(self.captioner)
        self.stream = StreamingCaptioner(
            self.captioner,
            min_interval_s=1.0 / p["rate_hz"],
            debounce=p["debounce"],
            max_age_s=p["max_age_s"],
        )
        self.headers: dict[str, object] = {}
        self.rejected = 0
        self.publisher = self.create_publisher(Captions, "captions", STATE)
        qos = PROFILES[p["image_qos"]]
        for camera in cameras:
            self.create_subscription(
                Image,
                f"camera/{camera}/image_raw",
                lambda msg, camera=camera: self.on_image(msg, camera),
                qos,
            )
        self.create_service(ScoreFrames, "score_frames", self.on_score_frames)
        self.create_timer(1.0 / p["rate_hz"], self.on_timer)
        self.get_logger().info(
            f"captioner ready in {time.perf_counter() - started:.1f} s: {self.captioner!r} "
            f"from {self.model}; {len(self.captioner.captions)} captions, cameras {cameras}, "
            f"{p['rate_hz']} Hz"
        )

    # ------------------------------------------------------------------ live path

    @survive_bad_input
    def on_image(self, msg: Image, camera: str) -> None:
        """Keep the camera's latest frame (scored by the timer)."""
        try:
            frame = frame_to_rgb(msg, self.params["width"], self.params["height"])
        except ValueError:
            self.rejected += 1
            raise
        self.headers[camera] = msg.header
        self.stream.submit(frame, camera)

    @survive_bad_input
    def on_timer(self) -> None:
        detection = self.stream.poll()
        if detection is None:
            return
        newest = max(detection.frame_stamps, key=detection.frame_stamps.get)
        out = Captions(model=self.model)
        header = self.headers.get(newest)
        if header is not None:
            out.header = header
        thresholds = self.captioner.thresholds_for(self.stream.captions)
        out.captions = [
            Caption(text=text, score=float(score), threshold=float(t), detected=bool(flag))
            for text, score, t, flag in zip(
                self.stream.captions, detection.scores, thresholds, detection.detected
            )
        ]
        self.publisher.publish(out)

    # ------------------------------------------------------------------ batch service

    def on_score_frames(
        self, request: ScoreFrames.Request, response: ScoreFrames.Response
    ) -> ScoreFrames.Response:
        captions = list(request.captions) or self.captioner.captions
        response.captions = captions
        if not request.frames:
            response.success, response.message = True, "no frames"
            response.thresholds = self.captioner.thresholds_for(captions).tolist()
            return response
        frames = []
        for i, msg in enumerate(request.frames):
            try:
                frames.append(frame_to_rgb(msg, self.params["width"], self.params["height"]))
            except ValueError as error:
                response.success = False
                response.message = f"frame {i}: {error}"
                self.get_logger().error(f"score_frames: rejected request: {response.message}")
                return response
        if len({f.shape for f in frames}) != 1:
            response.success = False
            response.message = f"frames differ in size: {sorted({f.shape for f in frames})}"
            self.get_logger().error(f"score_frames: rejected request: {response.message}")
            return response
        try:
            scores = self.captioner.score(np.stack(frames), captions)
        except Exception as error:  # a bad caption list etc.: answer, do not crash
            response.success, response.message = False, f"scoring failed: {error}"
            self.get_logger().error(f"score_frames: {response.message}")
            return response
        thresholds = self.captioner.thresholds_for(captions)
        response.success = True
        response.message = f"scored {len(frames)} frame(s) x {len(captions)} caption(s)"
        response.scores = scores.astype(np.float32).reshape(-1).tolist()
        response.detected = (scores >= thresholds[None, :]).reshape(-1).tolist()
        response.thresholds = thresholds.astype(np.float32).tolist()
        return response


def main(args: list[str] | None = None) -> int:
    return run_node(CaptionerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

"""Vision of grounded_agent: the CLIP captioner of MISSION B2, through open_clip.

A caption (e.g. "The red object is on top of the blue object") is detected in a
camera frame when its calibrated image-text score reaches its threshold, each caption
judged independently (not argmax). No CLIP weights exist offline (PLATFORM), so the
default model is a small open_clip architecture defined in ``model_configs/`` and
trained in-domain on frames rendered by the tabletop world, auto-labelled from
simulator state; users with weights load a named open_clip model instead.

Modules (one job each):

==============  ==============================================================
config          caption set (config/captions.yaml), training recipe (config/captioner.yaml)
models          open_clip architectures, tokenizers, image preprocessing
data            render/load labelled frames (``FrameSet``)
relations       stack-then-clutter episodes: extra "X on Y" training/validation states
captioner       ``Captioner``: score / detect / fuse cameras (batch API)
streaming       ``StreamingCaptioner``: live frames, rate limit, latest frame, debounce
train           multi-positive sigmoid loss, training with checkpoints/resume, thresholds
evaluate        per-caption precision/recall and confusion summary
checkpoint      atomic checkpoint folders (open_clip ``local-dir`` format + manifest)
default         ``default_captioner()``: the cached default, trained on first use
cli             ``grounded-clip`` (render, train, evaluate, caption an image or video)
object_tracker  ``ObjectTracker``: colour segmentation + depth + cube fit -> 3-D positions
stamp_pairing   ``StampPairer``: approximate-time pairing of colour and depth frames
demo_observer   ``DemoObserver``: detections -> debounced, time-ordered sub-goal plan
==============  ==============================================================

Heavy imports (torch, open_clip) happen when a name is first used.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Captioner": "captioner",
    "fuse_scores": "captioner",
    "StreamingCaptioner": "streaming",
    "Detection": "streaming",
    "CaptionSet": "config",
    "CaptionerConfig": "config",
    "CaptionerConfigError": "config",
    "load_caption_set": "config",
    "load_captioner_config": "config",
    "default_captions": "config",
    "FrameSet": "data",
    "load_frames": "data",
    "render_dataset": "data",
    "concat_frames": "data",
    "render_relation_dataset": "relations",
    "train_captioner": "train",
    "calibrate_thresholds": "train",
    "pairwise_sigmoid_loss": "train",
    "TrainResult": "train",
    "evaluate": "evaluate",
    "EvalReport": "evaluate",
    "default_captioner": "default",
    "default_run_dir": "default",
    "cache_dir": "default",
    "create_model": "models",
    "ModelLoadError": "models",
    "ObjectTracker": "object_tracker",
    "CameraModel": "object_tracker",
    "load_tracker_config": "object_tracker",
    "DemoObserver": "demo_observer",
    "ObserverConfig": "demo_observer",
    "save_demo": "demo_observer",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)

"""Judges of sub-goals for Collect & Infer and skill scheduling (MISSION B2, B5).

A judge says which captions hold in each observation (a world state, plus camera
frames when it needs them), each caption independently:

* :class:`CaptionerJudge`: the CLIP captioner (grounded_core.vision) scores the
  frames of every camera against every caption, fuses the cameras and
  thresholds per caption. This is the judge of the real pipeline (no simulator
  truth is used).
* :class:`TruthJudge`: simulator truth (``grounded_core.tabletop.captions``),
  the perfect captioner. Fast; used by tests and by benchmarks that say so.

Both return ``bool [T, C]`` for T observations and C captions, so episodes can be
scored in one batch after they end (the paper's hindsight check) or one frame
at a time (the scheduler).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..tabletop.captions import caption_holds
from ..tabletop.state import WorldState
from ..tabletop.world_config import TolerancesConfig

JUDGES = ("truth", "captioner")


@dataclass
class Observation:
    """What a judge sees after a primitive: the state and (optionally) camera frames."""

    state: WorldState
    frames: Mapping[str, np.ndarray] = field(default_factory=dict)


class Judge(abc.ABC):
    """Base class of judges."""

    name = "judge"
    #: Whether observations must carry camera frames.
    needs_frames = False

    @abc.abstractmethod
    def detect(self, observations: Sequence[Observation], captions: Sequence[str]) -> np.ndarray:
        """``[len(observations), len(captions)]`` booleans: caption detected per observation."""


class TruthJudge(Judge):
    """Simulator-truth captions (grounded_core.tabletop.captions.caption_holds)."""

    name = "truth"

    def __init__(self, tolerances: TolerancesConfig) -> None:
        self.tolerances = tolerances

    def detect(self, observations: Sequence[Observation], captions: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(observations), len(captions)), dtype=bool)
        for i, obs in enumerate(observations):
            for j, caption in enumerate(captions):
                out[i, j] = caption_holds(caption, obs.state, self.tolerances)
        return out


class CaptionerJudge(Judge):
    """The CLIP captioner over the frames of ``cameras`` (fused per state)."""

    name = "captioner"
    needs_frames = True

    def __init__(self, captioner, cameras: Sequence[str]) -> None:
        if not cameras:
            raise ValueError("the captioner judge needs at least one camera")
        self.captioner = captioner
        self.cameras = list(cameras)

    def detect(self, observations: Sequence[Observation], captions: Sequence[str]) -> np.ndarray:
        if not observations:
            return np.zeros((0, len(captions)), dtype=bool)
        views = {}
        for camera in self.cameras:
            missing = [i for i, o in enumerate(observations) if camera not in o.frames]
            if missing:
                raise ValueError(f"observation {missing[0]} has no frame from camera {camera!r}")
            views[camera] = np.stack([o.frames[camera] for o in observations])
        return np.asarray(self.captioner.detect_views(views, list(captions)), dtype=bool)


def make_judge(
    kind: str,
    tolerances: TolerancesConfig,
    cameras: Sequence[str] = (),
    captioner_checkpoint: str | None = None,
    captioner=None,
) -> Judge:
    """A judge by name: ``"truth"`` or ``"captioner"`` (default captioner unless given)."""
    if kind == "truth":
        return TruthJudge(tolerances)
    if kind == "captioner":
        if captioner is None:
            if captioner_checkpoint:
                from ..vision.captioner import Captioner

                captioner = Captioner.from_pretrained(captioner_checkpoint)
            else:
                from ..vision.default import default_captioner

                captioner = default_captioner()
        return CaptionerJudge(captioner, cameras)
    raise ValueError(f"unknown judge {kind!r}; known: {JUDGES}")

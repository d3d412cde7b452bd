"""Learning from observation: captions detected over a demonstration -> a sub-goal plan.

MISSION B6 (use 4): the frames of a demonstration go through the captioner; the
sub-goals that fire, in time order, become the plan the scheduler executes (e.g.
``["The robot is grasping the red object", "The red object is on top of the blue
object"]`` for "stack red on blue"). :class:`DemoObserver` turns a time-ordered
stream of per-frame detections (caption texts detected in each frame) into that
plan (:func:`observe_frames` first captions stored frames with a ``Captioner``);
:func:`save_demo` stores the labelled demonstration for learning.

Rules (``ObserverConfig``), applied per caption:

1. **Debounce** (flicker): a caption is *confirmed* when it is detected now and in
   at least ``min_frames`` of the last ``window_frames`` updates (default: the last
   ``min_frames``, i.e. consecutive detections), and its run (detections without a
   gap as long as the window) started ``min_duration_s`` ago or more (``0``: frames
   only). Shorter
   detections never become sub-goals. A window larger than ``min_frames`` ("3 of
   the last 5") tolerates a captioner that misses single frames of a true caption.
2. **Release** (hysteresis): a confirmed caption ends only after ``release_frames``
   consecutive misses, so one missed frame does not mark a sub-goal undone.
3. **Initial state**: captions detected from the very first update describe how
   the scene started, not what the demonstrator did; with ``ignore_initial`` they
   are not recorded until they have been released and confirmed again.
4. **Record**: a confirmation records the caption as the next sub-goal unless it
   is already the last recorded one (a sub-goal that flickers off and on, or is
   re-done right away, is recorded once). Captions confirmed in the same update
   are ordered by when their detection run started, then by vocabulary order
   (grasps before on-top relations in the B2 caption set).
5. **Undone** (``keep_undone = False``): an on-top sub-goal "X on Y" that was
   released later *and* whose object X takes part in a later sub-goal ("grasp X",
   "X on Z": the demonstrator put red on green, then moved it to blue) is dropped
   from the plan when the demo ends. A release without a later move of X is more
   likely a missed detection (a captioner looking at a tower) and is kept.
6. **Grasps** (``keep_unfollowed_grasps = False``): "grasp X" is kept when the next
   kept sub-goal is "X on Y" (the pick of a pick-and-place: the plan the scheduler
   expects is [grasp red, red on blue]) or when it is the last sub-goal and X is
   still held when the demo ends (a "grasp X" demonstration). Other grasps (X
   picked and put back on the table, which the caption vocabulary cannot say) are
   dropped.
7. **End of the demo** (:meth:`DemoObserver.finish`): detection runs still
   shorter than the debounce are discarded (not enough evidence); captions that
   are still confirmed are "held at the end" (rule 6). The caller decides when a
   demo ends (the ROS node: an ``end_of_demo`` message, silence, or no new
   sub-goal for a while).

Rules 5 and 6 apply to captions of the B2 vocabulary (grasp / on-top, parsed with
``grounded_core.tabletop.captions.parse_caption``); other captions are only
debounced and recorded. Stamps must not decrease (a replayed bag or a live stream
is time-ordered); an older stamp raises :class:`DemoObserverError`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..tabletop.captions import parse_caption

__all__ = [
    "DemoObserver",
    "DemoObserverError",
    "DemoRecording",
    "DemoResult",
    "ObserverConfig",
    "SubGoalEvent",
    "observe",
    "observe_frames",
    "save_demo",
]


class DemoObserverError(ValueError):
    """Bad input to the observer (an older stamp, a bad setting); the message says why."""


@dataclass(frozen=True)
class ObserverConfig:
    """Debounce and pruning rules (see the module docstring)."""

    min_frames: int = 3
    window_frames: int = 0  # 0: = min_frames (consecutive detections)
    min_duration_s: float = 0.0
    release_frames: int = 2
    ignore_initial: bool = True
    keep_undone: bool = False
    keep_unfollowed_grasps: bool = False

    def __post_init__(self) -> None:
        for key in ("min_frames", "release_frames"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DemoObserverError(f"{key} must be an integer >= 1, got {value!r}")
        window = self.window_frames
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise DemoObserverError(f"window_frames must be an integer >= 0, got {window!r}")
        if window and window < self.min_frames:
            raise DemoObserverError(
                f"window_frames ({window}) must be 0 or >= min_frames ({self.min_frames})"
            )

    @property
    def window(self) -> int:
        return self.window_frames or self.min_frames
        if not (isinstance(self.min_duration_s, int | float) and self.min_duration_s >= 0):
            raise DemoObserverError(f"min_duration_s must be >= 0, got {self.min_duration_s!r}")


@dataclass
class SubGoalEvent:
    """One recorded sub-goal: when its detection run started, was confirmed, undone."""

    caption: str
    start_stamp: float
    confirmed_stamp: float
    undone_stamp: float | None = None


@dataclass
class _Run:
    """Detections of one caption since its first one (lives while its window has any)."""

    window: deque  # detected flags of the last window_frames updates
    start: float  # stamp of the run's first detection
    misses: int = 0
    confirmed: bool = False
    initial: bool = False
    event: SubGoalEvent | None = None

    @property
    def hits(self) -> int:
        return sum(self.window)


@dataclass(frozen=True)
class DemoResult:
    """The plan of one demonstration and how it was obtained."""

    plan: list[str]
    events: list[SubGoalEvent]  # everything recorded, in order, before rules 5 and 6
    dropped: list[tuple[str, str]]  # (caption, reason) removed by rules 5 and 6
    held_at_end: list[str]  # captions still confirmed when the demo ended
    updates: int
    start_stamp: float | None
    end_stamp: float | None

    def to_dict(self) -> dict:
        return {
            "plan": list(self.plan),
            "events": [asdict(e) for e in self.events],
            "dropped": [list(d) for d in self.dropped],
            "held_at_end": list(self.held_at_end),
            "updates": self.updates,
            "start_stamp": self.start_stamp,
            "end_stamp": self.end_stamp,
        }


def _kind(caption: str) -> tuple[str, tuple[str, ...]]:
    try:
        parsed = parse_caption(caption)
    except ValueError:
        return "other", ()
    return parsed.kind, parsed.objects


class DemoObserver:
    """Debounced, time-ordered sub-goals from per-frame detections (module docstring).

    ``vocabulary``: the caption set in its canonical order (ties of rule 4); captions
    outside it are accepted and ordered after it, in order of first appearance.
    """

    def __init__(
        self, config: ObserverConfig | None = None, vocabulary: Sequence[str] = ()
    ) -> None:
        self.config = config or ObserverConfig()
        self._order = {c: i for i, c in enumerate(vocabulary)}
        self.reset()

    def reset(self) -> None:
        """Start a new demonstration."""
        self._runs: dict[str, _Run] = {}
        self.events: list[SubGoalEvent] = []
        self.updates = 0
        self.start_stamp: float | None = None
        self.last_stamp: float | None = None
        self.last_event_stamp: float | None = None

    def _rank(self, caption: str) -> int:
        if caption not in self._order:
            self._order[caption] = len(self._order)
        return self._order[caption]

    def update(self, stamp: float, detected: Iterable[str]) -> list[str]:
        """Feed one frame's detected captions; return the sub-goals recorded by it."""
        stamp = float(stamp)
        if not np.isfinite(stamp):
            raise DemoObserverError(f"stamp must be finite, got {stamp}")
        if self.last_stamp is not None and stamp < self.last_stamp:
            raise DemoObserverError(
                f"stamp {stamp:.3f} is older than the previous update ({self.last_stamp:.3f}); "
                "detections must arrive in time order"
            )
        detected = set(detected)
        first = self.updates == 0
        if first:
            self.start_stamp = stamp
        self.updates += 1
        self.last_stamp = stamp
        cfg = self.config
        confirmed_now = []
        for caption in sorted(detected | set(self._runs), key=self._rank):
            run = self._runs.get(caption)
            hit = caption in detected
            if run is None:
                run = self._runs[caption] = _Run(deque(maxlen=cfg.window), start=stamp)
                run.initial = first and cfg.ignore_initial
            run.window.append(hit)
            if run.confirmed:
                run.misses = 0 if hit else run.misses + 1
                if run.misses >= cfg.release_frames:  # released: the relation ended
                    if run.event is not None and run.event.undone_stamp is None:
                        run.event.undone_stamp = stamp
                    del self._runs[caption]
            elif run.hits == 0:
                del self._runs[caption]  # no detection left in the window: forget the run
            elif hit and run.hits >= cfg.min_frames and stamp - run.start >= cfg.min_duration_s:
                run.confirmed = True
                if not run.initial:
                    confirmed_now.append(caption)
        recorded = []
        for caption in sorted(confirmed_now, key=lambda c: (self._runs[c].start, self._rank(c))):
            run = self._runs[caption]
            if self.events and self.events[-1].caption == caption:
                # re-established right after being undone: the same sub-goal again
                self.events[-1].undone_stamp = None
                run.event = self.events[-1]
                continue
            run.event = SubGoalEvent(caption, run.start, stamp)
            self.events.append(run.event)
            self.last_event_stamp = stamp
            recorded.append(caption)
        return recorded

    @property
    def confirmed(self) -> list[str]:
        """Captions confirmed right now (initial ones included)."""
        return [c for c, r in self._runs.items() if r.confirmed]

    @property
    def raw_plan(self) -> list[str]:
        """Sub-goals recorded so far (rules 1-4 only)."""
        return [e.caption for e in self.events]

    def finish(self) -> DemoResult:
        """End the demonstration: apply rules 5-7 and return the plan (state is kept)."""
        cfg = self.config
        held = self.confirmed
        dropped: list[tuple[str, str]] = []
        kept: list[SubGoalEvent] = []
        for i, event in enumerate(self.events):
            kind, objects = _kind(event.caption)
            moved = kind == "on_top" and any(
                _kind(later.caption)[0] in ("grasp", "on_top")
                and _kind(later.caption)[1][:1] == objects[:1]
                for later in self.events[i + 1 :]
            )
            if not cfg.keep_undone and event.undone_stamp is not None and moved:
                dropped.append(
                    (event.caption, f"undone at {event.undone_stamp:.3f}: {objects[0]} moved")
                )
            else:
                kept.append(event)
        plan: list[str] = []
        for i, event in enumerate(kept):
            kind, objects = _kind(event.caption)
            if kind == "grasp" and not cfg.keep_unfollowed_grasps:
                following = kept[i + 1] if i + 1 < len(kept) else None
                if following is None:
                    if event.caption not in held:
                        dropped.append((event.caption, "released without a following on-top"))
                        continue
                else:
                    next_kind, next_objects = _kind(following.caption)
                    if not (next_kind == "on_top" and next_objects[0] == objects[0]):
                        dropped.append((event.caption, f"not followed by '{objects[0]} on ...'"))
                        continue
            if plan and plan[-1] == event.caption:
                dropped.append((event.caption, "repeats the previous sub-goal"))
                continue
            plan.append(event.caption)
        return DemoResult(
            plan=plan,
            events=[SubGoalEvent(**asdict(e)) for e in self.events],
            dropped=dropped,
            held_at_end=held,
            updates=self.updates,
            start_stamp=self.start_stamp,
            end_stamp=self.last_stamp,
        )


def observe(
    stream: Iterable[tuple[float, Iterable[str]]],
    config: ObserverConfig | None = None,
    vocabulary: Sequence[str] = (),
) -> DemoResult:
    """Run a whole time-ordered stream of (stamp, detected captions) through an observer."""
    observer = DemoObserver(config, vocabulary)
    for stamp, detected in stream:
        observer.update(stamp, detected)
    return observer.finish()


def observe_frames(
    captioner,
    stamps: Sequence[float],
    views,
    config: ObserverConfig | None = None,
) -> tuple[DemoResult, DemoRecording]:
    """Caption a stored demonstration with a ``Captioner`` and observe it.

    ``views``: uint8 frames ``[N, H, W, 3]`` of one camera, or camera -> ``[N, H, W, 3]``
    (scores fused over the cameras like the captioner's thresholds assume). Returns the
    result and a recording (scores, detections and the first camera's frames) ready for
    :func:`save_demo`.
    """
    if isinstance(views, np.ndarray):
        scores = captioner.score(views)
        frames = views
    else:
        scores = captioner.score_views(views)
        frames = next(iter(views.values())) if isinstance(views, dict) else views[0]
    if len(stamps) != len(scores):
        raise DemoObserverError(f"{len(stamps)} stamps for {len(scores)} frames")
    captions = list(captioner.captions)
    thresholds = captioner.threshold_map()
    limits = np.array([thresholds.get(c, captioner.gamma) for c in captions])
    observer = DemoObserver(config, vocabulary=captions)
    recording = DemoRecording(captions)
    for stamp, row, frame in zip(stamps, scores, frames, strict=True):
        detected = [c for c, hit in zip(captions, row >= limits, strict=True) if hit]
        observer.update(stamp, detected)
        recording.add(stamp, detected, row, np.asarray(frame))
    return observer.finish(), recording


# --------------------------------------------------------------------------- dataset


@dataclass
class DemoRecording:
    """What one demonstration looked like: frames (optional), stamps and detections."""

    captions: list[str]
    stamps: list[float] = field(default_factory=list)
    detected: list[np.ndarray] = field(default_factory=list)  # bool [C] per update
    scores: list[np.ndarray] = field(default_factory=list)  # float [C] per update (NaN: unknown)
    frames: list[np.ndarray | None] = field(default_factory=list)  # uint8 [H, W, 3] or None

    def add(
        self,
        stamp: float,
        detected: Iterable[str],
        scores: Sequence[float] | None = None,
        frame: np.ndarray | None = None,
    ) -> None:
        index = {c: i for i, c in enumerate(self.captions)}
        flags = np.zeros(len(self.captions), dtype=bool)
        for caption in detected:
            if caption not in index:
                raise DemoObserverError(f"caption {caption!r} is not in the recording's set")
            flags[index[caption]] = True
        values = np.full(len(self.captions), np.nan, np.float32)
        if scores is not None:
            if len(scores) != len(self.captions):
                raise DemoObserverError(f"{len(scores)} scores for {len(self.captions)} captions")
            values[:] = scores
        self.stamps.append(float(stamp))
        self.detected.append(flags)
        self.scores.append(values)
        self.frames.append(frame)

    def __len__(self) -> int:
        return len(self.stamps)


def save_demo(
    directory: str | os.PathLike,
    recording: DemoRecording,
    result: DemoResult,
    metadata: dict | None = None,
    name: str | None = None,
) -> Path:
    """Write ``<directory>/<name>/`` with ``demo.npz`` and ``demo.json``, atomically.

    ``demo.npz``: ``stamps`` [N], ``detected`` [N, C] bool, ``scores`` [N, C] float32
    (NaN where unknown), and when frames were recorded ``frames`` [M, H, W, 3] uint8
    with ``frame_index`` [M] (the update each frame belongs to). ``demo.json``: the
    caption set, the plan, its events and dropped sub-goals, the observer's rules
    and ``metadata``. Both files are written into a temporary folder that is renamed
    into place, so a reader never sees half a demonstration.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = name or time.strftime("demo_%Y%m%dT%H%M%S") + f"_{os.getpid()}_{time.time_ns() % 10**6}"
    final = directory / name
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    n, c = len(recording), len(recording.captions)
    arrays = {
        "stamps": np.asarray(recording.stamps, dtype=np.float64),
        "detected": np.stack(recording.detected) if n else np.zeros((0, c), bool),
        "scores": np.stack(recording.scores) if n else np.zeros((0, c), np.float32),
    }
    with_frames = [(i, f) for i, f in enumerate(recording.frames) if f is not None]
    if with_frames:
        shapes = {f.shape for _, f in with_frames}
        if len(shapes) != 1:
            raise DemoObserverError(f"frames of one demo must share a shape, got {sorted(shapes)}")
        arrays["frames"] = np.stack([f for _, f in with_frames]).astype(np.uint8)
        arrays["frame_index"] = np.array([i for i, _ in with_frames], dtype=np.int64)
    info = {
        "format": "grounded_agent demo v1",
        "captions": list(recording.captions),
        "updates": n,
        "frames": len(with_frames),
        **result.to_dict(),
        "metadata": metadata or {},
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=directory))
    try:
        with open(tmp / "demo.npz", "wb") as fh:
            np.savez_compressed(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        with open(tmp / "demo.json", "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final

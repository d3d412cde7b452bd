"""The demonstration observer: synthetic detection streams (debounce, flicker, order,
initial state, undone sub-goals, end of demo), a scripted-expert "stack red on blue"
episode rendered frame by frame and captioned from simulator truth, and the
atomically written dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grounded_core.tabletop import (
    ScriptedExpert,
    TabletopWorld,
    caption_list,
    get_task,
    grasp_caption,
    on_top_caption,
    true_captions,
)
from grounded_core.vision.demo_observer import (
    DemoObserver,
    DemoObserverError,
    DemoRecording,
    ObserverConfig,
    observe,
    save_demo,
)

GRASP_RED = grasp_caption("red")
GRASP_GREEN = grasp_caption("green")
RED_ON_BLUE = on_top_caption("red", "blue")
RED_ON_GREEN = on_top_caption("red", "green")
BLUE_ON_GREEN = on_top_caption("blue", "green")
VOCAB = caption_list(("red", "green", "blue"))


def stream(*segments, lead: int = 2):
    """(captions, n_frames) segments -> [(stamp, captions)] at 10 Hz.

    ``lead`` empty frames come first: the scene before the demonstrator acts (captions
    detected from the very first frame are the initial state, rule 3).
    """
    out, t = [], 0.0
    for captions, n in (((), lead), *segments):
        for _ in range(n):
            out.append((t, captions))
            t += 0.1
    return out


def test_pick_and_place_gives_grasp_then_on_top():
    demo = stream(((), 3), ((GRASP_RED,), 6), ((), 2), ((RED_ON_BLUE,), 5))
    result = observe(demo, vocabulary=VOCAB)
    assert result.plan == [GRASP_RED, RED_ON_BLUE]
    assert result.held_at_end == [RED_ON_BLUE]
    assert result.events[0].start_stamp == pytest.approx(0.5)
    assert result.events[0].confirmed_stamp == pytest.approx(0.7)  # third frame


def test_flicker_shorter_than_the_debounce_is_ignored():
    demo = stream(
        ((), 3),
        ((RED_ON_GREEN,), 2),  # 2 < min_frames: a false detection
        ((), 1),
        ((GRASP_RED,), 4),
        ((GRASP_RED, BLUE_ON_GREEN), 1),  # one-frame flicker on top of a real detection
        ((GRASP_RED,), 2),
        ((RED_ON_BLUE,), 4),
    )
    assert observe(demo).plan == [GRASP_RED, RED_ON_BLUE]


def test_a_single_missed_frame_does_not_undo_or_duplicate():
    demo = stream(
        ((GRASP_RED,), 4),
        ((RED_ON_BLUE,), 4),
        ((), 1),  # one miss < release_frames
        ((RED_ON_BLUE,), 4),
    )
    observer = DemoObserver(ObserverConfig(min_frames=3, release_frames=2))
    for stamp, captions in demo:
        observer.update(stamp, captions)
    result = observer.finish()
    assert result.plan == [GRASP_RED, RED_ON_BLUE]
    assert [e.caption for e in result.events] == [GRASP_RED, RED_ON_BLUE]
    assert result.events[1].undone_stamp is None


def test_released_and_redone_right_away_is_one_sub_goal():
    demo = stream(((GRASP_RED,), 3), ((RED_ON_BLUE,), 3), ((), 3), ((RED_ON_BLUE,), 3))
    result = observe(demo)
    assert result.plan == [GRASP_RED, RED_ON_BLUE]
    assert result.events[-1].undone_stamp is None  # re-established


def test_k_of_n_window_tolerates_missed_frames():
    # a noisy captioner: grasp red is detected in 3 of 5 frames, never 3 in a row
    noisy = stream(
        ((GRASP_RED,), 2), ((), 1), ((GRASP_RED,), 1), ((), 1), ((GRASP_RED,), 1),
        ((RED_ON_BLUE,), 4),
    )  # fmt: skip
    assert observe(noisy).plan == [RED_ON_BLUE]  # consecutive rule: the grasp is lost
    three_of_five = ObserverConfig(min_frames=3, window_frames=5)
    assert observe(noisy, three_of_five).plan == [GRASP_RED, RED_ON_BLUE]
    # isolated false detections (1 of 5) still never confirm
    sparse = stream(((RED_ON_GREEN,), 1), ((), 2), ((RED_ON_GREEN,), 1), ((), 4))
    assert observe(sparse, three_of_five).plan == []
    with pytest.raises(DemoObserverError, match="window_frames"):
        ObserverConfig(min_frames=3, window_frames=2)


def test_release_without_a_later_move_is_kept():
    # green on red drops out of the detections for a while (a captioner looking at a
    # tower), but green is never moved again: a missed detection, not an undo
    green_on_red, blue_on_green = on_top_caption("green", "red"), on_top_caption("blue", "green")
    demo = stream(
        ((GRASP_GREEN,), 4),
        ((green_on_red,), 4),
        ((green_on_red, grasp_caption("blue")), 4),
        ((blue_on_green,), 4),
    )
    result = observe(demo)
    assert result.events[1].undone_stamp is not None
    assert result.plan == [GRASP_GREEN, green_on_red, grasp_caption("blue"), blue_on_green]


def test_min_duration_debounce_in_seconds():
    config = ObserverConfig(min_frames=1, min_duration_s=0.25)
    assert observe(stream(((GRASP_RED,), 3)), config).plan == []  # 0.0 .. 0.2 s
    assert observe(stream(((GRASP_RED,), 4)), config).plan == [GRASP_RED]  # 0.3 s


def test_initial_state_is_not_a_sub_goal():
    # blue starts on green; the demonstrator unstacks it and stacks red on blue
    demo = stream(
        ((BLUE_ON_GREEN,), 5),
        ((grasp_caption("blue"),), 4),
        ((), 3),
        ((GRASP_RED,), 4),
        ((RED_ON_BLUE,), 4),
        lead=0,
    )
    result = observe(demo)
    assert BLUE_ON_GREEN not in [e.caption for e in result.events]
    assert result.plan == [GRASP_RED, RED_ON_BLUE]
    assert ("The robot is grasping the blue object", "not followed by 'blue on ...'") in (
        result.dropped
    )
    literal = ObserverConfig(ignore_initial=False, keep_unfollowed_grasps=True, keep_undone=True)
    keep = observe(demo, literal)
    assert keep.plan == [BLUE_ON_GREEN, grasp_caption("blue"), GRASP_RED, RED_ON_BLUE]


def test_undone_sub_goal_is_dropped_with_its_grasp():
    # red goes on green first (a mistake), then is moved onto blue
    demo = stream(
        ((GRASP_RED,), 4),
        ((RED_ON_GREEN,), 4),
        ((GRASP_RED,), 4),
        ((RED_ON_BLUE,), 4),
    )
    result = observe(demo)
    assert [e.caption for e in result.events] == [GRASP_RED, RED_ON_GREEN, GRASP_RED, RED_ON_BLUE]
    assert result.plan == [GRASP_RED, RED_ON_BLUE]
    assert result.dropped[0][0] == RED_ON_GREEN and result.dropped[0][1].startswith("undone")
    literal = observe(demo, ObserverConfig(keep_undone=True))
    assert literal.plan == [GRASP_RED, RED_ON_GREEN, GRASP_RED, RED_ON_BLUE]


def test_end_of_demo_grasp_only_and_pending_runs():
    # a "grasp the red object" demo: still holding at the end
    assert observe(stream(((GRASP_RED,), 5))).plan == [GRASP_RED]
    # ... unless the demo started with it (the initial state)
    assert observe(stream(((GRASP_RED,), 5), lead=0)).plan == []
    # grasped, then put back on the table: nothing the vocabulary can say
    assert observe(stream(((GRASP_RED,), 5), ((), 5))).plan == []
    # the demo ends while red-on-blue is only two frames old: not enough evidence
    demo = stream(((GRASP_RED,), 5), ((RED_ON_BLUE,), 2))
    result = observe(demo)
    assert result.plan == [] and result.held_at_end == []
    # the same with one more frame
    assert observe(stream(((GRASP_RED,), 5), ((RED_ON_BLUE,), 3))).plan == [GRASP_RED, RED_ON_BLUE]


def test_simultaneous_confirmations_follow_run_start_then_vocabulary():
    observer = DemoObserver(ObserverConfig(min_frames=2), vocabulary=VOCAB)
    observer.update(0.0, [])
    observer.update(0.1, [RED_ON_BLUE, GRASP_GREEN])
    assert observer.update(0.2, [RED_ON_BLUE, GRASP_GREEN]) == [GRASP_GREEN, RED_ON_BLUE]
    observer = DemoObserver(ObserverConfig(min_frames=2), vocabulary=VOCAB)
    observer.update(0.0, [])
    observer.update(0.1, [RED_ON_BLUE])
    observer.update(0.1, [RED_ON_BLUE, GRASP_GREEN])  # equal stamps are allowed
    assert observer.update(0.2, [RED_ON_BLUE, GRASP_GREEN]) == [GRASP_GREEN]
    assert observer.raw_plan == [RED_ON_BLUE, GRASP_GREEN]


def test_triple_stack_demo():
    green_on_blue, red_on_green = on_top_caption("green", "blue"), RED_ON_GREEN
    demo = stream(
        ((GRASP_GREEN,), 4),
        ((green_on_blue,), 3),
        ((green_on_blue, GRASP_RED), 4),
        ((green_on_blue, red_on_green), 4),
    )
    assert observe(demo).plan == [GRASP_GREEN, green_on_blue, GRASP_RED, red_on_green]


def test_bad_input_is_refused():
    observer = DemoObserver()
    observer.update(1.0, [GRASP_RED])
    with pytest.raises(DemoObserverError, match="older than the previous update"):
        observer.update(0.5, [GRASP_RED])
    with pytest.raises(DemoObserverError, match="finite"):
        observer.update(float("nan"), [])
    with pytest.raises(DemoObserverError, match="min_frames"):
        ObserverConfig(min_frames=0)
    # a caption outside the B2 vocabulary is debounced and recorded, never pruned
    assert observe(stream((("The gripper is open",), 3))).plan == ["The gripper is open"]


@pytest.fixture(scope="module")
def expert_episode():
    """Frames of a scripted "stack red on blue" episode every 0.1 s of simulated time."""
    world = TabletopWorld("tabletop", seed=0)
    config = world.config
    tol = config.tolerances
    period = max(1, round(0.1 / config.physics.time_step))
    frames = []
    steps = {"n": 0}
    original = world.step_simulation

    def recording_step(n: int = 1) -> None:
        for _ in range(n):
            original(1)
            steps["n"] += 1
            if steps["n"] % period == 0:
                state = world.state()
                rgb = world.render("front_left").rgb
                frames.append((state.sim_time, rgb, true_captions(state, tol)))

    try:
        state = world.reset(seed=3)
        world.step_simulation = recording_step  # record while the primitives run
        expert = ScriptedExpert(config, get_task("stack_red_on_blue", config))
        for _ in range(4):
            world.act(*expert.act(state))
            state = world.state()
            if get_task("stack_red_on_blue", config).is_success(state, tol):
                break
        world.step_simulation(period * 5)  # the demonstrator lets go and waits
    finally:
        world.step_simulation = original
        world.close()
    return frames


def test_scripted_expert_episode_gives_the_stacking_plan(expert_episode, tmp_path):
    frames = expert_episode
    assert len(frames) >= 20
    stamps = [t for t, _, _ in frames]
    assert stamps == sorted(stamps)
    observer = DemoObserver(ObserverConfig(min_frames=3), vocabulary=VOCAB)
    recording = DemoRecording(VOCAB)
    for stamp, rgb, captions in frames:
        observer.update(stamp, captions)
        recording.add(stamp, captions, frame=rgb)
    result = observer.finish()
    assert result.plan == [GRASP_RED, RED_ON_BLUE]
    assert result.held_at_end == [RED_ON_BLUE]

    path = save_demo(tmp_path / "demos", recording, result, metadata={"task": "stack_red_on_blue"})
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no leftovers
    info = json.loads((path / "demo.json").read_text())
    assert info["plan"] == [GRASP_RED, RED_ON_BLUE] and info["captions"] == VOCAB
    assert info["metadata"] == {"task": "stack_red_on_blue"} and info["frames"] == len(frames)
    with np.load(path / "demo.npz") as data:
        assert data["frames"].shape == (len(frames), 128, 128, 3)
        assert data["detected"].shape == (len(frames), len(VOCAB))
        np.testing.assert_allclose(data["stamps"], stamps)
        # the labels are the simulator's truth, frame by frame
        red_on_blue = data["detected"][:, VOCAB.index(RED_ON_BLUE)]
        assert red_on_blue[-1] and not red_on_blue[0]
    with pytest.raises(FileExistsError):
        save_demo(tmp_path / "demos", recording, result, name=path.name)

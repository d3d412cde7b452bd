"""Demonstration videos of the scripted expert (grounded_core.tabletop.demo_videos):
every variant renders frames during the motion at the expected times, the sidecar's
ground-truth sub-goals for "stack red on blue" are [grasp red, red on blue], and a
video imports into a bag with its sidecar. Small frames and 10 fps keep it fast."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from grounded_core.data.bags import Bag
from grounded_core.data.video import import_video, read_video, sidecar_of
from grounded_core.tabletop import TabletopWorld
from grounded_core.tabletop.captions import grasp_caption, on_top_caption
from grounded_core.tabletop.demo_videos import (
    Variant,
    _Hand,
    main,
    render_demo,
    subgoal_sequence,
)

FPS = 10.0
W, H = 80, 60
TASK, SEED = "stack_red_on_blue", 3
EXPECTED = [grasp_caption("red"), on_top_caption("red", "blue")]


def _render(tmp_path_factory, variant):
    out = tmp_path_factory.mktemp(variant.replace("+", "_"))
    return render_demo(TASK, SEED, variant, out, fps=FPS, width=W, height=H, tail_s=0.5)


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    return _render(tmp_path_factory, "default")


def _frames(demo):
    return list(read_video(demo.video))


def test_default_video_is_filmed_during_the_motion_at_the_expected_times(default):
    info = json.loads(default.sidecar.read_text())
    assert info == default.info
    assert info["task"] == TASK and info["seed"] == SEED and info["variant"] == "default"
    assert info["success"] is True
    frames = _frames(default)
    assert len(frames) == info["frame_count"]
    assert (frames[0].rgb.shape[1], frames[0].rgb.shape[0]) == (W, H)
    assert np.allclose([f.time_s for f in frames], np.arange(len(frames)) / FPS, atol=1e-3)
    # Two primitives plus the tail, filmed throughout (not only between primitives).
    primitives = info["primitives"]
    assert [p["kind"] for p in primitives] == ["pick", "place"]
    assert primitives[0]["picked"] == "red" and primitives[1]["placed_on"] == "blue"
    filmed = primitives[-1]["end_time_s"] + 0.5
    assert len(frames) == pytest.approx(filmed * FPS + 1, abs=1.5)
    during_pick = [f for f in frames if 0 < f.time_s < primitives[0]["end_time_s"]]
    assert len(during_pick) >= 5
    changes = [np.abs(a.rgb.astype(int) - b.rgb).mean() for a, b in itertools.pairwise(frames)]
    assert sum(c > 0.5 for c in changes) >= len(during_pick) // 2  # the arm is seen moving


def test_ground_truth_subgoals_of_stack_red_on_blue(default):
    info = default.info
    assert subgoal_sequence(info) == EXPECTED == info["reference_plan"]
    grasp, on_top = info["subgoals"]
    pick, place = info["primitives"]
    # Each sub-goal becomes true inside the primitive that achieves it.
    assert pick["start_time_s"] < grasp["time_s"] <= pick["end_time_s"]
    assert place["start_time_s"] < on_top["time_s"] <= place["end_time_s"]
    assert grasp["frame"] == round(grasp["time_s"] * FPS)
    intervals = {i["caption"]: i for i in info["caption_intervals"]}
    assert intervals[EXPECTED[0]]["end_time_s"] <= on_top["time_s"] + 1 / FPS


@pytest.mark.parametrize("variant", ["camera", "lighting", "hand"])
def test_variants_render_differently_with_the_same_subgoals(tmp_path_factory, default, variant):
    demo = _render(tmp_path_factory, variant)
    assert demo.info["variant"] == variant
    assert subgoal_sequence(demo.info) == EXPECTED
    frames, reference = _frames(demo), _frames(default)
    assert len(frames) == len(reference) == demo.info["frame_count"]
    difference = np.mean(
        [np.abs(a.rgb.astype(int) - b.rgb).mean() for a, b in zip(frames, reference)]
    )
    assert difference > 5.0, f"{variant} looks like the training view ({difference:.1f})"


def test_stand_in_hand_hides_the_robot_and_follows_the_gripper():
    with TabletopWorld(seed=SEED) as world:
        hand = _Hand(world)
        p = world.client
        assert all(shape[7][3] == 0.0 for shape in p.getVisualShapeData(world.robot_id))
        world.act(*world.state().position("red")[:2])  # pick: the gripper moves and closes
        hand.update()
        ee = world.arm.ee_position()
        palm = np.array(p.getBasePositionAndOrientation(hand.palm)[0])
        assert 0.05 < np.linalg.norm(palm - ee) < 0.1 and palm[2] > ee[2]  # above the grasp
        for digit, joint in zip(hand.digits, world.config.robot.finger_joints, strict=True):
            finger = np.array(p.getLinkState(world.robot_id, joint)[4])
            assert (
                np.linalg.norm(np.array(p.getBasePositionAndOrientation(digit)[0]) - finger) < 0.02
            )
        assert p.getContactPoints(bodyA=hand.palm) == ()  # visual only: no physics


def test_combined_variant_and_bag_import(tmp_path_factory, tmp_path):
    demo = _render(tmp_path_factory, "camera+hand")
    assert demo.video.name == f"{TASK}_seed{SEED}_camera-hand.mp4"
    assert demo.info["variant_settings"]["actor"] == "hand"
    summary = import_video(demo.video, tmp_path / "bag", start_ns=0)
    assert summary.frames == demo.info["frame_count"]
    assert subgoal_sequence(sidecar_of(tmp_path / "bag")) == EXPECTED
    with Bag(tmp_path / "bag") as bag:
        stamps = [m.timestamp for m in bag.messages()]
    assert np.allclose(np.array(stamps) / 1e9, np.arange(len(stamps)) / FPS, atol=1e-3)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown variant"):
        Variant.parse("fog")
    with pytest.raises(ValueError, match="must divide the physics rate"):
        render_demo(TASK, 0, "default", tmp_path, fps=7.0)
    with pytest.raises(ValueError, match="unknown task"):
        render_demo("juggle", 0, "default", tmp_path, fps=FPS)
    assert main(["--variants", "fog", "--out", str(tmp_path)]) == 2

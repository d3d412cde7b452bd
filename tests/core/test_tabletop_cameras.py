"""Headless rendering, intrinsics and camera pose of the tabletop cameras (MISSION B1, B2)."""

from __future__ import annotations

import numpy as np
import pytest

from grounded_core.tabletop import TabletopWorld

LAYOUT = {"red": (0.45, -0.08), "green": (0.55, 0.08), "blue": (0.6, -0.08)}


@pytest.fixture(scope="module")
def world():
    with TabletopWorld(seed=0) as w:
        w.reset(layout=LAYOUT)
        yield w


def test_default_cameras_render_rgb_depth_and_segmentation(world):
    frames = world.render_all()
    assert sorted(frames) == ["front_left", "front_right"]
    labels = world.segmentation_labels()
    for frame in frames.values():
        assert frame.rgb.shape == (128, 128, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth.shape == (128, 128) and frame.depth.dtype == np.float32
        assert frame.segmentation.shape == (128, 128)
        seen = {labels.get(int(i)) for i in np.unique(frame.segmentation) if i >= 0}
        assert {"red", "green", "blue", "table", "robot"} <= seen
        assert float(frame.depth.min()) > 0.05 and float(frame.depth.max()) <= 2.0 + 1e-3
    big = world.render("overview")
    assert big.rgb.shape == (480, 640, 3)
    with pytest.raises(KeyError, match="no camera"):
        world.render("ceiling")


def test_intrinsics_pose_depth_and_segmentation_agree(world):
    camera = world.cameras["front_left"]
    frame = world.render("front_left")
    K = camera.K
    assert K[0, 0] == pytest.approx(K[1, 1]) and K[0, 2] == 64 and K[1, 2] == 64
    pose = camera.world_from_camera
    assert np.allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3), atol=1e-9)
    assert np.allclose(pose[:3, 3], camera.config.eye)
    state = world.state()
    labels = {name: body for body, name in world.segmentation_labels().items()}
    for name in ("red", "green", "blue"):
        # The centre of the cube's top face projects onto a pixel of that cube ...
        top = state.position(name) + np.array([0.0, 0.0, 0.025])
        u, v = camera.project(top)[0]
        row, col = int(v), int(u)
        assert frame.segmentation[row, col] == labels[name]
        # ... whose depth is that point's distance along the optical axis.
        expected = (np.linalg.inv(pose) @ np.r_[top, 1.0])[2]
        assert frame.depth[row, col] == pytest.approx(expected, abs=0.01)


def test_colours_match_the_world_file(world):
    frame = world.render("front_right")
    labels = {name: body for body, name in world.segmentation_labels().items()}
    for obj in world.config.objects:
        pixels = frame.rgb[frame.segmentation == labels[obj.name]].astype(float)
        mean = pixels.mean(axis=0)
        assert int(np.argmax(mean)) == int(np.argmax(obj.colour[:3]))

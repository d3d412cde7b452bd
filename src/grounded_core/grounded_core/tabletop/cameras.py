"""Pinhole cameras of the tabletop world: images, intrinsics and pose (MISSION B1).

The VLM of MISSION B2 sees RGB frames (the paper used two 128x128 cameras);
depth and segmentation serve the OpenCV object tracker and dataset labels. The
ROS node publishes ``camera_info`` from :attr:`Camera.K` and the camera pose
from :attr:`Camera.world_from_camera`, so both follow ROS conventions:

* ``K`` is the 3x3 intrinsics matrix of the image as returned (row 0 at the
  top), with square pixels; pybullet's ``fov`` is the vertical field of view.
* ``world_from_camera`` is the 4x4 pose of the camera's *optical* frame
  (REP 103: z forward along the viewing ray, x right, y down in the image).

Depth is metric distance along the optical axis (z in the optical frame),
converted from pybullet's non-linear depth buffer. Segmentation holds the
pybullet body id per pixel (-1 for background); ``TabletopWorld.segmentation_labels()``
maps ids to names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pybullet

from .world_config import CameraConfig


@dataclass(frozen=True)
class CameraFrame:
    """One rendered frame."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32, metres along the optical axis
    segmentation: np.ndarray  # (H, W) int32 body ids, -1 = background


class Camera:
    """Matrices and rendering for one :class:`CameraConfig`."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.view_matrix = pybullet.computeViewMatrix(config.eye, config.target, config.up)
        self.projection_matrix = pybullet.computeProjectionMatrixFOV(
            config.fov_deg, config.width / config.height, config.near, config.far
        )

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsics: fx = fy from the vertical field of view, centre at W/2, H/2."""
        cfg = self.config
        f = (cfg.height / 2.0) / math.tan(math.radians(cfg.fov_deg) / 2.0)
        return np.array([[f, 0.0, cfg.width / 2.0], [0.0, f, cfg.height / 2.0], [0.0, 0.0, 1.0]])

    @property
    def world_from_camera(self) -> np.ndarray:
        """4x4 pose of the optical frame (z forward, x right, y down) in the world."""
        eye = np.asarray(self.config.eye, dtype=float)
        forward = np.asarray(self.config.target, dtype=float) - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, np.asarray(self.config.up, dtype=float))
        norm = np.linalg.norm(right)
        if norm < 1e-9:
            raise ValueError(f"camera {self.name!r}: 'up' is parallel to the viewing direction")
        right /= norm
        down = np.cross(forward, right)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, eye
        return pose

    def render(self, client, renderer: int = pybullet.ER_TINY_RENDERER) -> CameraFrame:
        """Render RGB, depth and segmentation with the given pybullet client."""
        cfg = self.config
        _, _, rgba, depth_buffer, seg = client.getCameraImage(
            cfg.width,
            cfg.height,
            viewMatrix=self.view_matrix,
            projectionMatrix=self.projection_matrix,
            renderer=renderer,
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(cfg.height, cfg.width, 4)[:, :, :3]
        buffer = np.asarray(depth_buffer, dtype=np.float32).reshape(cfg.height, cfg.width)
        near, far = cfg.near, cfg.far
        depth = (far * near / (far - (far - near) * buffer)).astype(np.float32)
        segmentation = np.asarray(seg, dtype=np.int32).reshape(cfg.height, cfg.width)
        return CameraFrame(rgb=np.ascontiguousarray(rgb), depth=depth, segmentation=segmentation)

    def project(self, points_world: np.ndarray) -> np.ndarray:
        """Pixel coordinates (u, v) of world points, shape (N, 2); for labels and tests."""
        points = np.atleast_2d(np.asarray(points_world, dtype=float))
        camera_from_world = np.linalg.inv(self.world_from_camera)
        cam = (camera_from_world[:3, :3] @ points.T).T + camera_from_world[:3, 3]
        pixels = (self.K @ cam.T).T
        return pixels[:, :2] / pixels[:, 2:3]

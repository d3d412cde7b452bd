"""Colour object tracker: RGB + depth + intrinsics -> 3-D object positions (ROS-free).

The policy of MISSION B4 reads object positions. In simulation they come from the
simulator; with a real camera they come from this tracker: classic OpenCV colour
segmentation, depth back-projection and a small geometric fit, no learning.

Pipeline per frame and object (config/object_tracker.yaml):

1. **Segment**: pixels whose HSV value lies in one of the object's ranges; a
   morphological opening/closing cleans the mask; connected components are found.
2. **Pick blobs**: the largest component is the object; another component is merged
   into it when its median 3-D point lies within ``merge_distance`` object sizes of
   the largest one's (a cube split in two by a gripper finger stays one object, a
   far-away speck of the same colour does not). Fewer than ``min_pixels`` pixels:
   the object is *not visible* (reported, never guessed).
3. **Back-project**: every mask pixel with a valid depth becomes a 3-D point in the
   camera's optical frame, ``X = (u - cx) Z / fx``, ``Y = (v - cy) Z / fy`` with
   ``(u, v)`` the pixel *centre* in the ROS/OpenCV convention (pixel ``(0, 0)`` has
   its centre at ``u = v = 0``; :meth:`CameraModel.from_sim_camera` converts the
   simulator's intrinsics, whose rows are offset by one pixel).
4. **Centre**: the camera sees the object's *surface*, not its centre, so the mean
   or median of the points is biased towards the camera by up to half the object
   size. Two estimators:

   * ``ray``: the median point (robust to outliers and partial occlusion) pushed
     half an object size further along the viewing ray through it. Simple, needs no
     camera pose, but only approximate: the visible-surface median of a cube seen
     from above a corner lies ~0.3-0.6 half-sizes from its centre, not exactly one.
   * ``box_fit`` (default, needs the camera pose): in the world frame, fit an
     upright cube of the known size (centre x, y, z and yaw) to the surface points
     by minimising their robust distance to the cube's surface (signed distance of
     a box, soft-L1 loss with scale ``fit_loss_scale``), started from the ``ray``
     estimate. Every visible face constrains the centre: the top face fixes z and
     (with its extent) x, y; side faces fix the horizontal coordinates, and their
     vertical extent fixes z when the top is hidden (the lower cube of a stack).
     Because it uses the shape rather than the mask's centroid, an occluder that
     hides part of the cube (another cube, a finger) removes points but does not
     move the estimate. Cubes are 90-degree symmetric, so the reported yaw lies in
     [-pi/4, pi/4). The fit is a small Levenberg-Marquardt on the robust cost (4
     parameters, restarted from two more yaws when the first fit is poor). What it
     cannot resolve is a cube mostly hidden behind another object: a visible corner
     fits a range of positions. ``visible_fraction`` (mask pixels / image area of
     the fitted cube) flags such cases; the benchmark reports errors by it.

The camera pose (``world_from_camera``, the optical frame's 4x4 pose in the world)
turns camera-frame positions into world positions; without it only camera-frame
positions (``ray``) are produced.

Measured on simulator renders (bench/object_tracker.py, bench/results/object_tracker.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

__all__ = [
    "METHODS",
    "SIM_CY_OFFSET",
    "CameraModel",
    "HsvRange",
    "ObjectSpec",
    "ObjectTracker",
    "TrackedObject",
    "TrackerConfig",
    "TrackerConfigError",
    "TrackerInputError",
    "default_tracker_config_path",
    "load_tracker_config",
    "parse_tracker_config",
    "positions",
]

METHODS = ("box_fit", "ray")
#: Rows by which pybullet's tiny renderer is offset from ``Camera.K`` (see from_sim_camera).
SIM_CY_OFFSET = 1.0
#: Yaw starts of the box fit (radians); the best fit wins.
_YAW_STARTS = (0.0, -math.pi / 6.0, math.pi / 6.0)
#: A fit whose median residual is below this many loss scales is accepted at once.
_GOOD_FIT = 0.1


class TrackerConfigError(ValueError):
    """A malformed tracker configuration (the message names the field)."""


class TrackerInputError(ValueError):
    """A frame, depth image or camera model the tracker cannot use (message says why)."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class HsvRange:
    """Inclusive OpenCV HSV bounds (H 0-179, S and V 0-255)."""

    lower: tuple[int, int, int]
    upper: tuple[int, int, int]


@dataclass(frozen=True)
class ObjectSpec:
    """One tracked object: its name, cube edge length (m) and colour ranges."""

    name: str
    size: float
    hsv_ranges: tuple[HsvRange, ...]


@dataclass(frozen=True)
class TrackerConfig:
    """Everything the tracker needs besides the frames (see config/object_tracker.yaml)."""

    objects: tuple[ObjectSpec, ...]
    open_kernel: int = 1
    close_kernel: int = 3
    min_pixels: int = 8
    min_component_pixels: int = 3
    merge_distance: float = 1.5
    depth_min: float = 0.05
    depth_max: float = 5.0
    method: str = "box_fit"
    fit_loss_scale: float = 0.003

    def __post_init__(self) -> None:
        if not self.objects:
            raise TrackerConfigError("objects: at least one object is needed")
        names = [o.name for o in self.objects]
        if len(set(names)) != len(names):
            raise TrackerConfigError(f"objects: duplicate names in {names}")
        for key in ("open_kernel", "close_kernel", "min_pixels", "min_component_pixels"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrackerConfigError(f"{key} must be an integer >= 1, got {value!r}")
        for key in ("merge_distance", "depth_min", "depth_max", "fit_loss_scale"):
            value = getattr(self, key)
            number = isinstance(value, float | int) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value <= 0:
                raise TrackerConfigError(f"{key} must be a positive number, got {value!r}")
        if self.depth_max <= self.depth_min:
            raise TrackerConfigError(
                f"depth_max ({self.depth_max}) must exceed depth_min ({self.depth_min})"
            )
        if self.method not in METHODS:
            raise TrackerConfigError(f"method must be one of {list(METHODS)}, got {self.method!r}")

    @property
    def object_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects)


def default_tracker_config_path() -> Path | None:
    """The repository's config/object_tracker.yaml, if this is a source checkout."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "config" / "object_tracker.yaml"
        if candidate.is_file():
            return candidate
    return None


def _hsv_triple(value: Any, where: str) -> tuple[int, int, int]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise TrackerConfigError(f"{where} must be 3 integers [H, S, V], got {value!r}")
    out = []
    for i, (v, top) in enumerate(zip(value, (179, 255, 255), strict=True)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
            raise TrackerConfigError(f"{where}[{i}] must be an integer in [0, {top}], got {v!r}")
        out.append(v)
    return (out[0], out[1], out[2])


def _parse_object(data: Any, index: int) -> ObjectSpec:
    where = f"objects[{index}]"
    if not isinstance(data, Mapping):
        raise TrackerConfigError(f"{where} must be a mapping")
    unknown = sorted(set(data) - {"name", "size", "hsv_ranges"})
    if unknown:
        raise TrackerConfigError(f"{where}: unknown key(s) {unknown}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise TrackerConfigError(f"{where}.name must be a non-empty string")
    size = data.get("size")
    if isinstance(size, bool) or not isinstance(size, int | float) or not 0 < size < 10:
        raise TrackerConfigError(f"{where}.size must be a positive number (metres), got {size!r}")
    ranges = data.get("hsv_ranges")
    if not isinstance(ranges, list) or not ranges:
        raise TrackerConfigError(f"{where}.hsv_ranges must be a non-empty list")
    parsed = []
    for j, r in enumerate(ranges):
        rw = f"{where}.hsv_ranges[{j}]"
        if not isinstance(r, Mapping) or set(r) != {"lower", "upper"}:
            raise TrackerConfigError(f"{rw} must have exactly 'lower' and 'upper'")
        lower, upper = (
            _hsv_triple(r["lower"], f"{rw}.lower"),
            _hsv_triple(r["upper"], f"{rw}.upper"),
        )
        if any(lo > hi for lo, hi in zip(lower, upper, strict=True)):
            raise TrackerConfigError(f"{rw}: lower {list(lower)} exceeds upper {list(upper)}")
        parsed.append(HsvRange(lower, upper))
    return ObjectSpec(name=name, size=float(size), hsv_ranges=tuple(parsed))


def parse_tracker_config(data: Any, source: str = "config") -> TrackerConfig:
    """Validate a tracker configuration already parsed from YAML."""
    if not isinstance(data, Mapping):
        raise TrackerConfigError(f"{source}: expected a mapping at the top level")
    known = {f for f in TrackerConfig.__dataclass_fields__}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrackerConfigError(f"{source}: unknown key(s) {unknown}; known: {sorted(known)}")
    objects = data.get("objects")
    if not isinstance(objects, list):
        raise TrackerConfigError(f"{source}: objects must be a list")
    kwargs = {k: v for k, v in data.items() if k != "objects"}
    try:
        return TrackerConfig(
            objects=tuple(_parse_object(o, i) for i, o in enumerate(objects)), **kwargs
        )
    except TrackerConfigError as exc:
        raise TrackerConfigError(f"{source}: {exc}") from None


def load_tracker_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> TrackerConfig:
    """Read a tracker YAML (``None``: the repository's config/object_tracker.yaml)."""
    if path is None:
        path = default_tracker_config_path()
        if path is None:
            raise TrackerConfigError("no config/object_tracker.yaml found; pass a path")
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TrackerConfigError(f"{path}: cannot read ({exc})") from exc
    if isinstance(data, Mapping) and overrides:
        data = {**data, **overrides}
    return parse_tracker_config(data, str(path))


# --------------------------------------------------------------------------- camera


@dataclass(frozen=True)
class CameraModel:
    """Pinhole intrinsics (ROS/OpenCV pixel-centre convention) and optional pose.

    ``world_from_camera``: 4x4 pose of the optical frame (z forward, x right, y down)
    in the world, or ``None`` when only camera-frame positions are wanted.
    """

    K: np.ndarray
    width: int
    height: int
    world_from_camera: np.ndarray | None = None

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=float)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)):
            raise TrackerInputError(f"camera K must be a finite 3x3 matrix, got {K.tolist()}")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0.0, 0.0, 1.0]):
            raise TrackerInputError(
                "camera K must have positive focal lengths and last row [0, 0, 1] "
                f"(an all-zero K means no calibration), got {K.tolist()}"
            )
        if self.width <= 0 or self.height <= 0:
            raise TrackerInputError(f"camera size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "K", K)
        if self.world_from_camera is not None:
            pose = np.asarray(self.world_from_camera, dtype=float)
            if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
                raise TrackerInputError("world_from_camera must be a finite 4x4 matrix")
            rotation = pose[:3, :3]
            if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5) or not np.allclose(
                pose[3], [0, 0, 0, 1]
            ):
                raise TrackerInputError("world_from_camera must be a rigid transform")
            object.__setattr__(self, "world_from_camera", pose)

    @classmethod
    def from_sim_camera(cls, camera, with_pose: bool = True) -> CameraModel:
        """From a ``grounded_core.tabletop.Camera`` rendered with pybullet's tiny renderer.

        That renderer samples pixel (row i, column j) at ``(u, v) = (j, i + 1)`` of
        ``Camera.K``'s continuous image coordinates (measured: the back-projected table
        is exactly flat only then; see bench/results/object_tracker.md), so in the
        pixel-centre convention used here ``cy`` is one pixel smaller than ``K``'s.
        """
        K = np.array(camera.K, dtype=float)
        K[1, 2] -= SIM_CY_OFFSET
        return cls(
            K=K,
            width=camera.config.width,
            height=camera.config.height,
            world_from_camera=camera.world_from_camera if with_pose else None,
        )

    @property
    def has_pose(self) -> bool:
        return self.world_from_camera is not None

    def pixels_to_points(self, us: np.ndarray, vs: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Back-project pixel centres with depth (along the optical axis) to (N, 3) points."""
        K = self.K
        x = (us - K[0, 2]) * depth / K[0, 0]
        y = (vs - K[1, 2]) * depth / K[1, 1]
        return np.stack([x, y, depth], axis=1)

    def project(self, points_camera: np.ndarray) -> np.ndarray:
        """Pixel coordinates (u, v) of optical-frame points, shape (N, 2)."""
        pixels = points_camera @ self.K.T
        return pixels[:, :2] / pixels[:, 2:3]

    def silhouette_area(self, points_world: np.ndarray) -> float:
        """Image area (pixels) of the convex hull of world points (0 if any is behind)."""
        camera_points = self.to_camera(points_world)
        if np.any(camera_points[:, 2] <= 0):
            return 0.0
        hull = cv2.convexHull(self.project(camera_points).astype(np.float32))
        return float(cv2.contourArea(hull))

    def to_world(self, points: np.ndarray) -> np.ndarray:
        pose = self._pose()
        return points @ pose[:3, :3].T + pose[:3, 3]

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        pose = self._pose()
        return (points - pose[:3, 3]) @ pose[:3, :3]

    def _pose(self) -> np.ndarray:
        if self.world_from_camera is None:
            raise TrackerInputError("this camera model has no pose (world_from_camera)")
        return self.world_from_camera


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TrackedObject:
    """Where one object is in one frame (``visible=False``: positions are ``None``)."""

    name: str
    visible: bool
    pixels: int
    position_camera: np.ndarray | None = None  # (3,) optical frame, metres
    position_world: np.ndarray | None = None  # (3,) world frame (needs the camera pose)
    yaw: float | None = None  # world-frame yaw in [-pi/4, pi/4) (box_fit only)
    method: str = ""
    residual: float | None = None  # median |distance to the fitted surface| (box_fit), m
    # mask pixels / image area of the fitted cube (box_fit): < ~0.5 means mostly hidden,
    # where the hidden extent is less certain (the largest errors of the benchmark)
    visible_fraction: float | None = None
    centroid_px: tuple[float, float] | None = None  # (u, v) mean of the mask
    components: int = 0  # connected components merged into the object


# --------------------------------------------------------------------------- geometry


def _box_sdf(points: np.ndarray, centre: np.ndarray, yaw: float, half: float) -> np.ndarray:
    """Signed distance of points to an upright cube (negative inside)."""
    c, s = math.cos(yaw), math.sin(yaw)
    d = points - centre
    # Rotate into the box frame (inverse yaw about z).
    q = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)
    excess = np.abs(q) - half
    outside = np.linalg.norm(np.maximum(excess, 0.0), axis=1)
    inside = np.minimum(excess.max(axis=1), 0.0)
    return outside + inside


def _cube_corners(centre: np.ndarray, yaw: float, half: float) -> np.ndarray:
    """The 8 corners of an upright cube, shape (8, 3)."""
    c, s = math.cos(yaw), math.sin(yaw)
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    local = signs * half
    rotated = np.stack(
        [c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1], local[:, 2]], axis=1
    )
    return rotated + centre


def _wrap_yaw(yaw: float) -> float:
    """Yaw of a 90-degree-symmetric cube folded into [-pi/4, pi/4)."""
    quarter = math.pi / 2.0
    return (yaw + quarter / 2.0) % quarter - quarter / 2.0


def _robust_cost(residuals: np.ndarray, scale: float) -> float:
    """Soft-L1 cost: quadratic for |r| << scale, linear beyond."""
    return float(np.sum(2.0 * (np.sqrt(1.0 + (residuals / scale) ** 2) - 1.0)))


def _fit_from(
    points: np.ndarray, x0: np.ndarray, half: float, scale: float, iterations: int = 40
) -> tuple[np.ndarray, float]:
    """Levenberg-Marquardt on the soft-L1 cost (IRLS weights); returns (x, cost).

    x = (cx, cy, cz, yaw); the Jacobian is by central differences (8 vectorised
    signed-distance evaluations per iteration).
    """
    steps = np.array([1e-4, 1e-4, 1e-4, 1e-3])
    x = x0.astype(float)
    r = _box_sdf(points, x[:3], x[3], half)
    cost = _robust_cost(r, scale)
    damping = 1e-3
    for _ in range(iterations):
        jac = np.empty((len(points), 4))
        for k in range(4):
            dx = np.zeros(4)
            dx[k] = steps[k]
            plus = _box_sdf(points, x[:3] + dx[:3], x[3] + dx[3], half)
            minus = _box_sdf(points, x[:3] - dx[:3], x[3] - dx[3], half)
            jac[:, k] = (plus - minus) / (2.0 * steps[k])
        weights = 1.0 / np.sqrt(1.0 + (r / scale) ** 2)
        jtw = jac.T * weights
        normal = jtw @ jac
        gradient = jtw @ r
        improved = False
        while damping < 1e6:
            try:
                delta = np.linalg.solve(
                    normal + damping * np.diag(np.diag(normal) + 1e-12), -gradient
                )
            except np.linalg.LinAlgError:
                damping *= 10.0
                continue
            candidate = x + delta
            r_new = _box_sdf(points, candidate[:3], candidate[3], half)
            cost_new = _robust_cost(r_new, scale)
            if cost_new < cost:
                x, r, improved = candidate, r_new, True
                converged = cost - cost_new < 1e-10 * max(cost, 1e-12) or np.all(
                    np.abs(delta) < steps * 1e-2
                )
                cost = cost_new
                damping = max(damping / 10.0, 1e-9)
                break
            damping *= 10.0
        if not improved or converged:
            break
    return x, cost


def fit_cube(
    points: np.ndarray, start: np.ndarray, size: float, loss_scale: float
) -> tuple[np.ndarray, float, float]:
    """Fit an upright cube of edge ``size`` to surface points: (centre, yaw, median residual)."""
    half = size / 2.0
    best, best_cost, best_residual = None, math.inf, math.inf
    for yaw0 in _YAW_STARTS:
        x, cost = _fit_from(points, np.array([*start, yaw0]), half, loss_scale)
        if cost < best_cost:
            best, best_cost = x, cost
            best_residual = float(np.median(np.abs(_box_sdf(points, x[:3], x[3], half))))
        if best_residual <= loss_scale * _GOOD_FIT:
            break  # the surface points already lie on the fitted cube: no other start needed
    return best[:3], _wrap_yaw(float(best[3])), best_residual


# --------------------------------------------------------------------------- tracker


class ObjectTracker:
    """Finds the configured coloured objects in RGB-D frames (see the module docstring)."""

    def __init__(self, config: TrackerConfig | str | Path | None = None) -> None:
        if not isinstance(config, TrackerConfig):
            config = load_tracker_config(config)
        self.config = config
        self._open = (
            np.ones((config.open_kernel, config.open_kernel), np.uint8)
            if config.open_kernel > 1
            else None
        )
        self._close = (
            np.ones((config.close_kernel, config.close_kernel), np.uint8)
            if config.close_kernel > 1
            else None
        )

    @property
    def object_names(self) -> tuple[str, ...]:
        return self.config.object_names

    # ------------------------------------------------------------------ input checks

    @staticmethod
    def check_rgb(rgb: np.ndarray) -> np.ndarray:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise TrackerInputError(f"rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
        return rgb

    def check_depth(self, depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Depth in metres as float32 (uint16 input is millimetres); invalid pixels = NaN."""
        depth = np.asarray(depth)
        if depth.ndim == 3 and depth.shape[2] == 1:
            depth = depth[:, :, 0]
        if depth.ndim != 2:
            raise TrackerInputError(f"depth must be (H, W), got shape {depth.shape}")
        if depth.shape != shape:
            raise TrackerInputError(
                f"depth is {depth.shape[1]}x{depth.shape[0]} but the colour image is "
                f"{shape[1]}x{shape[0]}; they must be registered (same size)"
            )
        if depth.dtype == np.uint16:
            metres = depth.astype(np.float32) * 0.001
        elif depth.dtype in (np.float32, np.float64):
            metres = depth.astype(np.float32)
        else:
            raise TrackerInputError(
                f"depth must be float metres or uint16 millimetres, got {depth.dtype}"
            )
        valid = np.isfinite(metres) & (metres >= self.config.depth_min)
        valid &= metres <= self.config.depth_max
        return np.where(valid, metres, np.nan).astype(np.float32)

    # ------------------------------------------------------------------ segmentation

    def segment(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        """Cleaned boolean masks per object (before the component selection)."""
        rgb = self.check_rgb(rgb)
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        masks = {}
        for obj in self.config.objects:
            mask = np.zeros(rgb.shape[:2], np.uint8)
            for r in obj.hsv_ranges:
                mask |= cv2.inRange(hsv, np.array(r.lower, np.uint8), np.array(r.upper, np.uint8))
            if self._open is not None:
                mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
            if self._close is not None:
                mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
            masks[obj.name] = mask > 0
        return masks

    # ------------------------------------------------------------------ localisation

    def locate(
        self, rgb: np.ndarray, depth: np.ndarray, camera: CameraModel
    ) -> dict[str, TrackedObject]:
        """Every configured object -> where it is (or ``visible=False``) in this frame."""
        rgb = self.check_rgb(rgb)
        if (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
            raise TrackerInputError(
                f"camera_info says {camera.width}x{camera.height} but the image is "
                f"{rgb.shape[1]}x{rgb.shape[0]}"
            )
        metres = self.check_depth(depth, rgb.shape[:2])
        masks = self.segment(rgb)
        return {
            obj.name: self._locate_one(obj, masks[obj.name], metres, camera)
            for obj in self.config.objects
        }

    def _locate_one(
        self, obj: ObjectSpec, mask: np.ndarray, depth: np.ndarray, camera: CameraModel
    ) -> TrackedObject:
        cfg = self.config
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        order = [1 + i for i in np.argsort(-areas) if areas[i] >= cfg.min_component_pixels]
        blobs = []
        for label in order:
            vs, us = np.nonzero(labels == label)
            d = depth[vs, us]
            ok = np.isfinite(d)
            if ok.sum() == 0:
                continue
            points = camera.pixels_to_points(us[ok].astype(float), vs[ok].astype(float), d[ok])
            blobs.append((us[ok], vs[ok], points))
        if not blobs:
            return TrackedObject(obj.name, visible=False, pixels=0)
        us, vs, points = blobs[0]
        anchor = np.median(points, axis=0)
        merged = 1
        for bu, bv, bp in blobs[1:]:
            if np.linalg.norm(np.median(bp, axis=0) - anchor) <= cfg.merge_distance * obj.size:
                us, vs = np.concatenate([us, bu]), np.concatenate([vs, bv])
                points = np.concatenate([points, bp])
                merged += 1
        pixels = len(points)
        if pixels < cfg.min_pixels:
            return TrackedObject(obj.name, visible=False, pixels=pixels, components=merged)
        centroid = (float(us.mean()), float(vs.mean()))
        median = np.median(points, axis=0)
        ray_centre = median + (obj.size / 2.0) * median / np.linalg.norm(median)
        if cfg.method == "ray" or not camera.has_pose:
            position_world = camera.to_world(ray_centre[None])[0] if camera.has_pose else None
            return TrackedObject(
                obj.name,
                visible=True,
                pixels=pixels,
                position_camera=ray_centre,
                position_world=position_world,
                method="ray",
                centroid_px=centroid,
                components=merged,
            )
        world_points = camera.to_world(points)
        start = camera.to_world(ray_centre[None])[0]
        centre, yaw, residual = fit_cube(world_points, start, obj.size, cfg.fit_loss_scale)
        area = camera.silhouette_area(_cube_corners(centre, yaw, obj.size / 2.0))
        return TrackedObject(
            obj.name,
            visible=True,
            pixels=pixels,
            position_camera=camera.to_camera(centre[None])[0],
            position_world=centre,
            yaw=yaw,
            method="box_fit",
            residual=residual,
            visible_fraction=min(1.0, pixels / area) if area > 0 else None,
            centroid_px=centroid,
            components=merged,
        )


def positions(tracked: Mapping[str, TrackedObject], frame: str = "world") -> dict:
    """name -> (3,) position of the visible objects in ``"world"`` or ``"camera"`` frame."""
    if frame not in ("world", "camera"):
        raise ValueError(f"frame must be 'world' or 'camera', got {frame!r}")
    key = "position_world" if frame == "world" else "position_camera"
    return {
        name: getattr(t, key)
        for name, t in tracked.items()
        if t.visible and getattr(t, key) is not None
    }

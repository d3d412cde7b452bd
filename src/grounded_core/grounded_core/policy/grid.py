"""The action grid: a categorical distribution over workspace cells <-> (x, y).

The workspace rectangle is cut into ``nx x ny`` equal cells (row-major, x
fastest). A cell index becomes an action at the cell centre (the mode) or at a
uniformly jittered point inside the cell (sampling), so sampled actions cover
the whole continuous workspace; an (x, y) becomes the index of the cell that
contains it (points on the border belong to the last cell).
"""

from __future__ import annotations

import numpy as np


class ActionGrid:
    """Cells of a rectangle ``x_range x y_range`` with ``nx x ny`` cells."""

    def __init__(
        self, x_range: tuple[float, float], y_range: tuple[float, float], nx: int, ny: int
    ) -> None:
        if not (x_range[0] < x_range[1] and y_range[0] < y_range[1]):
            raise ValueError(f"empty workspace x {x_range} y {y_range}")
        if nx < 1 or ny < 1:
            raise ValueError(f"grid needs at least one cell per axis, got {nx} x {ny}")
        self.x_range = (float(x_range[0]), float(x_range[1]))
        self.y_range = (float(y_range[0]), float(y_range[1]))
        self.nx, self.ny = int(nx), int(ny)
        self.cell_w = (self.x_range[1] - self.x_range[0]) / self.nx
        self.cell_h = (self.y_range[1] - self.y_range[0]) / self.ny

    @property
    def n_cells(self) -> int:
        return self.nx * self.ny

    def centres(self) -> np.ndarray:
        """``[n_cells, 2]`` cell centres in index order."""
        xs = self.x_range[0] + (np.arange(self.nx) + 0.5) * self.cell_w
        ys = self.y_range[0] + (np.arange(self.ny) + 0.5) * self.cell_h
        gx, gy = np.meshgrid(xs, ys, indexing="xy")  # [ny, nx]
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def index_of(self, xy) -> np.ndarray:
        """Cell index of each point ``[..., 2]`` (points outside raise ``ValueError``)."""
        xy = np.asarray(xy, dtype=float)
        if xy.shape[-1] != 2 or not np.all(np.isfinite(xy)):
            raise ValueError(f"points must be finite [..., 2], got shape {xy.shape}")
        tol = 1e-6
        x, y = xy[..., 0], xy[..., 1]
        inside = (
            (x >= self.x_range[0] - tol)
            & (x <= self.x_range[1] + tol)
            & (y >= self.y_range[0] - tol)
            & (y <= self.y_range[1] + tol)
        )
        if not np.all(inside):
            raise ValueError(
                f"point(s) outside the workspace x {self.x_range} y {self.y_range}: "
                f"{xy[~inside][:3].tolist()}"
            )
        ix = np.clip(((x - self.x_range[0]) / self.cell_w).astype(int), 0, self.nx - 1)
        iy = np.clip(((y - self.y_range[0]) / self.cell_h).astype(int), 0, self.ny - 1)
        return iy * self.nx + ix

    def xy_of(self, index, rng: np.random.Generator | None = None) -> np.ndarray:
        """Action(s) ``[..., 2]`` for cell index(es): the centre, or jittered with ``rng``."""
        index = np.asarray(index, dtype=int)
        if np.any(index < 0) or np.any(index >= self.n_cells):
            raise ValueError(f"cell index out of range [0, {self.n_cells})")
        ix, iy = index % self.nx, index // self.nx
        if rng is None:
            fx = fy = np.full(index.shape, 0.5)
        else:
            fx, fy = rng.uniform(size=index.shape), rng.uniform(size=index.shape)
        x = self.x_range[0] + (ix + fx) * self.cell_w
        y = self.y_range[0] + (iy + fy) * self.cell_h
        return np.stack([x, y], axis=-1)

    def soft_targets(self, index, sigma_cells: float) -> np.ndarray:
        """``[B, n_cells]`` Gaussian-smoothed one-hot targets around each index."""
        index = np.atleast_1d(np.asarray(index, dtype=int))
        if sigma_cells <= 0:
            out = np.zeros((len(index), self.n_cells), dtype=np.float32)
            out[np.arange(len(index)), index] = 1.0
            return out
        ix = (np.arange(self.n_cells) % self.nx)[None, :]
        iy = (np.arange(self.n_cells) // self.nx)[None, :]
        tx, ty = (index % self.nx)[:, None], (index // self.nx)[:, None]
        d2 = (ix - tx) ** 2 + (iy - ty) ** 2
        weights = np.exp(-0.5 * d2 / sigma_cells**2)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)

"""Configuration of the language-conditioned tabletop policy (MISSION B4).

:class:`PolicyConfig` is a frozen dataclass validated on construction: a bad
value raises :class:`PolicyConfigError` (a ``ValueError``) naming the field and
what was expected. It round-trips through JSON (``to_dict``/``from_dict``), which
is how it travels in checkpoints and in the ``PolicyWeights`` message, and loads
from the ``policy:`` section of a YAML file (``config/policy.yaml``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

#: Text encoders the policy knows (see text.py).
TEXT_ENCODERS = ("sentence", "captioner", "hashing")
#: Action heads (see model.py).
ACTION_HEADS = ("pointer", "grid")


class PolicyConfigError(ValueError):
    """A policy configuration value is missing, of the wrong type or out of range."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class PolicyConfig:
    """Architecture and action parameterisation of :class:`~.model.GoalPolicy`.

    Attributes:
        n_objects: object tokens per state (3 for red/green/blue).
        workspace_x, workspace_y: action rectangle (m), the world's workspace.
        grid: cells along x and y of the categorical action distribution.
        d_model, n_layers, n_heads, ff_mult, dropout: the transformer.
        fourier_bands: sine/cosine frequencies per coordinate for positions.
        text_encoder: "sentence" (offline all-MiniLM-L6-v2, default), "captioner"
            (the CLIP captioner's text tower) or "hashing" (a deterministic
            bag-of-words embedding without a model, for fast tests).
        text_dim: size of the goal embedding the encoder produces (384 for MiniLM).
        captioner_checkpoint: checkpoint of the captioner when text_encoder="captioner".
        action_head: "pointer" (mixture of a free categorical and one component per
            object, default) or "grid" (plain categorical); see model.py.
        pointer_sigma: std (m) of an object component of the pointer head.
        init_free_logit: initial mixture logit of the free component (objects: 0).
        label_sigma_cells: std of the Gaussian soft target around the demonstrated
            cell in behaviour cloning (0 = one-hot).
    """

    n_objects: int = 3
    workspace_x: tuple[float, float] = (0.35, 0.65)
    workspace_y: tuple[float, float] = (-0.15, 0.15)
    grid: tuple[int, int] = (30, 30)
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    fourier_bands: int = 1
    text_encoder: str = "sentence"
    text_dim: int = 384
    captioner_checkpoint: str | None = None
    label_sigma_cells: float = 1.0
    action_head: str = "pointer"
    pointer_sigma: float = 0.006
    init_free_logit: float = 4.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("n_objects", "d_model", "n_layers", "n_heads", "ff_mult", "text_dim"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise PolicyConfigError(f"policy.{name} must be a positive integer, got {value!r}")
        if not _is_int(self.fourier_bands) or self.fourier_bands < 0:
            raise PolicyConfigError(
                f"policy.fourier_bands must be a non-negative integer, got {self.fourier_bands!r}"
            )
        if self.d_model % self.n_heads:
            raise PolicyConfigError(
                f"policy.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        for name in ("workspace_x", "workspace_y"):
            value = getattr(self, name)
            if (
                not isinstance(value, (tuple, list))
                or len(value) != 2
                or not all(_is_number(v) for v in value)
                or not value[0] < value[1]
            ):
                raise PolicyConfigError(
                    f"policy.{name} must be [low, high] with low < high, got {value!r}"
                )
            object.__setattr__(self, name, (float(value[0]), float(value[1])))
        grid = self.grid
        if (
            not isinstance(grid, (tuple, list))
            or len(grid) != 2
            or not all(_is_int(g) and g >= 2 for g in grid)
        ):
            raise PolicyConfigError(f"policy.grid must be two integers >= 2, got {grid!r}")
        object.__setattr__(self, "grid", (int(grid[0]), int(grid[1])))
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise PolicyConfigError(f"policy.dropout must be in [0, 1), got {self.dropout!r}")
        if self.text_encoder not in TEXT_ENCODERS:
            raise PolicyConfigError(
                f"policy.text_encoder must be one of {TEXT_ENCODERS}, got {self.text_encoder!r}"
            )
        if self.text_encoder == "sentence" and self.text_dim != 384:
            raise PolicyConfigError(
                f"policy.text_dim must be 384 for the sentence encoder, got {self.text_dim}"
            )
        if self.captioner_checkpoint is not None and not isinstance(self.captioner_checkpoint, str):
            raise PolicyConfigError("policy.captioner_checkpoint must be a path string or null")
        if not _is_number(self.label_sigma_cells) or self.label_sigma_cells < 0:
            raise PolicyConfigError(
                f"policy.label_sigma_cells must be >= 0, got {self.label_sigma_cells!r}"
            )
        if self.action_head not in ACTION_HEADS:
            raise PolicyConfigError(
                f"policy.action_head must be one of {ACTION_HEADS}, got {self.action_head!r}"
            )
        if not _is_number(self.pointer_sigma) or self.pointer_sigma <= 0:
            raise PolicyConfigError(
                f"policy.pointer_sigma must be a positive number (m), got {self.pointer_sigma!r}"
            )
        if not _is_number(self.init_free_logit):
            raise PolicyConfigError(
                f"policy.init_free_logit must be a finite number, got {self.init_free_logit!r}"
            )
        if not isinstance(self.extra, dict):
            raise PolicyConfigError("policy.extra must be a mapping")

    # ------------------------------------------------------------------ derived

    @property
    def n_cells(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def n_tokens(self) -> int:
        """goal + objects + end effector + gripper + action query."""
        return self.n_objects + 4

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("workspace_x", "workspace_y", "grid"):
            data[key] = list(data[key])
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyConfig:
        if not isinstance(data, Mapping):
            raise PolicyConfigError(f"policy config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyConfigError(
                f"unknown policy config field(s) {unknown}; known: {sorted(known)}"
            )
        values = dict(data)
        for key in ("workspace_x", "workspace_y", "grid"):
            if key in values and isinstance(values[key], list):
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> PolicyConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyConfigError(f"policy config is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> PolicyConfig:
        return PolicyConfig.from_dict({**self.to_dict(), **changes})


def load_policy_config(path: str | Path) -> PolicyConfig:
    """The ``policy:`` section of a YAML file (or the whole file if it has none)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyConfigError(f"{path}: cannot read policy config ({exc})") from exc
    if isinstance(data, Mapping) and "policy" in data:
        data = data["policy"]
    try:
        return PolicyConfig.from_dict(data or {})
    except PolicyConfigError as exc:
        raise PolicyConfigError(f"{path}: {exc}") from exc

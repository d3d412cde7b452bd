"""Settings of the demo (config/demo.yaml), validated on construction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_CONFIG = REPO_ROOT / "config" / "demo.yaml"

CAPTION_SOURCES = ("topic", "state")


class DemoConfigError(ValueError):
    """A bad demo setting (message names the key)."""


@dataclass(frozen=True)
class DemoConfig:
    task: str = "stack_red_on_blue"
    instruction: str = ""
    seed: int = 0
    caption_source: str = "topic"
    captioner_model: str = "default"
    planner_model: str = "smollm2-135m-instruct"
    sub_goals: tuple[str, ...] = ()
    policy_checkpoint: str = "models/policy_stack_red_on_blue"
    policy_run_dir: str = "runs/demo/policy"
    output_dir: str = "runs/demo"
    steps_per_sub_goal: int = 4
    camera_rate_hz: float = 5.0
    video_cameras: tuple[str, ...] = ("front_left", "front_right")
    video_scale: int = 3
    startup_timeout_s: float = 300.0
    episode_timeout_s: float = 600.0
    train_config_file: str = "config/collect_infer.yaml"
    train_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.caption_source not in CAPTION_SOURCES:
            raise DemoConfigError(f"caption_source must be one of {CAPTION_SOURCES}")
        if not self.task:
            raise DemoConfigError("task must not be empty")
        if self.seed < 0:
            raise DemoConfigError("seed must be >= 0")
        if not 1 <= self.steps_per_sub_goal <= 1000:
            raise DemoConfigError("steps_per_sub_goal must be in [1, 1000]")
        if not 0.5 <= self.camera_rate_hz <= 60.0:
            raise DemoConfigError("camera_rate_hz must be in [0.5, 60]")
        if not self.video_cameras:
            raise DemoConfigError("video_cameras must name at least one camera")
        if not 1 <= self.video_scale <= 10:
            raise DemoConfigError("video_scale must be in [1, 10]")
        for name in ("startup_timeout_s", "episode_timeout_s"):
            if getattr(self, name) <= 0:
                raise DemoConfigError(f"{name} must be > 0")
        if any(not isinstance(s, str) or not s.strip() for s in self.sub_goals):
            raise DemoConfigError("sub_goals must be non-empty caption strings")

    def path(self, value: str) -> Path:
        """A config path, relative to the repository root unless absolute."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else REPO_ROOT / p

    def replace(self, **changes: Any) -> DemoConfig:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in dataclasses.fields(DemoConfig)}
    if name not in kinds:
        raise DemoConfigError(f"unknown demo setting {name!r} (known: {', '.join(kinds)})")
    if name in ("sub_goals", "video_cameras"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(";" if name == "sub_goals" else ",")]
            value = [v for v in value if v]
        if not isinstance(value, (list, tuple)):
            raise DemoConfigError(f"{name} must be a list")
        return tuple(str(v) for v in value)
    if kinds[name] == "int":
        return int(value)
    if kinds[name] == "float":
        return float(value)
    if kinds[name] == "str":
        return "" if value is None else str(value)
    return value


def load_demo_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> DemoConfig:
    """config/demo.yaml (or ``path``) with ``key=value`` overrides (``train.key=value``)."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise DemoConfigError(f"{path}: {error}") from error
    demo = dict(data.get("demo") or {})
    train = dict(data.get("train") or {})
    train_overrides = dict(train.get("overrides") or {})
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise DemoConfigError(f"--set expects key=value, got {item!r}")
        value = yaml.safe_load(raw)
        key = key.strip()
        if key.startswith("train."):
            train_overrides[key[len("train.") :]] = value
        else:
            demo[key] = value
    values = {k: _coerce(k, v) for k, v in demo.items()}
    if "config_file" in train:
        values["train_config_file"] = str(train["config_file"])
    values["train_overrides"] = train_overrides
    try:
        return DemoConfig(**values)
    except (TypeError, ValueError) as error:
        raise DemoConfigError(f"{path}: {error}") from error

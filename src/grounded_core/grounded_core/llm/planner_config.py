"""Settings of the LLM planner (MISSION B3), read from ``config/planner.yaml``.

The file is a ROS 2 parameter file (``/**/planner: ros__parameters: {...}``) so the
``planner`` node reads it directly; ``grounded-plan --config`` and
:func:`load_planner_config` read the same keys (a plain mapping works too). Empty
paths mean the defaults: the shipped ``config/planner_prompt.yaml`` and the world's
caption set (:func:`grounded_core.vision.load_caption_set`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from .planner_errors import PlannerConfigError

__all__ = [
    "CALIBRATIONS",
    "LENGTH_NORMS",
    "MODES",
    "SCORINGS",
    "SEARCHES",
    "SYMMETRIES",
    "PlannerConfig",
    "default_config_file",
    "default_prompt_file",
    "load_planner_config",
]

#: constrained: choose among executable plans by log-probability; free: generate + parse.
MODES = ("constrained", "free")
#: plan: score every executable plan (exact argmax); greedy: sub-goal by sub-goal.
SEARCHES = ("plan", "greedy")
#: direct: score log p(plan | instruction); channel: log p(instruction | plan)
#: (noisy-channel scoring, constrained search=plan only; length_norm and calibration
#: apply to direct scoring only).
SCORINGS = ("direct", "channel")
#: none: sum of token log-probabilities; mean: divided by the number of tokens.
LENGTH_NORMS = ("none", "mean")
#: none: log p(plan | prompt); pmi: minus log p(plan | the prompt with the null
#: instruction), i.e. how much the instruction raises the plan's probability.
CALIBRATIONS = ("none", "pmi")
#: none: score the instruction as written; objects: average every plan's score over
#: all renamings of the objects (:mod:`.planner_symmetry`; k! scoring passes).
SYMMETRIES = ("none", "objects")

#: The repository this package lives in (its config/ and models/ are the shipped ones).
REPO_ROOT = Path(__file__).resolve().parents[4]
_REPO_CONFIG = REPO_ROOT / "config"


def default_config_file() -> Path | None:
    """The shipped settings, ``config/planner.yaml`` of the repository (None if absent:
    installed without the repository, then the dataclass defaults apply)."""
    path = _REPO_CONFIG / "planner.yaml"
    return path if path.is_file() else None


def resolve_adapter(path: str) -> str:
    """An adapter path as given if it exists (absolute, or relative to the working
    directory), else relative to the repository root (so the shipped config's
    ``models/planner_lora`` works from any directory); "" stays "" (no adapter)."""
    if not path or Path(path).is_absolute() or Path(path).exists():
        return path
    in_repo = REPO_ROOT / path
    return str(in_repo) if in_repo.exists() else path


def default_prompt_file() -> Path:
    """The shipped few-shot prompt, ``config/planner_prompt.yaml`` of the repository."""
    path = _REPO_CONFIG / "planner_prompt.yaml"
    if not path.is_file():
        raise PlannerConfigError(
            f"the default prompt {path} is missing (installed without the repository?); "
            "pass a prompt file explicitly"
        )
    return path


@dataclass(frozen=True)
class PlannerConfig:
    """Planner settings; see ``config/planner.yaml`` for what each one does."""

    model: str = "smollm2-135m-instruct"
    # "" or a LoRA adapter directory tuned on `model` (grounded-plan-tune), merged at load.
    adapter: str = ""
    prompt_file: str = ""
    caption_file: str = ""
    mode: str = "constrained"
    search: str = "plan"
    scoring: str = "direct"
    length_norm: str = "none"
    calibration: str = "none"
    symmetry: str = "none"
    # >= 0: every plan's score loses this many nats per sub-goal, a prior
    # log p(plan) = -length_prior * len(plan) + const that favours shorter plans.
    length_prior: float = 0.0
    plans_per_batch: int = 64
    device: str = "cpu"
    max_new_tokens: int = 96
    max_plans: int = 5000

    def __post_init__(self):
        for name, allowed in (
            ("mode", MODES),
            ("search", SEARCHES),
            ("scoring", SCORINGS),
            ("length_norm", LENGTH_NORMS),
            ("calibration", CALIBRATIONS),
            ("symmetry", SYMMETRIES),
        ):
            if getattr(self, name) not in allowed:
                raise PlannerConfigError(
                    f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        if self.scoring == "channel" and self.search != "plan":
            raise PlannerConfigError("scoring=channel needs search=plan")
        for name in ("model", "device"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise PlannerConfigError(f"{name} must be a non-empty string")
        for name in ("adapter", "prompt_file", "caption_file"):
            if not isinstance(getattr(self, name), str):
                raise PlannerConfigError(f'{name} must be a string ("" = the default)')
        prior = self.length_prior
        if isinstance(prior, bool) or not isinstance(prior, (int, float)) or not 0 <= prior < 1e6:
            raise PlannerConfigError(
                f"length_prior must be a number >= 0 (nats per sub-goal), got {prior!r}"
            )
        for name in ("max_new_tokens", "max_plans", "plans_per_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PlannerConfigError(f"{name} must be a positive integer, got {value!r}")

    def replace(self, **changes) -> PlannerConfig:
        """A copy with ``changes`` (validated); ``None`` values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_planner_config(path: str | Path | None = None) -> PlannerConfig:
    """Read a planner config file (ROS 2 params format or a plain mapping)."""
    if path is None:
        return PlannerConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PlannerConfigError(f"{path}: cannot read planner config ({exc})") from exc
    if not isinstance(data, Mapping):
        raise PlannerConfigError(f"{path}: expected a mapping at the top level")
    # ROS 2 params file: {node_name: {ros__parameters: {...}}}
    nested = [v for v in data.values() if isinstance(v, Mapping) and "ros__parameters" in v]
    if nested:
        if len(nested) != 1:
            raise PlannerConfigError(f"{path}: expected the parameters of one node")
        data = nested[0]["ros__parameters"] or {}
    known = {f.name for f in dataclasses.fields(PlannerConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PlannerConfigError(f"{path}: unknown key(s) {unknown}; known: {sorted(known)}")
    try:
        return PlannerConfig(**data)
    except (PlannerConfigError, TypeError) as exc:
        raise PlannerConfigError(f"{path}: {exc}") from exc

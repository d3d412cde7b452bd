"""Configuration of GLAM training: dataclasses, YAML files and ``key=value`` overrides.

A :class:`GlamConfig` has four sections, each a dataclass that validates itself:

* ``env`` (:class:`EnvConfig`): level, variant, seeds, step budget (MISSION A1);
* ``model`` (:class:`ModelConfig`): which LLM and policy type, initialisation (A3);
* ``ppo`` (:class:`~.ppo.PPOConfig`): the paper's PPO values (A4);
* ``train`` (:class:`TrainConfig`): budget, seeding, checkpoints, logging.

Files: ``config/glam.yaml`` holds the paper's values. It may be written either as a
plain mapping of the four sections or in ROS 2 parameter-file form
(``/**/glam_learner: {ros__parameters: {...}}``) so that the ``glam_learner`` node reads
the same file; :func:`load_config` accepts both. ROS parameters cannot be ``null``, so
"unset" is spelled with sentinels (``0``, ``""``, ``-1.0``) documented per field.

Overrides: ``section.key=value`` strings (``ppo.lr=1e-4``, ``env.level=GoToRedBall``),
applied after the file. Values are converted to the field's type (``1e-4`` is a float
even though YAML 1.1 reads it as a string; ``1e5`` is accepted for an integer when it is
integral; booleans take true/false/yes/no/on/off/1/0). An unknown section or key, or a
value of the wrong type, raises :class:`ConfigError` naming the key and the choices.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..babyai_text import LEVELS, get_variant, resolve_level_name
from ..babyai_text.vocab import GRAMMARS
from .ppo import PPOConfig

__all__ = [
    "DTYPES",
    "INIT_MODES",
    "POLICY_TYPES",
    "ConfigError",
    "EnvConfig",
    "GlamConfig",
    "ModelConfig",
    "TrainConfig",
    "known_keys",
    "load_config",
    "parse_overrides",
]

POLICY_TYPES: tuple[str, ...] = ("scorer", "action_heads")
INIT_MODES: tuple[str, ...] = ("pretrained", "npae", "random")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class ConfigError(ValueError):
    """A bad configuration value, key or file; the message says what to change."""


def _check_choice(section: str, name: str, value: str, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{section}.{name} = {value!r} is not one of {', '.join(choices)}")


def _check_int(section: str, name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{section}.{name} must be an integer >= {minimum}, got {value!r}")


@dataclass
class EnvConfig:
    """The BabyAI-Text batch trained on (MISSION A1)."""

    level: str = "MixedTrainLocal"
    variant: str = "none"
    # Env i of the batch starts from seed + i (then continues its own random stream).
    seed: int = 0
    # 0 = the level's own budget (64 or 128 steps).
    max_steps: int = 0
    grammar: str = "compat"
    # Mixed levels only: force one task kind; "" = drawn per episode (seeded).
    task_kind: str = ""

    def __post_init__(self) -> None:
        try:
            self.level = resolve_level_name(self.level)
            self.variant = get_variant(self.variant).name
        except ValueError as exc:
            raise ConfigError(f"env: {exc}") from exc
        _check_int("env", "seed", self.seed, 0)
        _check_int("env", "max_steps", self.max_steps, 0)
        _check_choice("env", "grammar", self.grammar, GRAMMARS)
        if self.task_kind:
            try:
                self.task_kind = LEVELS[self.level].canonical_task_kind(self.task_kind)
            except ValueError as exc:
                raise ConfigError(f"env.task_kind: {exc}") from exc

    def env_options(self) -> dict:
        """Keyword options for :class:`~grounded_core.babyai_text.BabyAITextEnv`."""
        return {
            "variant": self.variant,
            "grammar": self.grammar,
            "task_kind": self.task_kind or None,
            "max_steps": self.max_steps or None,
        }


@dataclass
class ModelConfig:
    """The LLM policy (MISSION A3)."""

    # A special name (tiny-t5, tiny-llama, tiny-gpt2, smollm2-135m-instruct), a model or
    # checkpoint directory, or a Hugging Face id (the paper: google/flan-t5-large).
    name: str = "tiny-t5"
    # scorer = GLAM (score the action texts); action_heads = the paper's baseline.
    policy: str = "scorer"
    # pretrained, npae (re-initialised but the embeddings) or random.
    init: str = "pretrained"
    # Seeds re-initialisation and new heads.
    seed: int = 0
    # Dropout probability set on every dropout layer for training; < 0 keeps the model's.
    dropout: float = -1.0
    # Fresh runs only: scale the model's token logits by this factor before training
    # (via its final norm); ~0.01 makes a from-scratch model start near-uniform.
    # 1 = unchanged (pretrained models).
    output_scale: float = 1.0
    # Padded tokens per forward (memory knob); 0 = the library default.
    max_batch_tokens: int = 0
    device: str = "cpu"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("model.name must name a model (e.g. tiny-t5 or a directory)")
        _check_choice("model", "policy", self.policy, POLICY_TYPES)
        _check_choice("model", "init", self.init, INIT_MODES)
        _check_choice("model", "dtype", self.dtype, DTYPES)
        _check_int("model", "seed", self.seed, 0)
        _check_int("model", "max_batch_tokens", self.max_batch_tokens, 0)
        if not isinstance(self.dropout, int | float) or isinstance(self.dropout, bool):
            raise ConfigError(f"model.dropout must be a number, got {self.dropout!r}")
        if math.isnan(self.dropout) or self.dropout >= 1.0:
            raise ConfigError(
                f"model.dropout must be < 1 (a probability; < 0 keeps the model's), "
                f"got {self.dropout!r}"
            )
        if (
            isinstance(self.output_scale, bool)
            or not isinstance(self.output_scale, int | float)
            or not self.output_scale > 0
        ):
            raise ConfigError(
                "model.output_scale must be a number > 0 (1 = unchanged), "
                f"got {self.output_scale!r}"
            )
        if not isinstance(self.device, str) or not self.device:
            raise ConfigError(
                f"model.device must be a device string like cpu or cuda:0, got {self.device!r}"
            )


@dataclass
class TrainConfig:
    """Budget, seeding, checkpoints and logging of a training run (MISSION A4)."""

    # Stop after this many environment steps (paper: 1.5M on MixedTrainLocal).
    total_env_steps: int = 1_500_000
    # Seeds action sampling, minibatch order and torch's global RNG (dropout).
    seed: int = 0
    # torch intra-op threads; 0 = leave torch's default.
    torch_threads: int = 0
    # Write a checkpoint every this many updates (1 = every update).
    checkpoint_every: int = 1
    # Checkpoints kept on disk (0 = all).
    keep_checkpoints: int = 2
    # GLAM's prompt history: last 3 observations and 2 actions (MISSION A2).
    history_observations: int = 3
    history_actions: int = 2
    # Episodes in the rolling window behind the reported success rate.
    stats_window: int = 100
    # "" = runs/glam/<level>-<UTC time> (the CLI's --run-dir wins).
    run_dir: str = ""
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        _check_int("train", "total_env_steps", self.total_env_steps, 1)
        _check_int("train", "seed", self.seed, 0)
        _check_int("train", "torch_threads", self.torch_threads, 0)
        _check_int("train", "checkpoint_every", self.checkpoint_every, 1)
        _check_int("train", "keep_checkpoints", self.keep_checkpoints, 0)
        _check_int("train", "history_observations", self.history_observations, 1)
        _check_int("train", "history_actions", self.history_actions, 0)
        _check_int("train", "stats_window", self.stats_window, 1)
        for name in ("tensorboard", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"train.{name} must be true or false, got {getattr(self, name)!r}"
                )


_SECTIONS: dict[str, type] = {
    "env": EnvConfig,
    "model": ModelConfig,
    "ppo": PPOConfig,
    "train": TrainConfig,
}


@dataclass
class GlamConfig:
    """Everything a GLAM training run needs; see the module docstring."""

    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping) -> GlamConfig:
        """Build from ``{section: {key: value}}``; missing keys keep their defaults."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"a GLAM config must be a mapping of sections, got {type(data).__name__}"
            )
        unknown = sorted(set(data) - set(_SECTIONS))
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown}; known: {', '.join(_SECTIONS)}")
        sections = {}
        for name, section_cls in _SECTIONS.items():
            values = data.get(name) or {}
            if not isinstance(values, Mapping):
                raise ConfigError(f"config section {name!r} must be a mapping, got {values!r}")
            sections[name] = _build_section(name, section_cls, values)
        return cls(**sections)

    def with_overrides(self, overrides: Iterable[str] | Mapping[str, object]) -> GlamConfig:
        """A new config with ``section.key=value`` overrides applied (and validated)."""
        data = self.to_dict()
        items = overrides.items() if isinstance(overrides, Mapping) else parse_overrides(overrides)
        for dotted, value in items:
            section, key = _split_key(dotted)
            data[section][key] = value
        return GlamConfig.from_dict(data)


def _split_key(dotted: str) -> tuple[str, str]:
    parts = dotted.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"override key {dotted!r} must be section.key with section one of "
            f"{', '.join(_SECTIONS)} (e.g. ppo.lr=1e-4)"
        )
    section, key = parts
    if section not in _SECTIONS:
        raise ConfigError(
            f"unknown config section {section!r} in {dotted!r}; known: {', '.join(_SECTIONS)}"
        )
    known = [f.name for f in dataclasses.fields(_SECTIONS[section])]
    if key not in known:
        raise ConfigError(f"unknown key {dotted!r}; {section} has: {', '.join(known)}")
    return section, key


def parse_overrides(overrides: Iterable[str]) -> list[tuple[str, str]]:
    """``["ppo.lr=1e-4", ...]`` -> ``[("ppo.lr", "1e-4"), ...]`` (keys checked)."""
    if isinstance(overrides, str):
        raise ConfigError("overrides must be a list of key=value strings, not one string")
    parsed = []
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(
                f"override {item!r} must look like section.key=value (e.g. ppo.lr=1e-4)"
            )
        key, value = item.split("=", 1)
        _split_key(key)
        parsed.append((key.strip(), value.strip()))
    return parsed


def _build_section(name: str, section_cls: type, values: Mapping):
    hints = typing.get_type_hints(section_cls)
    known = {f.name for f in dataclasses.fields(section_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {[f'{name}.{k}' for k in unknown]}; "
            f"{name} has: {', '.join(sorted(known))}"
        )
    kwargs = {key: _coerce(f"{name}.{key}", hints[key], value) for key, value in values.items()}
    try:
        return section_cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as exc:  # PPOConfig's own validation
        raise ConfigError(str(exc)) from exc


def _coerce(key: str, kind: type, value: object):
    """Convert a YAML or command-line value to the field's type, or raise ConfigError."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        number = _number(key, value, "an integer")
        if not float(number).is_integer():
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return int(number)
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(_number(key, value, "a number"))
    if kind is str:
        if value is None:
            return ""
        if isinstance(value, bool | int | float):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported field type {kind!r}")


def _number(key: str, value: object, what: str) -> float | int:
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            pass
    raise ConfigError(f"{key} must be {what}, got {value!r}")


def _unwrap_ros_parameters(data: Mapping, path: Path) -> Mapping:
    """Accept a ROS 2 parameter file: ``{node_pattern: {ros__parameters: {...}}}``."""
    nodes = {
        key: value
        for key, value in data.items()
        if isinstance(value, Mapping) and "ros__parameters" in value
    }
    if not nodes:
        return data
    if len(nodes) == 1:
        return next(iter(nodes.values()))["ros__parameters"]
    learners = [key for key in nodes if str(key).rstrip("/").endswith("glam_learner")]
    if len(learners) != 1:
        raise ConfigError(
            f"{path}: ROS parameter file with several nodes {sorted(nodes)}; expected exactly "
            "one whose name ends with glam_learner"
        )
    return nodes[learners[0]]["ros__parameters"]


def load_config(
    path: str | os.PathLike | None = None, overrides: Iterable[str] | Mapping = ()
) -> GlamConfig:
    """Read a YAML config (or the defaults when ``path`` is None) and apply overrides."""
    if path is None:
        config = GlamConfig()
    else:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a mapping of sections at the top level")
        config = GlamConfig.from_dict(_unwrap_ros_parameters(data, path))
    return config.with_overrides(overrides) if overrides else config


def known_keys() -> list[str]:
    """Every ``section.key`` accepted in files and overrides (for help texts)."""
    return [f"{name}.{f.name}" for name, cls in _SECTIONS.items() for f in dataclasses.fields(cls)]

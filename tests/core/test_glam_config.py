"""GLAM config: paper defaults, config/glam.yaml, key=value overrides, clear errors."""

from __future__ import annotations

import pytest
import yaml

from grounded_core.learning import PPOConfig
from grounded_core.learning.glam_config import (
    ConfigError,
    GlamConfig,
    known_keys,
    load_config,
    parse_overrides,
)
from tests.conftest import REPO_ROOT

GLAM_YAML = REPO_ROOT / "config" / "glam.yaml"


def test_defaults_are_the_papers_values():
    config = GlamConfig()
    assert config.ppo == PPOConfig()  # A4, tested in test_ppo.py
    assert (config.ppo.num_envs, config.ppo.steps_per_env, config.ppo.lr) == (32, 40, 1e-6)
    assert config.ppo.reward_scale == 20.0
    assert config.env.level == "MixedTrainLocal"
    assert config.train.total_env_steps == 1_500_000
    assert (config.train.history_observations, config.train.history_actions) == (3, 2)


def test_repository_config_file_is_the_defaults_in_ros_parameter_form():
    raw = yaml.safe_load(GLAM_YAML.read_text())
    assert "ros__parameters" in raw["/**/glam_learner"]
    assert load_config(GLAM_YAML) == GlamConfig()


def test_overrides_are_typed_from_the_fields():
    config = load_config(
        GLAM_YAML,
        [
            "ppo.lr=1e-4",  # YAML 1.1 would read this as a string
            "train.total_env_steps=2e5",
            "ppo.normalize_advantages=yes",
            "env.level=gotoredballnodists",
            "env.variant=french",
            "model.dropout=0",
            "train.run_dir=runs/x",
        ],
    )
    assert config.ppo.lr == pytest.approx(1e-4) and isinstance(config.ppo.lr, float)
    assert config.train.total_env_steps == 200_000
    assert config.ppo.normalize_advantages is True
    assert config.env.level == "GoToRedBallNoDists"
    assert config.env.variant == "french"
    assert config.model.dropout == 0.0
    assert config.train.run_dir == "runs/x"


def test_plain_mapping_file_and_yaml_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("ppo:\n  lr: 3e-4\n  num_envs: 4\n  steps_per_env: 16\ntrain:\n  seed: 7\n")
    config = load_config(path)
    assert (config.ppo.lr, config.ppo.num_envs, config.train.seed) == (3e-4, 4, 7)
    again = tmp_path / "again.yaml"
    again.write_text(config.to_yaml())
    assert load_config(again) == config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("ppo.lrr=1", "unknown key 'ppo.lrr'"),
        ("optim.lr=1", "unknown config section 'optim'"),
        ("lr=1", "must be section.key"),
        ("ppo.lr", "must look like section.key=value"),
        ("ppo.lr=fast", "ppo.lr must be a number"),
        ("ppo.epochs=2.5", "ppo.epochs must be an integer"),
        ("ppo.epochs=0", "epochs must be a positive integer"),
        ("train.progress=maybe", "train.progress must be true or false"),
        ("env.level=NoSuchLevel", "unknown level 'NoSuchLevel'"),
        ("env.variant=klingon", "unknown variant 'klingon'"),
        ("env.task_kind=dance", "task kind"),
        ("model.policy=magic", "model.policy = 'magic' is not one of scorer, action_heads"),
        ("model.dropout=1.5", "model.dropout must be < 1"),
        ("ppo.minibatch_size=5000", "exceeds the rollout size"),
    ],
)
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(None, [override])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ppo: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("ppo:\n  lr: 1e-4\nfoo:\n  x: 1\n")
    with pytest.raises(ConfigError, match=r"unknown config section\(s\) \['foo'\]"):
        load_config(bad)
    bad.write_text(
        "a/glam_learner:\n  ros__parameters: {}\nb/glam_learner:\n  ros__parameters: {}\n"
    )
    with pytest.raises(ConfigError, match="several nodes"):
        load_config(bad)


def test_helpers():
    assert parse_overrides(["ppo.lr = 1e-3 "]) == [("ppo.lr", "1e-3")]
    with pytest.raises(ConfigError, match="not one string"):
        parse_overrides("ppo.lr=1")
    keys = known_keys()
    assert "ppo.lr" in keys and "env.level" in keys and "train.total_env_steps" in keys
    assert GlamConfig().with_overrides({"ppo.lr": 0.5}).ppo.lr == 0.5

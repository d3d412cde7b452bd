"""GLAM PPO trainer on the tiny T5: exact resume, metrics, stop/feedback hooks, clients."""

from __future__ import annotations

import math

import pytest
import torch

from grounded_core.data import CheckpointError, CheckpointManager, read_manifest
from grounded_core.learning.env_adapters import InProcessTextEnv
from grounded_core.learning.glam_config import ConfigError, load_config
from grounded_core.learning.glam_trainer import GlamTrainer
from grounded_core.learning.policy_loading import resolve_policy_source

TINY = [
    "env.level=GoToRedBallNoDists",
    "env.max_steps=6",  # short episodes so a tiny rollout sees episode ends
    "ppo.num_envs=2",
    "ppo.steps_per_env=4",
    "ppo.minibatch_size=4",
    "ppo.epochs=1",
    "ppo.lr=1e-3",
    "train.progress=false",
    "train.seed=5",
]
METRICS = [
    "charts/success_rate",
    "charts/episode_return",
    "charts/episode_length",
    "losses/policy",
    "losses/value",
    "losses/entropy",
    "policy/approx_kl",
    "policy/clip_fraction",
    "losses/explained_variance",
    "charts/env_steps_per_s",
]


def tiny_config(*extra):
    return load_config(None, [*TINY, *extra])


def weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.policy.state_dict().items()}


def assert_same_state(a: GlamTrainer, b: GlamTrainer):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "model/value-head weights differ"
    oa, ob = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert oa.keys() == ob.keys()
    for key in oa:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(oa[key][name], ob[key][name])
    assert (a.update_count, a.env_steps) == (b.update_count, b.env_steps)
    assert a.histories.prompts() == b.histories.prompts()
    assert torch.equal(a.generator.get_state(), b.generator.get_state())


def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path):
    # Dropout stays on (the tiny T5's 0.1), so the global torch RNG must be restored too.
    config = tiny_config()
    straight = GlamTrainer(config, tmp_path / "straight")
    straight.train(num_updates=2)
    straight_rng = torch.get_rng_state()

    first = GlamTrainer(config, tmp_path / "resumed")
    first.train(num_updates=1)
    first.close()
    del first  # the "kill": nothing survives but the checkpoint on disk
    # A checkpoint write killed half-way leaves a temporary directory behind.
    junk = tmp_path / "resumed" / "checkpoints" / ".tmp-update_00000002-0123456789ab"
    junk.mkdir()
    (junk / "trainer_state.pt").write_bytes(b"partial")
    resumed = GlamTrainer(config, tmp_path / "resumed", resume=True)
    assert resumed.update_count == 1 and resumed.env_restored_exactly
    resumed.train(num_updates=1)
    assert torch.equal(straight_rng, torch.get_rng_state())
    assert_same_state(straight, resumed)
    assert not junk.exists()


def test_update_reports_metrics_and_writes_checkpoint_and_logs(tmp_path):
    reports = []
    with GlamTrainer(tiny_config("env.max_steps=3"), tmp_path) as trainer:
        result = trainer.train(num_updates=1, on_update=reports.append)
    assert result.updates == 1 and result.env_steps == 8 and not result.stopped
    report = reports[0]
    for name in METRICS:
        assert name in report.metrics and math.isfinite(report.metrics[name]), name
    assert report.metrics["charts/episode_length"] == 3.0  # max_steps=3 ends every episode
    assert report.checkpoint == result.checkpoint == tmp_path / "checkpoints" / "update_00000001"
    manifest = read_manifest(result.checkpoint)
    assert manifest["update"] == 1 and manifest["env_steps"] == 8 and manifest["env_state_exact"]
    assert manifest["config"]["ppo"]["num_envs"] == 2
    assert {"torch", "transformers", "python"} <= set(manifest["versions"])
    assert (result.checkpoint / "policy" / "value_head.safetensors").is_file()
    assert (result.checkpoint / "trainer_state.pt").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "config.yaml").read_text().startswith("env:")
    # Run directory, checkpoint and policy directory all resolve to the saved policy.
    policy_dir = str(result.checkpoint / "policy")
    for source in (tmp_path, result.checkpoint, result.checkpoint / "policy"):
        assert resolve_policy_source(source) == policy_dir
    assert resolve_policy_source("tiny-t5") == "tiny-t5"


def test_budget_in_env_steps_and_total(tmp_path):
    trainer = GlamTrainer(
        tiny_config("train.total_env_steps=16", "train.tensorboard=false"), tmp_path
    )
    seen = []
    trainer.train(env_steps=9, on_update=lambda r: seen.append(r.env_steps))
    assert seen == [8, 16]  # whole updates of 2 envs x 4 steps
    assert trainer.train().updates == 2  # the configured total is already reached
    with pytest.raises(ValueError, match="not both"):
        trainer.train(num_updates=1, env_steps=8)
    with pytest.raises(ValueError, match="positive"):
        trainer.train(num_updates=0)


def test_stop_during_the_rollout_checkpoints_without_a_half_update(tmp_path):
    trainer = GlamTrainer(tiny_config("train.tensorboard=false"), tmp_path)
    before = weights(trainer)
    polls = iter([False, False, True])
    result = trainer.train(num_updates=3, should_stop=lambda: next(polls))
    assert result.stopped and result.updates == 0
    assert "stopped at update 0" in result.message
    assert all(torch.equal(before[k], v) for k, v in weights(trainer).items())
    assert result.checkpoint is not None and trainer.env_steps == 2  # one rollout step ran
    resumed = GlamTrainer(tiny_config("train.tensorboard=false"), tmp_path, resume=True)
    assert resumed.env_steps == 2 and resumed.histories.prompts() == trainer.histories.prompts()


def test_stop_between_updates(tmp_path):
    trainer = GlamTrainer(
        tiny_config("train.tensorboard=false", "train.checkpoint_every=5"), tmp_path
    )
    stop = {"now": False}

    def on_update(report):
        stop["now"] = True  # e.g. a ROS cancel arriving during the first update

    result = trainer.train(num_updates=4, on_update=on_update, should_stop=lambda: stop["now"])
    assert result.stopped and result.updates == 1
    # checkpoint_every=5 did not save update 1, the stop did.
    assert CheckpointManager(tmp_path / "checkpoints").latest().name == "update_00000001"


def test_from_checkpoint_applies_overrides_and_guards_the_env(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        GlamTrainer(tiny_config(), tmp_path / "empty", resume=True)
    GlamTrainer(tiny_config("train.tensorboard=false"), tmp_path).train(num_updates=1)
    resumed = GlamTrainer.from_checkpoint(tmp_path, ["ppo.lr=5e-4", "train.total_env_steps=24"])
    assert resumed.optimizer.param_groups[0]["lr"] == 5e-4
    assert resumed.train().updates == 3
    with pytest.raises(ConfigError, match="cannot change env"):
        GlamTrainer.from_checkpoint(tmp_path, ["env.level=GoToLocal"])


class StatelessClient:
    """A client like the ROS one: same protocol, but its state cannot be saved."""

    def __init__(self, *args, **kwargs):
        self.inner = InProcessTextEnv(*args, **kwargs)
        self.num_envs = self.inner.num_envs
        self.resets = 0

    def reset(self):
        self.resets += 1
        return self.inner.reset()

    def step(self, action_ids):
        return self.inner.step(action_ids)

    def state_dict(self):
        return None

    def load_state_dict(self, state):
        raise AssertionError("never called for a client without state")

    def close(self):
        pass


def test_a_client_without_state_is_reset_on_resume(tmp_path):
    config = tiny_config("train.tensorboard=false")
    client = StatelessClient("GoToRedBallNoDists", 2, 0, max_steps=6)
    result = GlamTrainer(config, tmp_path, env=client).train(num_updates=1)
    assert read_manifest(result.checkpoint)["env_state_exact"] is False
    again = StatelessClient("GoToRedBallNoDists", 2, 0, max_steps=6)
    resumed = GlamTrainer(config, tmp_path, env=again, resume=True)
    assert not resumed.env_restored_exactly and again.resets == 1
    assert resumed.train(num_updates=1).updates == 2
    with pytest.raises(ConfigError, match="has 3 environments"):
        GlamTrainer(config, tmp_path / "x", env=StatelessClient("GoToRedBallNoDists", 3, 0))


def test_action_heads_policy_and_output_scale(tmp_path):
    trainer = GlamTrainer(
        tiny_config("model.policy=action_heads", "train.tensorboard=false"), tmp_path / "a"
    )
    assert trainer.candidates is None
    assert trainer.train(num_updates=1).updates == 1
    plain = GlamTrainer(tiny_config("train.tensorboard=false"), tmp_path / "b")
    scaled = GlamTrainer(
        tiny_config("model.output_scale=0.01", "train.tensorboard=false"), tmp_path / "c"
    )
    prompts = plain.histories.prompts()
    spread = lambda t: float(t.policy.score(prompts, t.action_space).std())  # noqa: E731
    assert spread(scaled) < 0.5 * spread(plain)
    norm = "model.decoder.final_layer_norm.weight"
    assert torch.allclose(weights(scaled)[norm], 0.01 * weights(plain)[norm])
    with pytest.raises(ConfigError, match="output_scale"):
        load_config(None, ["model.output_scale=-1"])


def test_an_update_interrupted_half_way_is_never_checkpointed(tmp_path):
    trainer = GlamTrainer(tiny_config("train.tensorboard=false"), tmp_path)
    trainer.train(num_updates=1)
    assert trainer.can_checkpoint
    real_step = trainer.optimizer.step
    calls = {"n": 0}

    def step_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C between two minibatches
        return real_step(*args, **kwargs)

    trainer.optimizer.step = step_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        trainer.train(num_updates=1)
    assert not trainer.can_checkpoint and not trainer.policy.training
    with pytest.raises(RuntimeError, match="interrupted half-way"):
        trainer.save_checkpoint()
    assert CheckpointManager(tmp_path / "checkpoints").latest().name == "update_00000001"


def test_output_scale_shrinks_only_the_token_logits():
    from grounded_core.learning.policy_loading import load_policy, scale_output_layer

    plain = load_policy("tiny-t5", policy="action_heads")
    scaled = load_policy("tiny-t5", policy="action_heads")
    assert scale_output_layer(scaled, 0.1) == "T5Stack.final_layer_norm"
    prompts = ["Possible action of the agent: drop \n Goal of the agent: go to the red ball"]
    a, b = plain.predict(prompts), scaled.predict(prompts)
    # The heads read the scaled hidden state but were compensated: same values, logits.
    assert torch.allclose(a.values, b.values, atol=1e-5)
    assert torch.allclose(a.scores, b.scores, atol=1e-4)
    scorer = load_policy("tiny-t5")
    before = scorer.score(prompts, ["drop", "go forward"])
    scale_output_layer(scorer, 0.1)
    assert scorer.score(prompts, ["drop", "go forward"]).abs().max() < before.abs().max()
    with pytest.raises(ValueError, match="> 0"):
        scale_output_layer(scorer, 0.0)

"""GLAM's online PPO fine-tuning of an LLM policy (MISSION A4), as a reusable class.

:class:`GlamTrainer` owns the policy (LLM + value head), its Adam optimizer, the
environment client, the learner-side prompt histories and the step counters. One
*update* = a rollout of ``ppo.steps_per_env`` steps over ``ppo.num_envs`` environments
(actions sampled from the softmax of the action scores, A3; rewards x ``reward_scale``),
GAE, then ``ppo.epochs`` epochs of shuffled minibatches of the clipped loss with
entropy bonus and gradient clipping (:mod:`.ppo`).

Used in-process (``grounded-glam train``, benchmarks, tests) and by the ``glam_learner``
ROS node, which passes its own :class:`~.env_adapters.TextEnvClient`, an ``on_update``
callback (action feedback, metrics topic) and ``should_stop`` (goal cancel)::

    trainer = GlamTrainer(config, run_dir, env=client)
    result = trainer.train(env_steps=goal.env_steps or None,
                           on_update=publish, should_stop=lambda: cancel_requested)

Stopping: ``should_stop`` is polled before every update and between rollout steps, never
during the optimisation phase (a half-applied update would be neither the old nor the
new policy). A stop writes a checkpoint of the current state and returns.

Checkpoints (``<run_dir>/checkpoints/update_<n>``, atomic, every
``train.checkpoint_every`` updates and always at the end or on a stop): ``policy/``
(``save_pretrained``: model, tokenizer, value head), ``trainer_state.pt`` (optimizer,
every RNG state, counters, prompt histories, episode statistics, the env client's
state) and ``manifest.json`` (config, versions, counters, last metrics). Resuming with
an in-process env reproduces the uninterrupted run bit for bit; a remote env cannot be
restored and is reset instead (the learner's state is still restored).

Metrics go to TensorBoard (``<run_dir>/tensorboard``, x axis = env steps) and a tqdm bar.

Data-parallel replicas (``distributed=True``, rank 0 of a torchrun world): scoring and
updates are spread over all ranks by :mod:`.distributed_training`; everything else
(environments, checkpoints, logs) stays on rank 0.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data import CheckpointError, CheckpointManager, read_manifest, software_versions
from ..llm import LLMPolicy
from .env_adapters import InProcessTextEnv, TextEnvClient
from .glam_config import ConfigError, GlamConfig
from .policy_loading import (
    CHECKPOINTS_SUBDIR,
    POLICY_SUBDIR,
    action_candidates,
    load_policy,
    scale_output_layer,
    set_dropout,
)
from .ppo import explained_variance, ppo_loss
from .rollout import EpisodeTracker, PromptHistories, RolloutBuffer, minibatch_indices

__all__ = [
    "GlamTrainer",
    "TrainResult",
    "UpdateReport",
    "build_optimizer",
    "default_run_dir",
    "load_run_policy",
]

STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "config.yaml"
CHECKPOINT_KIND = "glam_ppo"


def default_run_dir(config: GlamConfig) -> Path:
    """``train.run_dir`` or ``runs/glam/<level>-<UTC time>``."""
    if config.train.run_dir:
        return Path(config.train.run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path("runs") / "glam" / f"{config.env.level}-{stamp}"


@dataclass
class UpdateReport:
    """What one finished update reports (callbacks, ROS feedback, the progress bar)."""

    update: int
    env_steps: int
    episodes: int
    success_rate: float
    mean_return: float
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None


@dataclass
class TrainResult:
    """How :meth:`GlamTrainer.train` ended."""

    updates: int
    env_steps: int
    stopped: bool
    checkpoint: Path | None
    last_report: UpdateReport | None
    message: str


def _rng_state() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_run_policy(
    config: GlamConfig, checkpoint: Path | None = None, *, scale_output: bool = True
) -> LLMPolicy:
    """The run's policy from ``config.model``, or from ``checkpoint``'s ``policy/``.

    ``model.output_scale`` is applied to fresh (non-checkpoint) policies when
    ``scale_output``; ``model.dropout`` always (it is not part of the weights).
    """
    model = config.model
    from .distributed_training import replica_device

    source = str(checkpoint / POLICY_SUBDIR) if checkpoint is not None else model.name
    policy = load_policy(
        source,
        policy=model.policy,
        init="pretrained" if checkpoint is not None else model.init,
        seed=model.seed,
        device=replica_device(model.device),
        dtype=model.dtype,
        max_batch_tokens=model.max_batch_tokens or None,
    )
    if checkpoint is None and scale_output:
        try:
            scale_output_layer(policy, model.output_scale)
        except ValueError as exc:
            raise ConfigError(f"model.output_scale: {exc}") from exc
    set_dropout(policy, model.dropout)
    return policy


def build_optimizer(policy: LLMPolicy, config: GlamConfig) -> torch.optim.Adam:
    """Adam over the policy's trainable parameters with ``ppo.lr`` / ``ppo.adam_eps``."""
    params = [p for p in policy.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=config.ppo.lr, eps=config.ppo.adam_eps)


class GlamTrainer:
    """PPO on an LLM policy against a text environment batch; see the module docstring.

    Args:
        config: the run's configuration (validated dataclasses).
        run_dir: where checkpoints, TensorBoard logs and ``config.yaml`` go
            (default :func:`default_run_dir`).
        env: the environment client; default an :class:`InProcessTextEnv` built from
            ``config.env`` with ``config.ppo.num_envs`` environments.
        policy: an already loaded policy for a fresh run (default: loaded from
            ``config.model``; ``model.output_scale`` is applied only to loaded ones).
        resume: continue from the latest checkpoint in ``run_dir`` (it must exist).
            Use :meth:`from_checkpoint` to take the config from the checkpoint.
        distributed: this process is rank 0 of a torchrun world whose other ranks run
            :func:`~.distributed_training.serve_replica`; scoring and updates are shared
            with them (see :mod:`.distributed_training`).
    """

    def __init__(
        self,
        config: GlamConfig,
        run_dir: str | os.PathLike | None = None,
        *,
        env: TextEnvClient | None = None,
        policy: LLMPolicy | None = None,
        resume: bool = False,
        distributed: bool = False,
    ):
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
        self.checkpoints = CheckpointManager(
            self.run_dir / CHECKPOINTS_SUBDIR, keep=config.train.keep_checkpoints
        )
        checkpoint = None
        if resume and policy is not None:
            raise ValueError("resume loads the policy from the checkpoint; do not pass policy=")
        if resume:
            checkpoint = self.checkpoints.latest()
            if checkpoint is None:
                raise CheckpointError(f"nothing to resume: no checkpoint under {self.run_dir}")
        if config.train.torch_threads:
            torch.set_num_threads(config.train.torch_threads)
        torch.manual_seed(config.train.seed)
        np.random.seed(config.train.seed % 2**32)
        random.seed(config.train.seed)
        self.generator = torch.Generator().manual_seed(config.train.seed)

        if distributed:
            import torch.distributed as dist

            if not dist.is_initialized() or dist.get_rank() != 0:
                raise RuntimeError(
                    "distributed=True is for rank 0 of an initialised process group "
                    "(the other ranks run serve_replica)"
                )
        if policy is None:
            policy = load_run_policy(config, checkpoint)
        else:
            set_dropout(policy, config.model.dropout)
        if policy.value_head is None:
            raise ValueError("PPO needs a policy with a value head")
        policy.eval()
        self.policy = policy
        self.params = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(policy, config)
        self.replicas = None

        if env is None:
            env = InProcessTextEnv(
                config.env.level,
                config.ppo.num_envs,
                config.env.seed,
                **config.env.env_options(),
            )
        if env.num_envs != config.ppo.num_envs:
            raise ConfigError(
                f"the env client has {env.num_envs} environments but ppo.num_envs is "
                f"{config.ppo.num_envs}"
            )
        self.env = env
        first = env.reset()
        self.action_space = list(first.action_space)
        self.variant = first.variant
        self.candidates = action_candidates(policy, self.action_space)
        self.histories = PromptHistories(
            env.num_envs,
            first.variant,
            self.action_space,
            config.train.history_observations,
            config.train.history_actions,
        )
        self.histories.reset(first.observations)
        self.tracker = EpisodeTracker(env.num_envs, config.train.stats_window)
        self.update_count = 0
        self.env_steps = 0
        self.last_checkpoint: Path | None = None
        self.env_restored_exactly = True
        self._saved_update: int | None = None
        self._dirty = False  # env advanced since the last checkpoint without an update
        self._half_updated = False  # an optimisation phase was interrupted
        if checkpoint is not None:
            self._restore(checkpoint)

        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / CONFIG_FILE).write_text(config.to_yaml(), encoding="utf-8")
        self.writer = None
        if config.train.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a killed run logged after its last checkpoint.
            self.writer = SummaryWriter(
                str(self.run_dir / "tensorboard"),
                purge_step=self.env_steps if checkpoint is not None else None,
            )
        if distributed:
            # Last: from here on the other ranks follow this trainer's commands.
            from .distributed_training import ReplicaGroup

            self.replicas = ReplicaGroup(policy, self.optimizer, config.ppo)
            self.replicas.send_setup(config)

    # --- construction helpers -------------------------------------------------------

    @classmethod
    def from_checkpoint(
        cls,
        run_dir: str | os.PathLike,
        overrides=(),
        *,
        env: TextEnvClient | None = None,
        distributed: bool = False,
    ) -> GlamTrainer:
        """Resume ``run_dir`` with the config stored in its latest checkpoint, plus
        ``overrides`` (e.g. a larger ``train.total_env_steps``)."""
        latest = CheckpointManager(Path(run_dir) / CHECKPOINTS_SUBDIR).latest()
        if latest is None:
            raise CheckpointError(f"nothing to resume: no checkpoint under {run_dir}")
        stored = read_manifest(latest).get("config")
        if not isinstance(stored, dict):
            raise CheckpointError(f"{latest}: the manifest has no config")
        config = GlamConfig.from_dict(stored).with_overrides(overrides)
        return cls(config, run_dir, env=env, resume=True, distributed=distributed)

    def _restore(self, checkpoint: Path) -> None:
        manifest = read_manifest(checkpoint)
        if manifest.get("kind") != CHECKPOINT_KIND:
            raise CheckpointError(f"{checkpoint}: not a GLAM PPO checkpoint")
        stored = GlamConfig.from_dict(manifest["config"])
        if stored.env != self.config.env or stored.ppo.num_envs != self.config.ppo.num_envs:
            raise ConfigError(
                "cannot change env.* or ppo.num_envs when resuming (the environments' state "
                f"belongs to the stored settings: env={stored.env}, "
                f"num_envs={stored.ppo.num_envs})"
            )
        # Our own file, written by _write_checkpoint: it holds numpy/python RNG states
        # and the env's pickled state, hence weights_only=False.
        state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:
            # Overrides given at resume time win over the stored hyper-parameters.
            group["lr"] = self.config.ppo.lr
            group["eps"] = self.config.ppo.adam_eps
        self.update_count = int(state["update"])
        self.env_steps = int(state["env_steps"])
        self.generator.set_state(state["generator"])
        env_state = state.get("env")
        self.env_restored_exactly = False
        if env_state is not None and state["action_space"] == self.action_space:
            try:
                self.env.load_state_dict(env_state)
                self.histories.load_state_dict(state["histories"])
                self.tracker.load_state_dict(state["tracker"])
                self.env_restored_exactly = True
            except (ValueError, KeyError):
                self.env_restored_exactly = False
        if not self.env_restored_exactly:
            # A fresh reset was done above; keep the finished-episode statistics only.
            tracker_state = dict(state["tracker"])
            tracker_state["returns"] = np.zeros(self.env.num_envs)
            tracker_state["lengths"] = np.zeros(self.env.num_envs, dtype=np.int64)
            self.tracker.load_state_dict(tracker_state)
        _set_rng_state(state["rng"])
        self.last_checkpoint = checkpoint
        self._saved_update = self.update_count

    # --- training ---------------------------------------------------------------------

    @property
    def batch_size(self) -> int:
        return self.config.ppo.batch_size

    def train(
        self,
        num_updates: int | None = None,
        env_steps: int | None = None,
        *,
        on_update: Callable[[UpdateReport], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> TrainResult:
        """Run updates until the budget is spent or ``should_stop()`` is true.

        Budget: ``num_updates`` more updates, or at least ``env_steps`` more env steps
        (whole updates), or by default until ``train.total_env_steps`` in total.
        """
        if num_updates is not None and env_steps is not None:
            raise ValueError("give num_updates or env_steps, not both")
        for name, value in (("num_updates", num_updates), ("env_steps", env_steps)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if num_updates is None:
            target = (
                self.env_steps + env_steps
                if env_steps is not None
                else self.config.train.total_env_steps
            )
            num_updates = max(0, math.ceil((target - self.env_steps) / self.batch_size))
        stop = should_stop or (lambda: False)
        progress = self._progress_bar(num_updates)
        report: UpdateReport | None = None
        stopped = False
        try:
            for _ in range(num_updates):
                if stop():
                    stopped = True
                    break
                report = self.run_update(stop)
                if report is None:
                    stopped = True
                    break
                if self.update_count % self.config.train.checkpoint_every == 0:
                    report.checkpoint = self.save_checkpoint(report.metrics)
                self._log(report)
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(self._postfix(report), refresh=False)
                if on_update is not None:
                    on_update(report)
            if self._dirty or (self.update_count > 0 and self._saved_update != self.update_count):
                self.save_checkpoint(report.metrics if report is not None else {})
        finally:
            if progress is not None:
                progress.close()
            if self.writer is not None:
                self.writer.flush()
        what = "stopped" if stopped else "finished"
        return TrainResult(
            updates=self.update_count,
            env_steps=self.env_steps,
            stopped=stopped,
            checkpoint=self.last_checkpoint,
            last_report=report,
            message=f"{what} at update {self.update_count} ({self.env_steps} env steps)",
        )

    def _progress_bar(self, total: int):
        if not self.config.train.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="GLAM PPO", unit="update", dynamic_ncols=True)

    @staticmethod
    def _postfix(report: UpdateReport) -> dict:
        metrics = report.metrics
        return {
            "steps": report.env_steps,
            "success": f"{report.success_rate:.2f}",
            "kl": f"{metrics.get('policy/approx_kl', float('nan')):.3f}",
            "sps": f"{metrics.get('charts/env_steps_per_s', float('nan')):.1f}",
        }

    def _log(self, report: UpdateReport) -> None:
        if self.writer is None:
            return
        for name, value in report.metrics.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(name, value, report.env_steps)

    def run_update(self, should_stop: Callable[[], bool] | None = None) -> UpdateReport | None:
        """One rollout + PPO update; ``None`` if ``should_stop`` fired during the rollout
        (the partial rollout is dropped; model and optimizer are untouched)."""
        ppo = self.config.ppo
        started = time.perf_counter()
        buffer = RolloutBuffer(ppo.steps_per_env, self.env.num_envs)
        for _ in range(ppo.steps_per_env):
            if should_stop is not None and should_stop():
                return None
            self._rollout_step(buffer)
        prompts = self.histories.prompts()
        if self.replicas is not None:
            last_values = self.replicas.value(prompts).float().cpu()
        else:
            last_values = self.policy.value(prompts).float().cpu()
        batch = buffer.finish(last_values, ppo.gamma, ppo.gae_lambda)
        rollout_done = time.perf_counter()
        metrics = self._optimise(batch)
        finished = time.perf_counter()
        self.update_count += 1
        self._dirty = False

        episodes = self.tracker.drain()
        metrics["losses/explained_variance"] = explained_variance(batch.values, batch.returns)
        metrics["charts/env_steps_per_s"] = self.batch_size / (finished - started)
        metrics["charts/episodes"] = float(len(episodes))
        metrics["charts/learning_rate"] = float(self.optimizer.param_groups[0]["lr"])
        metrics["time/rollout_s"] = rollout_done - started
        metrics["time/update_s"] = finished - rollout_done
        if episodes:
            metrics["charts/success_rate"] = float(np.mean([e.success for e in episodes]))
            metrics["charts/episode_return"] = float(np.mean([e.episode_return for e in episodes]))
            metrics["charts/episode_length"] = float(np.mean([e.length for e in episodes]))
        metrics["charts/success_rate_window"] = self.tracker.window_success_rate()
        return UpdateReport(
            update=self.update_count,
            env_steps=self.env_steps,
            episodes=self.tracker.total_episodes,
            success_rate=self.tracker.window_success_rate(),
            mean_return=self.tracker.window_mean_return(),
            metrics=metrics,
        )

    def _rollout_step(self, buffer: RolloutBuffer) -> None:
        prompts = self.histories.prompts()
        if self.replicas is not None:
            out = self.replicas.predict(prompts, self.candidates, with_value=True)
        else:
            out = self.policy.predict(prompts, self.candidates, with_value=True)
        log_probs = torch.log_softmax(out.scores.float().cpu(), dim=-1)
        actions = torch.multinomial(log_probs.exp(), 1, generator=self.generator).squeeze(1)
        step = self.env.step(actions.tolist())
        self._dirty = True
        rewards = torch.as_tensor(step.rewards, dtype=torch.float32) * self.config.ppo.reward_scale
        buffer.add(
            prompts,
            actions,
            log_probs.gather(1, actions.unsqueeze(1)).squeeze(1),
            out.values.float().cpu(),
            rewards,
            torch.as_tensor(step.dones, dtype=torch.float32),
        )
        self.histories.step(actions.tolist(), step.observations, step.dones)
        self.tracker.step(step.rewards, step.dones, step.successes)
        self.env_steps += self.env.num_envs

    def _optimise(self, batch) -> dict[str, float]:
        ppo = self.config.ppo
        if self.replicas is not None:
            # The same minibatch order as below (one process), sent to every rank.
            minibatches = [
                index
                for _ in range(ppo.epochs)
                for index in minibatch_indices(len(batch), ppo.minibatch_size, self.generator)
            ]
            self._half_updated = True
            metrics = self.replicas.optimise(batch, minibatches, self.candidates)
            self._half_updated = False
            return metrics
        device = self.policy.device
        sums: dict[str, float] = {}
        grad_norms = []
        count = 0
        self.policy.train()
        self._half_updated = True
        try:
            for _ in range(ppo.epochs):
                for index in minibatch_indices(len(batch), ppo.minibatch_size, self.generator):
                    mb = batch.select(index)
                    out = self.policy(mb.prompts, self.candidates, with_value=True)
                    result = ppo_loss(
                        out.scores.float(),
                        out.values.float(),
                        mb.actions.to(device),
                        mb.log_probs.to(device),
                        mb.values.to(device),
                        mb.advantages.to(device),
                        mb.returns.to(device),
                        ppo,
                    )
                    self.optimizer.zero_grad(set_to_none=True)
                    result.loss.backward()
                    grad_norm = torch.nn.utils.clip_grad_norm_(self.params, ppo.max_grad_norm)
                    self.optimizer.step()
                    grad_norms.append(float(grad_norm))
                    weight = len(mb)
                    for name, value in result.metrics().items():
                        sums[name] = sums.get(name, 0.0) + value * weight
                    sums["losses/total"] = (
                        sums.get("losses/total", 0.0) + result.loss.item() * weight
                    )
                    count += weight
        finally:
            self.policy.eval()
        self._half_updated = False
        metrics = {name: total / count for name, total in sums.items()}
        metrics["losses/grad_norm"] = float(np.mean(grad_norms))
        return metrics

    # --- checkpoints ------------------------------------------------------------------

    @property
    def can_checkpoint(self) -> bool:
        """False after an optimisation phase was interrupted (e.g. Ctrl-C inside
        :meth:`train`): the weights are then neither the last update's nor the next's."""
        return not self._half_updated

    def save_checkpoint(self, metrics: dict | None = None) -> Path:
        """Write a checkpoint of the current state (atomic); returns its directory."""
        if self._half_updated:
            raise RuntimeError(
                "an update was interrupted half-way; its weights must not be checkpointed "
                f"(the last checkpoint is {self.last_checkpoint})"
            )
        env_state = self.env.state_dict()
        state = {
            "optimizer": self.optimizer.state_dict(),
            "rng": _rng_state(),
            "generator": self.generator.get_state(),
            "update": self.update_count,
            "env_steps": self.env_steps,
            "env": env_state,
            "histories": self.histories.state_dict(),
            "tracker": self.tracker.state_dict(),
            "action_space": self.action_space,
            "variant": self.variant,
        }

        def write(directory: Path) -> None:
            self.policy.save_pretrained(directory / POLICY_SUBDIR)
            torch.save(state, directory / STATE_FILE)

        manifest = {
            "kind": CHECKPOINT_KIND,
            "update": self.update_count,
            "env_steps": self.env_steps,
            "episodes": self.tracker.total_episodes,
            "env_state_exact": env_state is not None,
            "config": self.config.to_dict(),
            "versions": software_versions(
                ("torch", "transformers", "numpy", "minigrid", "gymnasium")
            ),
            "metrics": {k: v for k, v in (metrics or {}).items() if math.isfinite(v)},
        }
        path = self.checkpoints.save(self.update_count, write, manifest)
        self.last_checkpoint = path
        self._saved_update = self.update_count
        self._dirty = False
        return path

    def close(self) -> None:
        """Flush logs, release the environment client and (distributed) the replicas."""
        if self.replicas is not None:
            self.replicas.stop()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.env.close()

    def __enter__(self) -> GlamTrainer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

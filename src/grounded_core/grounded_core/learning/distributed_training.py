"""GLAM PPO with data-parallel LLM replicas under torchrun (MISSION A5, issue 4 item 7).

``torchrun --nproc_per_node N -m grounded_core.learning.glam_cli train ...`` starts N
processes. Rank 0 is the *learner*: it runs the :class:`~.glam_trainer.GlamTrainer`
(environments, prompt histories, sampling, GAE, logging, tqdm, TensorBoard,
checkpoints). Every rank, rank 0 included, holds a replica of the policy and its Adam
optimizer; the replicas are kept identical:

* at start (fresh or resumed run) rank 0 sends its config, then its weights and
  optimizer state (:meth:`ReplicaGroup.send_setup`), so only rank 0 reads checkpoints;
* scoring: each batch of prompts is split into contiguous shards, one per rank, and
  the scores/values are gathered back in order
  (:class:`~grounded_core.distributed.DataParallelPolicy`); ranks whose shard is empty
  (more ranks than prompts) just take part in the gather;
* updates: rank 0 sends the rollout batch and the minibatch order; for each minibatch
  every rank computes the PPO loss of its shard, the gradients are summed with weights
  ``shard / minibatch`` (so they are the gradient of the whole minibatch's mean loss),
  and every replica clips and steps the same gradient. Advantage normalisation, when
  on, uses the whole minibatch's statistics, and the logged loss metrics are the whole
  minibatch's means, as in one process.

The result equals a single-process run with the same seed to float tolerance (the
summation order of the gradients differs), provided dropout is off during updates
(``model.dropout=0``): dropout masks are drawn per rank. Tested with 2 CPU processes
(tests/core/test_glam_distributed.py).

Rank 0 drives the other ranks with commands on the default process group
(``broadcast_object_list``); they run :func:`serve_replica` until rank 0 sends *stop*
(end of training, :meth:`GlamTrainer.close`) or *abort* (rank 0 failed to start). If
a process dies, torchrun stops the others.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

import torch
import torch.distributed as dist

from ..distributed import DataParallelPolicy
from ..llm import LLMPolicy
from .glam_config import GlamConfig
from .ppo import PPOConfig, ppo_loss
from .rollout import RolloutBatch

__all__ = [
    "ReplicaGroup",
    "abort_replicas",
    "is_distributed",
    "replica_device",
    "serve_replica",
]

_SETUP, _ABORT, _PREDICT, _VALUE, _OPTIMISE, _STOP = (
    "setup",
    "abort",
    "predict",
    "value",
    "optimise",
    "stop",
)


def is_distributed() -> bool:
    """True in a torchrun process of a world larger than one."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def replica_device(device: str) -> str:
    """``"cuda"`` -> ``"cuda:<LOCAL_RANK>"`` under torchrun (one GPU per process);
    anything else unchanged."""
    local = os.environ.get("LOCAL_RANK")
    if device == "cuda" and local is not None:
        return f"cuda:{int(local)}"
    return device


def _broadcast(obj=None):
    """Rank 0's ``obj`` on every rank (control messages: small, pickled)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _cpu(obj):
    """Tensors of a nested structure moved to the CPU (for pickled messages)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def abort_replicas(message: str) -> None:
    """Rank 0 could not start: tell the waiting replicas to exit (instead of setup)."""
    _broadcast((_ABORT, message))


class ReplicaGroup:
    """One rank's replica (policy + optimizer) in the data-parallel group.

    Rank 0 calls :meth:`send_setup`, then :meth:`predict` / :meth:`value` /
    :meth:`optimise` (each also runs on the other ranks) and finally :meth:`stop`;
    the other ranks call :meth:`serve`.
    """

    def __init__(self, policy: LLMPolicy, optimizer: torch.optim.Optimizer, ppo: PPOConfig):
        self.policy = policy
        self.optimizer = optimizer
        self.ppo = ppo
        self.params = [p for p in policy.parameters() if p.requires_grad]
        self.dp = DataParallelPolicy(policy)
        self.rank = self.dp.rank
        self.world_size = self.dp.world_size
        self._stopped = False

    # --- start-up: identical replicas ---------------------------------------------------

    def _layout(self) -> list[tuple[str, tuple[int, ...], str]]:
        return [(k, tuple(v.shape), str(v.dtype)) for k, v in self.policy.state_dict().items()]

    def sync_state(self) -> None:
        """Copy rank 0's weights (every state-dict tensor) and optimizer state to all
        ranks. Collective."""
        layout = _broadcast(self._layout() if self.rank == 0 else None)
        if layout != self._layout():
            raise RuntimeError(
                f"rank {self.rank}: this replica's parameters do not match rank 0's "
                "(different model or policy type?)"
            )
        with torch.no_grad():
            for tensor in self.policy.state_dict().values():
                dist.broadcast(tensor, src=0)
        state = _broadcast(_cpu(self.optimizer.state_dict()) if self.rank == 0 else None)
        if self.rank != 0:
            self.optimizer.load_state_dict(state)

    def send_setup(self, config: GlamConfig) -> None:
        """Rank 0: send the run's config (the replicas build their policy from it),
        then weights and optimizer state."""
        _broadcast((_SETUP, config.to_dict()))
        self.sync_state()

    # --- rank 0's calls -------------------------------------------------------------------

    def predict(self, prompts, actions, *, with_value: bool):
        """Scores (and values) of every prompt, computed shard by shard on all ranks."""
        _broadcast((_PREDICT, list(prompts), actions, with_value))
        return self.dp.predict(prompts, actions, with_value=with_value)

    def value(self, prompts) -> torch.Tensor:
        """Value estimates of every prompt, shard by shard on all ranks."""
        _broadcast((_VALUE, list(prompts)))
        return self.dp.value(prompts)

    def optimise(self, batch: RolloutBatch, minibatches, candidates) -> dict[str, float]:
        """The PPO epochs over ``minibatches`` (index tensors into ``batch``) on every
        rank; returns the metrics of one process (means over all samples)."""
        _broadcast((_OPTIMISE, _cpu(batch), _cpu(minibatches), candidates))
        return self._optimise(batch, minibatches, candidates)

    def stop(self) -> None:
        """Release the other ranks (idempotent)."""
        if not self._stopped:
            self._stopped = True
            _broadcast((_STOP,))

    # --- the other ranks --------------------------------------------------------------------

    def serve(self) -> None:
        """Follow rank 0's commands until it sends *stop*."""
        while True:
            command, *args = _broadcast()
            if command == _STOP:
                return
            if command == _PREDICT:
                prompts, actions, with_value = args
                self.dp.predict(prompts, actions, with_value=with_value)
            elif command == _VALUE:
                self.dp.value(args[0])
            elif command == _OPTIMISE:
                self._optimise(*args)
            else:
                raise RuntimeError(f"rank {self.rank}: unexpected command {command!r}")

    # --- shared ---------------------------------------------------------------------------

    def _optimise(self, batch: RolloutBatch, minibatches, candidates) -> dict[str, float]:
        sums: dict[str, float] = {}
        grad_norms = []
        count = 0
        self.policy.train()
        try:
            for index in minibatches:
                mb = batch.select(index)
                metrics, grad_norm = self._minibatch(mb, candidates)
                grad_norms.append(grad_norm)
                for name, value in metrics.items():
                    sums[name] = sums.get(name, 0.0) + value * len(mb)
                count += len(mb)
        finally:
            self.policy.eval()
        metrics = {name: total / count for name, total in sums.items()}
        metrics["losses/grad_norm"] = sum(grad_norms) / len(grad_norms)
        return metrics

    def _minibatch(self, mb: RolloutBatch, candidates) -> tuple[dict[str, float], float]:
        """One gradient step on minibatch ``mb``; every rank takes its shard."""
        ppo = self.ppo
        total = len(mb)
        advantages = mb.advantages
        if ppo.normalize_advantages:
            # Whole-minibatch statistics, exactly as ppo_loss computes them in one process.
            if advantages.numel() > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            ppo = replace(ppo, normalize_advantages=False)
        start, stop = self.dp.local_shard(total)
        local = stop - start
        device = self.policy.device
        loss = None
        stats = torch.zeros(6, dtype=torch.float64)
        if local > 0:
            rows = slice(start, stop)
            out = self.policy(mb.prompts[rows], candidates, with_value=True)
            result = ppo_loss(
                out.scores.float(),
                out.values.float(),
                mb.actions[rows].to(device),
                mb.log_probs[rows].to(device),
                mb.values[rows].to(device),
                advantages[rows].to(device),
                mb.returns[rows].to(device),
                ppo,
            )
            loss = result.loss
            values = result.metrics()
            stats = torch.tensor(
                [*(values[name] for name in _METRIC_NAMES), result.loss.item()],
                dtype=torch.float64,
            ) * float(local)
        self.optimizer.zero_grad(set_to_none=True)
        self.dp.backward(loss, local, total)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, ppo.max_grad_norm)
        self.optimizer.step()
        # Loss metrics of the whole minibatch: sum of (shard mean x shard size) / size.
        # (On the policy's device: NCCL reduces GPU tensors only.)
        stats = stats.to(device)
        dist.all_reduce(stats, op=dist.ReduceOp.SUM)
        stats = stats.cpu()
        names = [*_METRIC_NAMES, "losses/total"]
        return dict(zip(names, (stats / total).tolist())), float(grad_norm)


_METRIC_NAMES = (
    "losses/policy",
    "losses/value",
    "losses/entropy",
    "policy/approx_kl",
    "policy/clip_fraction",
)


def serve_replica() -> int:
    """A rank other than 0: wait for rank 0's config, build the replica, follow its
    commands. Returns the process exit status."""
    from .glam_trainer import build_optimizer, load_run_policy

    command, payload = _broadcast()
    if command == _ABORT:
        print(f"rank {dist.get_rank()}: rank 0 failed to start: {payload}", file=sys.stderr)
        return 1
    if command != _SETUP:
        raise RuntimeError(f"rank {dist.get_rank()}: expected the setup, got {command!r}")
    config = GlamConfig.from_dict(payload)
    if config.train.torch_threads:
        torch.set_num_threads(config.train.torch_threads)
    torch.manual_seed(config.train.seed)
    # The architecture comes from the model; the weights are rank 0's (sync_state).
    policy = load_run_policy(config, checkpoint=None, scale_output=False)
    optimizer = build_optimizer(policy, config)
    group = ReplicaGroup(policy, optimizer, config.ppo)
    group.sync_state()
    group.serve()
    return 0

"""Data-parallel LLM policy: split scoring across ranks, average gradients.

Every rank of the process group holds a replica of the same policy (same
weights: build them from the same checkpoint or seed) and makes the same calls
in the same order (SPMD, as torchrun starts them). ``predict`` gives each rank
a contiguous shard of the prompts, scores it, and all-gathers the shards, so
every rank gets the full result in the original order. ``backward`` scales the
local shard's mean loss by its share of the minibatch and all-reduces the
gradients, which makes the update equal to the single-process update on the
whole minibatch (within float tolerance; tested with 2 CPU processes). A parameter that
gets no gradient on any rank keeps ``grad = None``, as in a single process (so the
optimizer state has the same entries); the gradients travel in a few flat buckets
rather than one all-reduce per parameter.

This is what Lamorel does with DDP: near-linear speed-up of scoring and
updates with more replicas. The policy only needs ``predict(prompts, actions,
with_value=...) -> ScoreOutput``, ``forward`` (same, keeping the graph) and
``parameters()``, which ``grounded_core.llm.ActionScorer`` provides.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.distributed as dist

from ..llm.backbone import ScoreOutput


def shard_bounds(n: int, world_size: int, rank: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous shard of n items; the first n % world_size
    ranks get one item more. Empty shards are allowed (more ranks than items)."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    if n < 0:
        raise ValueError(f"cannot shard a negative number of items ({n})")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def init_from_env(backend: str | None = None) -> tuple[int, int]:
    """Join the process group that torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR...).

    gloo on CPU, NCCL when CUDA is available, unless backend is given.
    Returns (rank, world_size); a no-op returning (0, 1) outside torchrun.
    """
    if "WORLD_SIZE" not in os.environ:
        return 0, 1
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            # One GPU per local rank; the object collectives (scores, commands) need it.
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def _select_actions(actions, start: int, stop: int):
    """Shared action list: unchanged; per-prompt lists: the shard's rows."""
    if actions and not isinstance(actions[0], str):
        return list(actions[start:stop])
    return actions


class DataParallelPolicy:
    """A policy replica per rank; collective predict and gradient averaging."""

    def __init__(self, policy, group: dist.ProcessGroup | None = None) -> None:
        if not dist.is_initialized():
            raise RuntimeError(
                "torch.distributed is not initialised: call init_from_env() under torchrun "
                "or dist.init_process_group() first"
            )
        self.policy = policy
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)

    def _gather(self, local: ScoreOutput, n_actions: int, with_value: bool) -> ScoreOutput:
        payload = (
            local.scores.detach().cpu() if local is not None else torch.empty(0, n_actions),
            local.values.detach().cpu() if (local is not None and with_value) else None,
        )
        shards: list = [None] * self.world_size
        dist.all_gather_object(shards, payload, group=self.group)
        scores = torch.cat([s for s, _ in shards], dim=0)
        values = torch.cat([v for _, v in shards if v is not None], dim=0) if with_value else None
        return ScoreOutput(scores=scores, values=values)

    def predict(
        self,
        prompts: Sequence[str],
        actions: Sequence[str] | Sequence[Sequence[str]],
        *,
        with_value: bool = False,
    ) -> ScoreOutput:
        """Score all prompts, each rank its shard; every rank returns the full result."""
        start, stop = shard_bounds(len(prompts), self.world_size, self.rank)
        n_actions = len(actions) if actions and isinstance(actions[0], str) else len(actions[0])
        local = None
        if stop > start:
            local = self.policy.predict(
                list(prompts[start:stop]),
                _select_actions(actions, start, stop),
                with_value=with_value,
            )
        return self._gather(local, n_actions, with_value)

    def value(self, prompts: Sequence[str]) -> torch.Tensor:
        """Value estimates of all prompts (eval mode), each rank its shard; ``[n]`` on
        every rank."""
        start, stop = shard_bounds(len(prompts), self.world_size, self.rank)
        local = (
            self.policy.value(list(prompts[start:stop])).detach().cpu()
            if stop > start
            else torch.empty(0)
        )
        shards: list = [None] * self.world_size
        dist.all_gather_object(shards, local, group=self.group)
        return torch.cat(shards, dim=0)

    def local_shard(self, n: int) -> tuple[int, int]:
        """This rank's [start, stop) of an n-item minibatch (for the loss)."""
        return shard_bounds(n, self.world_size, self.rank)

    def backward(self, local_mean_loss: torch.Tensor | None, local_count: int, total: int) -> None:
        """Backpropagate this rank's shard and all-reduce the gradients.

        local_mean_loss is the mean loss over this rank's local_count samples
        (None when the shard is empty); after the call every replica holds the
        gradient of the mean loss over all total samples.
        """
        if total < 1:
            raise ValueError("total must be >= 1")
        params = [p for p in self.policy.parameters() if p.requires_grad]
        if local_mean_loss is not None and local_count > 0:
            (local_mean_loss * (local_count / total)).backward()
        if not params:
            return
        device = params[0].device
        # Which parameters got a gradient on some rank (the others stay None).
        has_grad = torch.tensor(
            [p.grad is not None for p in params], dtype=torch.float32, device=device
        )
        dist.all_reduce(has_grad, op=dist.ReduceOp.SUM, group=self.group)
        used = [p for p, flag in zip(params, has_grad.tolist()) if flag > 0]
        for p in used:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        for bucket in _buckets(used, BUCKET_ELEMENTS):
            flat = torch.cat([p.grad.reshape(-1) for p in bucket])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=self.group)
            offset = 0
            for p in bucket:
                n = p.grad.numel()
                p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
                offset += n


# Gradient elements per all-reduce (100 MB of float32): few collectives, bounded copies.
BUCKET_ELEMENTS = 25_000_000


def _buckets(params: list, limit: int) -> list[list]:
    """Consecutive groups of parameters of one dtype/device, ~limit elements each."""
    groups: list[list] = []
    size = 0
    for p in params:
        if (
            not groups
            or size + p.numel() > limit
            or p.grad.dtype != groups[-1][0].grad.dtype
            or p.grad.device != groups[-1][0].grad.device
        ):
            groups.append([])
            size = 0
        groups[-1].append(p)
        size += p.numel()
    return groups

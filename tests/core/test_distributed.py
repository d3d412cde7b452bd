"""Data-parallel LLM policy over torch.distributed (gloo, 2 CPU processes):
scores, values and an update equal to a single process on the same batch (MISSION A5).
(The whole torchrun training loop is tested in test_glam_distributed.py.)"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from grounded_core.distributed import DataParallelPolicy, shard_bounds
from grounded_core.llm import ActionScorer, tiny_t5_dir

PROMPTS = [
    "Possible action of the agent: turn left, turn right, go forward \n Goal of the agent: "
    f"go to the {colour} ball \n Observation 0: You see a wall {k} steps forward, "
    for k, colour in zip(range(1, 6), ["red", "green", "blue", "purple", "yellow"], strict=True)
]
ACTIONS = ["turn left", "turn right", "go forward", "pick up", "drop", "toggle"]
TARGETS = torch.tensor([0, 2, 1, 5, 3])


def test_shard_bounds_cover_everything_in_order():
    for n in range(0, 9):
        for world in range(1, 5):
            bounds = [shard_bounds(n, world, r) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            sizes = [stop - start for start, stop in bounds]
            assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="not in a world"):
        shard_bounds(4, 2, 2)


def _loss(out, targets):
    """A differentiable loss of scores and values (mean over the batch)."""
    log_probs = torch.log_softmax(out.scores, dim=-1)
    picked = log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
    return (-picked + (out.values - 1.0) ** 2).mean()


def _flat_params(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _single_process(model_dir: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    scorer = ActionScorer.from_pretrained(model_dir, seed=0)
    predicted = scorer.predict(PROMPTS, ACTIONS, with_value=True)
    predicted.values = scorer.value(PROMPTS)  # what DataParallelPolicy.value must give
    scorer.eval()  # no dropout, so replicas and the reference compute the same thing
    optimizer = torch.optim.SGD(scorer.parameters(), lr=0.1)
    optimizer.zero_grad()
    _loss(scorer(PROMPTS, ACTIONS, with_value=True), TARGETS).backward()
    optimizer.step()
    return predicted.scores, predicted.values, _flat_params(scorer)


def _worker(rank: int, world: int, init_file: str, model_dir: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        scorer = ActionScorer.from_pretrained(model_dir, seed=0)
        policy = DataParallelPolicy(scorer)
        predicted = policy.predict(PROMPTS, ACTIONS, with_value=True)
        values = policy.value(PROMPTS)
        torch.testing.assert_close(values, predicted.values, atol=1e-5, rtol=1e-5)
        predicted.values = values
        scorer.eval()
        # A loss of the scores only: the value head gets no gradient on any rank and
        # keeps grad None (as in one process), the LLM's gradients are summed.
        start, stop = policy.local_shard(len(PROMPTS))
        out = scorer(PROMPTS[start:stop], ACTIONS)
        policy.backward(out.scores.mean(), stop - start, len(PROMPTS))
        assert all(p.grad is None for p in scorer.value_head.parameters())
        assert all(p.grad is not None for p in scorer.model.parameters())
        scorer.zero_grad(set_to_none=True)
        optimizer = torch.optim.SGD(scorer.parameters(), lr=0.1)
        optimizer.zero_grad()
        start, stop = policy.local_shard(len(PROMPTS))
        out = scorer(PROMPTS[start:stop], ACTIONS, with_value=True)
        policy.backward(_loss(out, TARGETS[start:stop]), stop - start, len(PROMPTS))
        optimizer.step()
        torch.save(
            {
                "scores": predicted.scores,
                "values": predicted.values,
                "params": _flat_params(scorer),
            },
            f"{out_dir}/rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_two_and_three_processes_equal_one(tmp_path, world):
    model_dir = str(tiny_t5_dir())  # built once here, not raced by the workers
    scores, values, params = _single_process(model_dir)
    mp.spawn(
        _worker,
        args=(world, str(tmp_path / "init"), model_dir, str(tmp_path)),
        nprocs=world,
        join=True,
    )
    for rank in range(world):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        torch.testing.assert_close(result["scores"], scores, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(result["values"], values, atol=1e-5, rtol=1e-5)
        # the data-parallel update equals the single-process update on the whole batch
        torch.testing.assert_close(result["params"], params, atol=1e-6, rtol=1e-5)


def test_requires_an_initialised_process_group():
    with pytest.raises(RuntimeError, match="not initialised"):
        DataParallelPolicy(object())

"""Validating and shaping the inputs of the LLM policies (MISSION A3).

Prompts are a list of strings; candidate actions are one list shared by every prompt or
one list per prompt, all of the same length (a ``[n_prompts, n_actions]`` matrix --
ragged action sets raise :class:`~.errors.ScoringInputError`, a ``ValueError``).
Token lists are padded into id/mask tensors, and rows computed in length-sorted order
are put back in the caller's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import ScoringInputError

__all__ = ["check_prompts", "normalize_actions", "pad_rows", "unsort_rows"]


def check_prompts(prompts: Sequence[str]) -> list[str]:
    """Validate a list of prompt strings."""
    if isinstance(prompts, str):
        raise ScoringInputError("prompts must be a list of strings, got a single string")
    prompts = list(prompts)
    if not prompts:
        raise ScoringInputError("prompts is empty")
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise ScoringInputError(f"prompts[{i}] must be a string, got {type(prompt).__name__}")
    return prompts


def normalize_actions(
    actions: Sequence[str] | Sequence[Sequence[str]], n_prompts: int
) -> tuple[list[str], torch.Tensor]:
    """Candidate actions -> ``(unique texts, index table [n_prompts, n_actions])``.

    ``actions`` is one list shared by all prompts, or one list per prompt; every prompt
    must get the same number of actions (they form a ``[n_prompts, n_actions]`` matrix).
    """
    if isinstance(actions, str):
        raise ScoringInputError(
            "actions must be a list of action texts (or one list per prompt), got a string"
        )
    actions = list(actions)
    if not actions:
        raise ScoringInputError("actions is empty")
    if all(isinstance(a, str) for a in actions):
        per_prompt = [actions] * n_prompts
    elif all(not isinstance(a, str) and isinstance(a, Sequence) for a in actions):
        if len(actions) != n_prompts:
            raise ScoringInputError(
                f"got {len(actions)} action lists for {n_prompts} prompts; give one list "
                "per prompt or a single shared list"
            )
        per_prompt = [list(a) for a in actions]
        lengths = sorted({len(a) for a in per_prompt})
        if len(lengths) != 1:
            raise ScoringInputError(
                f"every prompt needs the same number of actions, got lengths {lengths}"
            )
        for i, acts in enumerate(per_prompt):
            for j, text in enumerate(acts):
                if not isinstance(text, str):
                    raise ScoringInputError(
                        f"actions[{i}][{j}] must be a string, got {type(text).__name__}"
                    )
    else:
        raise ScoringInputError(
            "actions must be a list of strings or a list of lists of strings, not a mix"
        )
    if not per_prompt[0]:
        raise ScoringInputError("every prompt needs at least one action")
    texts: dict[str, int] = {}
    table = [[texts.setdefault(a, len(texts)) for a in acts] for acts in per_prompt]
    return list(texts), torch.tensor(table, dtype=torch.long)


def pad_rows(
    rows: Sequence[Sequence[int]], pad_id: int, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token lists to ``[n, max_len]`` ids and a 0/1 attention mask."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        ids[i, span] = torch.as_tensor(row, dtype=torch.long)
        mask[i, span] = 1
    return ids, mask


def unsort_rows(stacked: torch.Tensor, order: Sequence[int]) -> torch.Tensor:
    """Rows of ``stacked`` are items ``order[0], order[1], ...``; return them by item."""
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.as_tensor(order, dtype=torch.long)] = torch.arange(len(order))
    return stacked.index_select(0, inverse.to(stacked.device))

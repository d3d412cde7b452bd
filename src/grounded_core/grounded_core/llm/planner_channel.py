"""Channel scoring for the planner: log p(instruction | plan) for every candidate plan.

The "direct" planner scores each plan given the instruction. The noisy-channel
alternative (Min et al., 2022, "Noisy Channel Language Model Prompting for Few-Shot
Text Classification") scores the *instruction* given each plan: every candidate
explains the same text, so plans of different lengths compete fairly and the model's
prior preference for some plans (e.g. the worked example's) matters less.

The prompt is ``prefix + middle_i + target``: a shared prefix (instructions and worked
examples written plan-first), the candidate plan, and the instruction. For decoder-only
models the prefix's key/value cache is computed once and copied to every candidate
(:func:`~.kv_cache.select_cache_rows`), so the cost is that of the candidate and
instruction tokens only; seq2seq models score the instruction as the decoder output of
each full prompt through :class:`~.scoring.ActionScorer`. The three parts are tokenized
separately (no special tokens), as the scorer does for prompts and actions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .kv_cache import select_cache_rows
from .scoring import ActionScorer

__all__ = ["channel_log_probs"]


def channel_log_probs(
    scorer: ActionScorer,
    prefix: str,
    middles: Sequence[str],
    target: str,
    *,
    batch_size: int = 32,
) -> list[float]:
    """``log p(target | prefix + middles[i])`` (sum over the target's tokens) for each i."""
    if scorer.kind != "causal":
        return scorer.score([prefix + m for m in middles], [target])[:, 0].tolist()
    tokenizer, model = scorer.tokenizer, scorer.model
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    head = encode(prefix)
    tail = encode(target)
    rows = [encode(m) + tail for m in middles]
    if not head or not tail or any(len(r) == len(tail) for r in rows):
        raise ValueError("prefix, every middle and the target must be non-empty")
    device = scorer.device
    scores: list[float] = []
    with scorer.acting():
        cache = model(input_ids=torch.tensor([head], device=device), use_cache=True)
        cache = cache.past_key_values
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            width = max(len(r) for r in batch)
            ids = torch.full((len(batch), width), scorer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, row in enumerate(batch):
                ids[i, : len(row)] = torch.tensor(row)
                mask[i, : len(row)] = 1
            ids, mask = ids.to(device), mask.to(device)
            rows_cache = select_cache_rows(
                cache, torch.zeros(len(batch), dtype=torch.long, device=device), model.config
            )
            positions = len(head) + torch.arange(width, device=device)
            logits = model(
                input_ids=ids,
                attention_mask=torch.cat(
                    [torch.ones((len(batch), len(head)), dtype=torch.long, device=device), mask],
                    dim=1,
                ),
                position_ids=positions.expand(len(batch), -1),
                past_key_values=rows_cache,
                use_cache=True,
            ).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
            n = len(tail)
            target_ids = torch.tensor(tail, device=device)
            for i, row in enumerate(batch):
                # Token j of the row is predicted at position j - 1 (the middle is non-empty).
                picked = logp[i, len(row) - n - 1 : len(row) - 1].gather(1, target_ids[:, None])
                scores.append(float(picked.sum()))
    return scores

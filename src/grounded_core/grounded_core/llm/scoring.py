"""GLAM's LLM policy: score every candidate action text given the prompt (MISSION A3).

``score(prompt, action)`` = sum over the action's tokens of their log-softmax
probability given the prompt and the previous action tokens; the policy is the softmax
of the scores over the candidate actions. Prompts and actions are tokenized separately
and without special tokens (no EOS is scored), and the action's ids are appended to the
prompt's, as lamorel (GLAM's reference implementation) does.

:class:`ActionScorer` computes this without redoing the prompt for every action. A
first pass per minibatch of prompts runs up to the decision point and gives the logits
of every action's *first* token, the state the value head reads and a key/value cache:

* **seq2seq** (T5 family): each prompt is encoded once, then the decoder runs on its
  start token only; the cache holds every decoder layer's cross-attention keys/values
  of that encoder output (A3: "encode each prompt once and reuse the encoder output").
* **decoder-only** (GPT/Llama/SmolLM family): one forward over the left-padded
  prompts; the first action token is predicted at the prompt's last position and the
  cache holds the prompt's keys/values (A3: "compute the prompt's KV cache once").

Only (prompt, action) pairs whose action has more than one token then run
``action[:-1]`` on a copy of their prompt's cache rows (:mod:`.kv_cache`), for the
remaining tokens' logits (decoder-only: positions continue after the prompt's real
length). Decoder input is thus ``start + action[:-1]`` (seq2seq) or ``prompt +
action[:-1]`` (decoder-only), exactly as in a full forward.

Both are batched over prompts and actions: prompts sorted by length, minibatches
padded to their own longest prompt, sized by ``max_batch_tokens``; log-softmax over the
vocabulary, gathering and masking are single tensor operations per minibatch (no
Python loop over actions). The result equals :func:`naive_score` -- one full forward
per (prompt, action) pair, no padding -- to float tolerance; the tests check it for T5,
Llama and GPT-2.

T5 models on the CPU take a fused path by default (:mod:`.fused_t5`: the encoder on
packed unpadded tokens and one decoder pass for all pairs, on the model's own modules;
same numbers, a fraction of the Hugging Face per-call overhead) whenever no dropout is
active; ``fused=False`` forces the Hugging Face path described above.

For PPO (A4) ``forward(prompts, actions, with_value=True)`` returns the scores and the
value of every prompt from the same forward pass, with the graph, in the current mode;
``score``/``predict``/``policy`` are the no-graph eval-mode versions for acting.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from transformers.modeling_outputs import BaseModelOutput

from .backbone import LLMPolicy, ScoreOutput
from .errors import ScoringInputError
from .fused_t5 import FusedT5, dropout_active, supports_fused_t5
from .inputs import check_prompts, normalize_actions, pad_rows, unsort_rows
from .kv_cache import select_cache_rows
from .loading import decoder_start_token_id, model_kind

__all__ = ["FUSED_GROUP_TOKENS", "ActionScorer", "naive_score"]

# Tokens per fused T5 minibatch on the CPU. Measured with the tiny T5 (32 GLAM prompts,
# 1 thread): 2048 (~8 prompts) scored 1.2x faster than one 8000-token group (the
# activations stay in cache) and 1.1x faster than 1024 (less per-group work).
FUSED_GROUP_TOKENS = 2048


class ActionScorer(LLMPolicy):
    """GLAM's policy: an LLM scoring action texts, plus a value head (MISSION A3).

    Create with :meth:`from_pretrained` (``"tiny-t5"``, ``"smollm2-135m-instruct"``, a
    directory, a hub id) or from a model and tokenizer. See the module docstring.
    """

    policy_type = "ActionScorer"

    def __init__(self, model, tokenizer, *, fused: bool | None = None, **kwargs):
        """``fused``: use :mod:`.fused_t5` for T5 models (``None``: on the CPU only);
        other arguments as :class:`~.backbone.LLMPolicy`."""
        super().__init__(model, tokenizer, **kwargs)
        if fused and not supports_fused_t5(model):
            raise ValueError(f"fused=True needs a T5 model, got {type(model).__name__}")
        self.fused_option = fused
        self._fused = FusedT5(model) if fused is not False and supports_fused_t5(model) else None

    @property
    def fused(self) -> bool:
        """Whether scoring takes the fused T5 path now (it also needs no active dropout)."""
        if self._fused is None:
            return False
        if self.fused_option is None and self.device.type != "cpu":
            return False
        return not dropout_active(self.model)

    def forward(
        self,
        prompts: Sequence[str],
        actions: Sequence[str] | Sequence[Sequence[str]],
        *,
        with_value: bool = False,
    ) -> ScoreOutput:
        """Scores ``[n_prompts, n_actions]`` (and values ``[n_prompts]``), with the graph.

        Args:
            prompts: the prompt strings.
            actions: one list of action texts shared by every prompt, or one list per
                prompt (all of the same length).
            with_value: also run the value head on the same forward pass.
        """
        if actions is None:
            raise ScoringInputError("ActionScorer needs the candidate actions")
        prompts = check_prompts(prompts)
        if with_value and self.value_head is None:
            raise RuntimeError("with_value=True but this scorer has no value head")
        texts, table = normalize_actions(actions, len(prompts))
        prompt_rows = self.tokenize_prompts(prompts)
        action_ids, action_mask = pad_rows(self.tokenize_actions(texts), self.pad_token_id)
        action_ids, action_mask = action_ids.to(self.device), action_mask.to(self.device)
        action_lens = action_mask.sum(-1)
        table = table.to(self.device)
        n_actions, action_width = table.shape[1], action_ids.shape[1]

        # Cost of a prompt of length n: each of its pairs holds the prompt's states plus
        # its action tokens in the action pass; the fused path holds the prompt's states
        # once and every pair's action tokens, in groups small enough to stay in the
        # CPU caches (FUSED_GROUP_TOKENS).
        fused = self.fused
        if fused:
            groups = self.plan_batches(
                [len(r) for r in prompt_rows],
                lambda n: n + n_actions * action_width,
                FUSED_GROUP_TOKENS if self.device.type == "cpu" else None,
            )
        else:
            groups = self.plan_batches(
                [len(r) for r in prompt_rows], lambda n: n_actions * (n + action_width)
            )
        score_parts, value_parts, order = [], [], []
        for group in groups:
            if fused:
                pair_table = table[group]
                scores, states = self._fused.score(
                    [prompt_rows[i] for i in group],
                    action_ids[pair_table],
                    action_lens[pair_table],
                    self.decoder_start_token_id,
                    hidden=with_value,
                )
            else:
                ids, mask = self._pad_prompts([prompt_rows[i] for i in group])
                scores, states = self._score_group(
                    ids, mask, table[group], action_ids, action_lens, with_value
                )
            score_parts.append(scores)
            if with_value:
                value_parts.append(self.value_head(states))
            order.extend(group)
        scores = unsort_rows(torch.cat(score_parts), order)
        values = unsort_rows(torch.cat(value_parts), order) if with_value else None
        return ScoreOutput(scores=scores, values=values)

    def _score_group(self, ids, mask, pair_table, action_ids, action_lens, with_value):
        """Scores ``[B, A]`` (and decision states) of one minibatch of prompts."""
        pair_lens = action_lens[pair_table]  # [B, A]
        multi = pair_lens > 1
        need_cache = bool(multi.any())
        # One pass per prompt up to the decision point: every action's first token.
        first = self.prompt_pass(ids, mask, use_cache=need_cache, hidden=with_value)
        first_logp = torch.log_softmax(first.first_logits.float(), dim=-1)
        scores = first_logp.gather(1, action_ids[pair_table, 0])
        if need_cache:
            # Only pairs whose action has more tokens go on, from their prompt's cache.
            rows, cols = multi.nonzero(as_tuple=True)
            lens = pair_lens[rows, cols]
            width = int(lens.max())
            tokens = action_ids[pair_table[rows, cols], :width]
            feed_mask = torch.arange(width - 1, device=ids.device)[None, :] < (lens - 1)[:, None]
            logits = self._continue(first, mask, rows, tokens[:, :-1], feed_mask)
            rest = _token_log_probs(logits, tokens[:, 1:], feed_mask).sum(-1)
            # Out-of-place scatter keeps the graph to both passes.
            scores = scores + torch.zeros_like(scores).index_put((rows, cols), rest)
        return scores, first.states

    def _continue(self, first, mask, rows, feed, feed_mask) -> torch.Tensor:
        """Logits of ``feed`` (``action[:-1]`` per pair) on a copy of the pairs' prompt
        cache rows; ``rows[k]`` is the minibatch prompt of pair ``k``."""
        cache = select_cache_rows(first.cache, rows, self.model.config)
        if self.kind == "causal":
            prompt_lens = mask.sum(-1)[rows]
            positions = torch.arange(feed.shape[1], device=feed.device)
            return self.model(
                input_ids=feed,
                attention_mask=torch.cat([mask[rows], feed_mask.long()], dim=1),
                position_ids=prompt_lens[:, None] + positions,
                past_key_values=cache,
                use_cache=True,
            ).logits
        # seq2seq: the decoder continues after its start token. The cross-attention keys
        # and values come from the cache; the encoder states are still passed because the
        # decoder only runs cross-attention when it has them (and they give its mask).
        start_mask = torch.ones((feed.shape[0], 1), dtype=torch.long, device=feed.device)
        return self.model(
            encoder_outputs=BaseModelOutput(
                last_hidden_state=first.encoder_states.index_select(0, rows)
            ),
            attention_mask=mask[rows],
            decoder_input_ids=feed,
            decoder_attention_mask=torch.cat([start_mask, feed_mask.long()], dim=1),
            past_key_values=cache,
            use_cache=True,
        ).logits


def _token_log_probs(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """log-softmax probability of each target token, 0 where masked; ``[N, T]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked.masked_fill(~mask, 0.0)


@torch.no_grad()
def naive_score(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[str],
    actions: Sequence[str] | Sequence[Sequence[str]],
) -> torch.Tensor:
    """Reference scores: one full forward per (prompt, action) pair, no padding, no reuse.

    Same definition as :class:`ActionScorer` (sum of the action tokens' log-softmax
    probabilities; no special tokens; decoder input ``start + action[:-1]`` for seq2seq,
    ``prompt + action[:-1]`` for decoder-only). Runs in eval mode (restored after). For
    decoder-only models that support it, only the logits of the action positions are
    computed (``logits_to_keep``), as the scorer does.
    """
    prompts = check_prompts(prompts)
    texts, table = normalize_actions(actions, len(prompts))
    kind = model_kind(model.config)
    device = next(model.parameters()).device
    start = decoder_start_token_id(model, tokenizer) if kind == "seq2seq" else None
    keep = "logits_to_keep" in _forward_parameters(model)
    was_training = model.training
    model.eval()
    try:
        prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        action_ids = [tokenizer(a, add_special_tokens=False)["input_ids"] for a in texts]
        out = torch.zeros(table.shape, dtype=torch.float32)
        for i, p_ids in enumerate(prompt_ids):
            for j, k in enumerate(table[i].tolist()):
                a_ids = action_ids[k]
                if not p_ids or not a_ids:
                    raise ScoringInputError("prompts and actions must not tokenize to nothing")
                target = torch.tensor(a_ids, device=device)
                if kind == "seq2seq":
                    logits = model(
                        input_ids=torch.tensor([p_ids], device=device),
                        decoder_input_ids=torch.tensor([[start, *a_ids[:-1]]], device=device),
                        use_cache=False,
                    ).logits[0]
                else:
                    extra = {"logits_to_keep": len(a_ids)} if keep else {}
                    logits = model(
                        input_ids=torch.tensor([p_ids + a_ids[:-1]], device=device),
                        use_cache=False,
                        **extra,
                    ).logits[0, -len(a_ids) :]
                logp = torch.log_softmax(logits.float(), dim=-1)
                out[i, j] = logp[torch.arange(len(a_ids), device=device), target].sum().cpu()
        return out
    finally:
        if was_training:
            model.train()


def _forward_parameters(model: torch.nn.Module) -> frozenset[str]:
    return frozenset(inspect.signature(model.forward).parameters)

"""A fused T5 forward for GLAM's action scoring: same numbers, less overhead (A3).

For small T5 models on a CPU the Hugging Face forward is dominated by per-call work,
not arithmetic (profiled on the tiny T5, 32 GLAM prompts x 6 actions, 1 thread: ~80%
of the CPU time outside matmul/attention kernels -- the relative-position bias rebuilt
in every call and layer stack, config deep copies when cache objects are built, one
encoder call per prompt length, two decoder calls with cache copies). This module runs
the same T5 computation directly on the model's own modules and weights:

* **encoder on packed tokens**: the prompts of a minibatch are concatenated without
  padding; every linear layer, norm and feed-forward runs once on all their tokens,
  and only the attention is done prompt by prompt (so no padding mask is ever built).
  The relative-position bias is computed once for the longest prompt and sliced for
  the others (it only depends on the distance between positions); while no gradient is
  recorded it is kept between calls until the bias weights change;
* **one decoder pass for all (prompt, action) pairs**: decoder input ``start +
  action[:-1]`` for every pair, padded at the end only (causal attention: padding never
  reaches a real position). The decoder self-attention runs on all pairs at once; in
  the cross-attention all the action positions of a prompt are queries against that
  prompt's encoder keys/values, which are projected once per prompt. No cache objects;
* **feed-forward**: T5's tanh-approximated GELU (``gelu_new``, written out as eight
  tensor operations in transformers) as the single ``F.gelu(approximate="tanh")``
  kernel (the same formula; differences ~1e-7), ReLU as ``F.relu``.

Scores equal :func:`~.scoring.naive_score` to float tolerance (tests/core/
test_llm_scoring.py runs both paths), gradients flow as through the Hugging Face
forward (used for PPO updates when dropout is off), and the decoder state at position
0 (what the value head reads) is returned too. Dropout is not applied: the scorer
uses this path only when the model has no active dropout (eval mode, or every dropout
probability 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["FusedT5", "supports_fused_t5"]


def supports_fused_t5(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a T5 encoder-decoder this module can run."""
    try:
        from transformers import T5ForConditionalGeneration
    except ImportError:  # pragma: no cover - transformers always has T5
        return False
    return type(model) is T5ForConditionalGeneration


def dropout_active(model: torch.nn.Module) -> bool:
    """True when a forward of ``model`` would drop anything (train mode with p > 0)."""
    if not model.training:
        return False
    for module in model.modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd) and module.p > 0:
            return True
        value = getattr(module, "dropout", None)
        if isinstance(value, float) and value > 0:
            return True
    return False


class FusedT5:
    """Runs a ``T5ForConditionalGeneration``'s scoring forward; holds no weights."""

    def __init__(self, model: torch.nn.Module):
        if not supports_fused_t5(model):
            raise TypeError(f"FusedT5 needs a T5ForConditionalGeneration, got {type(model)}")
        self.model = model
        config = model.config
        self.n_heads = int(config.num_heads)
        self.d_kv = int(config.d_kv)
        self.scale_output = bool(
            getattr(config, "scale_decoder_outputs", config.tie_word_embeddings)
        )
        self.d_model = int(config.d_model)
        self._bias_cache: tuple | None = None  # (weight version, length, bias)

    def _encoder_bias(self, attention, length: int, device) -> torch.Tensor:
        """Bidirectional relative-position bias ``[H, L, L]`` for prompts up to ``length``."""
        weight = attention.relative_attention_bias.weight
        key = (weight.data_ptr(), weight._version, weight.device)
        cached = self._bias_cache
        if (
            not torch.is_grad_enabled()
            and cached is not None
            and cached[0] == key
            and cached[1] >= length
        ):
            return cached[2]
        bias = attention.compute_bias(length, length, device=device)[0]
        if not torch.is_grad_enabled():
            self._bias_cache = (key, length, bias)
        return bias

    @staticmethod
    def _feed_forward(layer, x: torch.Tensor) -> torch.Tensor:
        """``T5LayerFF`` without dropout, with a fused activation where one exists."""
        dense = layer.DenseReluDense
        h = layer.layer_norm(x)
        act = _fused_activation(dense.act)
        if hasattr(dense, "wi_0"):  # gated (T5 v1.1, Flan-T5)
            h = act(dense.wi_0(h)) * dense.wi_1(h)
        else:
            h = act(dense.wi(h))
        if h.dtype != dense.wo.weight.dtype and dense.wo.weight.dtype != torch.int8:
            h = h.to(dense.wo.weight.dtype)
        return x + dense.wo(h)

    # --- pieces -------------------------------------------------------------------------

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, H*d]`` -> ``[H, n, d]``."""
        return x.view(x.shape[0], self.n_heads, self.d_kv).transpose(0, 1)

    @staticmethod
    def _merge(x: torch.Tensor) -> torch.Tensor:
        """``[..., H, n, d]`` -> ``[..., n, H*d]``."""
        return x.transpose(-3, -2).reshape(*x.shape[:-3], x.shape[-2], -1)

    def encode(self, rows: list[list[int]], device) -> tuple[torch.Tensor, list[int]]:
        """Encoder output of each prompt, packed: ``[sum(lengths), d_model]``."""
        encoder = self.model.get_encoder()
        lengths = [len(r) for r in rows]
        ids = torch.as_tensor([t for r in rows for t in r], dtype=torch.long, device=device)
        x = encoder.embed_tokens(ids)
        longest = max(lengths)
        bias = self._encoder_bias(encoder.block[0].layer[0].SelfAttention, longest, device)
        starts = [0]
        for n in lengths:
            starts.append(starts[-1] + n)
        for block in encoder.block:
            layer = block.layer[0]
            attention = layer.SelfAttention
            h = layer.layer_norm(x)
            q, k, v = attention.q(h), attention.k(h), attention.v(h)
            parts = []
            for i, n in enumerate(lengths):
                s = slice(starts[i], starts[i + 1])
                out = F.scaled_dot_product_attention(
                    self._heads(q[s]),
                    self._heads(k[s]),
                    self._heads(v[s]),
                    attn_mask=bias[:, :n, :n].to(q.dtype),
                    scale=1.0,
                )
                parts.append(out.transpose(0, 1).reshape(n, -1))
            x = x + attention.o(torch.cat(parts) if len(parts) > 1 else parts[0])
            x = self._feed_forward(block.layer[-1], x)
        return encoder.final_layer_norm(x), lengths

    def score(
        self,
        rows: list[list[int]],
        pair_ids: torch.Tensor,
        pair_lens: torch.Tensor,
        start_token: int,
        *,
        hidden: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Summed action-token log-probabilities ``[B, A]`` (and decoder states at
        position 0 ``[B, d_model]`` when ``hidden``).

        Args:
            rows: the B prompts' token ids (no padding).
            pair_ids: ``[B, A, W]`` action token ids of every (prompt, action) pair,
                padded at the end (any id).
            pair_lens: ``[B, A]`` real token counts (>= 1).
            start_token: the decoder start token.
        """
        device = pair_ids.device
        encoded, lengths = self.encode(rows, device)
        decoder = self.model.get_decoder()
        B, A, W = pair_ids.shape
        start = torch.full((B, A, 1), start_token, dtype=torch.long, device=device)
        inputs = torch.cat([start, pair_ids[:, :, :-1]], dim=2).reshape(B * A * W)
        x = decoder.embed_tokens(inputs)  # [B*A*W, d]
        first = decoder.block[0].layer[0].SelfAttention
        bias = first.compute_bias(W, W, device=device)[0]  # [H, W, W], causal buckets
        causal = torch.ones(W, W, dtype=torch.bool, device=device).triu(1)
        self_mask = bias.masked_fill(causal, float("-inf"))
        starts = [0]
        for n in lengths:
            starts.append(starts[-1] + n)
        for block in decoder.block:
            layer = block.layer[0]
            attention = layer.SelfAttention
            h = layer.layer_norm(x)
            q, k, v = (
                t.view(B * A, W, self.n_heads, self.d_kv).transpose(1, 2)
                for t in (attention.q(h), attention.k(h), attention.v(h))
            )
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=self_mask.to(q.dtype), scale=1.0
            )  # [B*A, H, W, d]
            x = x + attention.o(self._merge(out).reshape(B * A * W, -1))

            cross = block.layer[1]
            attention = cross.EncDecAttention
            q = attention.q(cross.layer_norm(x)).view(B, A * W, self.n_heads, self.d_kv)
            k, v = attention.k(encoded), attention.v(encoded)
            parts = []
            for i in range(B):
                s = slice(starts[i], starts[i + 1])
                out = F.scaled_dot_product_attention(
                    q[i].transpose(0, 1), self._heads(k[s]), self._heads(v[s]), scale=1.0
                )  # [H, A*W, d]
                parts.append(out.transpose(0, 1).reshape(A * W, -1))
            x = x + attention.o(torch.cat(parts))
            x = self._feed_forward(block.layer[-1], x)
        x = decoder.final_layer_norm(x)
        states = x.view(B, A, W, -1)[:, 0, 0] if hidden else None
        if self.scale_output:
            x = x * (self.d_model**-0.5)
        logits = self.model.lm_head(x).view(B, A, W, -1)
        logp = torch.log_softmax(logits.float(), dim=-1)
        picked = logp.gather(-1, pair_ids.unsqueeze(-1)).squeeze(-1)  # [B, A, W]
        keep = torch.arange(W, device=device)[None, None, :] < pair_lens[:, :, None]
        return picked.masked_fill(~keep, 0.0).sum(-1), states


def _fused_activation(act):
    """One-kernel equivalent of a transformers activation module, else the module."""
    from transformers import activations

    for name in ("NewGELUActivation", "GELUTanh", "PytorchGELUTanh"):
        cls = getattr(activations, name, None)
        if cls is not None and type(act) is cls:
            return _gelu_tanh
    if isinstance(act, torch.nn.ReLU):
        return F.relu
    return act


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")

"""Reusing a prompt's key/value cache across its candidate actions (MISSION A3).

GLAM scores every candidate action given one prompt. The prompt's keys and values are
computed once (one forward over the padded prompts) and each (prompt, action) pair then
only runs its remaining action tokens on top of a copy of its prompt's rows of that
cache; :func:`select_cache_rows` builds that per-pair cache. For decoder-only models the
cache holds the prompt's self-attention keys/values; for encoder-decoder models it is an
``EncoderDecoderCache`` whose cross-attention part holds every decoder layer's
projection of the encoder output (so it is computed once per prompt, not per pair) and
whose self-attention part holds the decoder start token.

Across transformers versions the cache object differs, so only stable, public surface
is used:

* reading: transformers >= 4.56/5.x caches expose ``cache.layers[i].keys/.values``;
  4.36-4.55 ``DynamicCache`` exposes ``key_cache``/``value_cache`` lists; older models
  return tuples of ``(key, value)`` per layer -- all three are accepted;
* writing: a new ``DynamicCache`` filled with ``cache.update(key, value, layer_idx)``,
  the method every model itself calls, present in all versions since 4.36. With 5.x the
  cache is created from the model config (``DynamicCache(config=...)``) so that layer
  types (full or sliding-window attention) match the model's.

Row selection (``index_select``) is differentiable, so gradients of the action tokens'
log-probabilities flow back into the prompt pass during PPO updates.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache, EncoderDecoderCache

__all__ = ["cache_layers", "select_cache_rows"]


def cache_layers(cache) -> list[tuple[torch.Tensor | None, torch.Tensor | None]]:
    """``[(keys, values)]`` per layer, each ``[batch, kv_heads, seq, head_dim]``."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(getattr(la, "keys", None), getattr(la, "values", None)) for la in layers]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache))
    return [(kv[0], kv[1]) for kv in cache]


def _empty_cache(config) -> DynamicCache:
    try:
        return DynamicCache(config=config)
    except TypeError:  # transformers < 4.56: no config argument
        return DynamicCache()


def select_cache_rows(cache, index: torch.Tensor, config):
    """A new cache holding rows ``index`` of ``cache`` (a copy, differentiable).

    ``DynamicCache`` (or legacy tuples) -> ``DynamicCache``; ``EncoderDecoderCache`` ->
    ``EncoderDecoderCache`` of the selected self- and cross-attention rows (its
    constructor marks the filled cross-attention layers as ready for reuse).
    """
    if isinstance(cache, EncoderDecoderCache):
        decoder_config = config.get_text_config(decoder=True)
        return EncoderDecoderCache(
            _select(cache.self_attention_cache, index, decoder_config),
            _select(cache.cross_attention_cache, index, decoder_config),
        )
    return _select(cache, index, config)


def _select(cache, index: torch.Tensor, config) -> DynamicCache:
    out = _empty_cache(config)
    for layer_idx, (keys, values) in enumerate(cache_layers(cache)):
        if keys is None or values is None or keys.numel() == 0:
            continue  # an unused layer (e.g. KV sharing): the model fills it itself
        out.update(keys.index_select(0, index), values.index_select(0, index), layer_idx)
    return out

"""Embedded tiny language models for tests and CPU training (no download needed).

No T5 weights ship offline (PLATFORM.md), so the project embeds small randomly
initialised models built from a config, with the BabyAI-Text word tokenizer of
:mod:`.tokenizer_vocab`. They are written as ordinary Hugging Face directories
(``config.json``, ``model.safetensors``, ``tokenizer.json``) so that every caller goes
through the same ``from_pretrained`` path as with real pretrained weights.

* :func:`build_tiny_t5` -- a Flan-T5-shaped encoder-decoder (T5 v1.1: gated-GELU, no
  output rescaling), d_model 64, 2 encoder + 2 decoder layers, 4 heads, d_ff 256:
  GLAM's seq2seq case (MISSION A3) at a size that trains on a CPU. (transformers 5.x
  ties T5's ``lm_head`` to the shared embeddings whatever the config says.)
* :func:`build_tiny_causal_lm` -- a tiny Llama (grouped-query attention, rotary
  positions) or GPT-2 (learned positions) with the same tokenizer: the decoder-only case.
* :func:`tiny_t5_dir` / :func:`tiny_causal_dir` -- the cached default copies, built on
  first use under the cache root (see :mod:`.cache`), atomically. The directory name
  carries the vocabulary fingerprint, the architecture and the seed, so a changed
  vocabulary never reuses a stale model.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from .cache import atomic_directory, default_cache_dir
from .tokenizer_vocab import build_word_tokenizer, vocabulary_fingerprint

__all__ = [
    "TINY_CAUSAL_ARCHS",
    "build_tiny_causal_lm",
    "build_tiny_t5",
    "tiny_causal_dir",
    "tiny_t5_dir",
]

TINY_CAUSAL_ARCHS: tuple[str, ...] = ("llama", "gpt2")

# Bump when the architecture of the embedded models changes (invalidates caches).
_LAYOUT_VERSION = 1


def _save(model: torch.nn.Module, tokenizer, out_dir: Path) -> None:
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _build_into(out_dir: str | os.PathLike, write) -> Path:
    """Run ``write(tmp_dir)`` and move the result onto ``out_dir`` atomically."""
    out = Path(out_dir)
    with atomic_directory(out, replace=True) as tmp:
        write(tmp)
    return out


def _seeded_init(seed: int, factory):
    # Seed only this construction; the caller's global RNG stream is left untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


def build_tiny_t5(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Build the tiny T5 (random weights from ``seed``) into ``out_dir``; return it."""
    return _build_into(out_dir, lambda tmp: _write_tiny_t5(tmp, seed))


def _write_tiny_t5(out_dir: Path, seed: int) -> None:
    tokenizer = build_word_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=64,
        d_kv=16,
        d_ff=256,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.1,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    model = _seeded_init(seed, lambda: T5ForConditionalGeneration(config))
    _save(model, tokenizer, out_dir)


def build_tiny_causal_lm(out_dir: str | os.PathLike, arch: str = "llama", seed: int = 0) -> Path:
    """Build a tiny decoder-only model (``"llama"`` or ``"gpt2"``) into ``out_dir``."""
    _check_arch(arch)
    return _build_into(out_dir, lambda tmp: _write_tiny_causal(tmp, arch, seed))


def _check_arch(arch: str) -> None:
    if arch not in TINY_CAUSAL_ARCHS:
        raise ValueError(f"unknown tiny architecture {arch!r}; allowed: {TINY_CAUSAL_ARCHS}")


def _write_tiny_causal(out_dir: Path, arch: str, seed: int) -> None:
    tokenizer = build_word_tokenizer()
    common = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.eos_token_id,
    }
    if arch == "llama":
        config = LlamaConfig(
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            tie_word_embeddings=True,
            **common,
        )
        factory = lambda: LlamaForCausalLM(config)  # noqa: E731
    else:
        config = GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=1024, **common)
        factory = lambda: GPT2LMHeadModel(config)  # noqa: E731
    model = _seeded_init(seed, factory)
    _save(model, tokenizer, out_dir)


def _cached(name: str, cache_dir, write) -> Path:
    target = default_cache_dir(cache_dir) / "models" / name
    # The directory only ever appears complete (atomic rename), so existing == valid.
    if target.is_dir():
        return target
    with atomic_directory(target) as tmp:
        write(tmp)
    return target


def tiny_t5_dir(cache_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """The cached tiny T5 directory, built on first use."""
    name = f"tiny-t5-v{_LAYOUT_VERSION}-{vocabulary_fingerprint()}-seed{seed}"
    return _cached(name, cache_dir, lambda tmp: _write_tiny_t5(tmp, seed))


def tiny_causal_dir(
    arch: str = "llama", cache_dir: str | os.PathLike | None = None, seed: int = 0
) -> Path:
    """The cached tiny decoder-only model directory (``"llama"`` or ``"gpt2"``)."""
    _check_arch(arch)
    name = f"tiny-{arch}-v{_LAYOUT_VERSION}-{vocabulary_fingerprint()}-seed{seed}"
    return _cached(name, cache_dir, lambda tmp: _write_tiny_causal(tmp, arch, seed))

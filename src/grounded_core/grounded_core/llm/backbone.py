"""What every LLM policy of GLAM shares: model + tokenizer, batching, heads, checkpoints.

:class:`LLMPolicy` is the base of :class:`~.scoring.ActionScorer` (GLAM: score the
action texts) and :class:`~.variants.ActionHeadPolicy` (the paper's action-heads
baseline). It is a ``torch.nn.Module`` holding the Hugging Face model and the heads, so
``parameters()``, ``train()``/``eval()``, ``state_dict()``, ``to(device)`` and DDP
wrapping work as for any module.

Modes (MISSION A3, A4):

* ``forward(...)`` keeps the autograd graph and runs in the module's current mode --
  call ``train()`` first for PPO updates (dropout on, as the trainer wants);
* ``score``/``predict``/``policy``/``value`` are for acting: they switch to eval mode
  (dropout off) under ``torch.no_grad()`` and restore the previous mode after. (Not
  ``torch.inference_mode()``: its tensors cannot take part in a later autograd graph,
  and PPO feeds the stored log-probs and values of acting into its losses.)

Policies are created in eval mode.

Batching: prompts are tokenized once (no special tokens, A3), sorted by length and
cut into minibatches so that the padded work of a minibatch stays under
``max_batch_tokens`` (each minibatch is padded to its own longest prompt only).

Checkpoints: ``save_pretrained(dir)`` writes the Hugging Face model and tokenizer, each
head as ``<name>.safetensors`` and ``grounded_policy.json`` (policy type, model kind,
head shapes), atomically; ``from_pretrained(dir)`` restores all of it, so training can
resume. ``from_pretrained`` also takes any name :func:`~.loading.load_model_and_tokenizer`
understands, and ``init="npae"``/``"random"`` for the non-pretrained baselines.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from transformers.modeling_outputs import BaseModelOutput

from .cache import atomic_directory
from .checkpoint import FORMAT_VERSION, METADATA_FILE, read_metadata
from .errors import CheckpointError, ScoringInputError
from .inputs import check_prompts, pad_rows, unsort_rows
from .loading import (
    LoadedModel,
    decoder_start_token_id,
    load_model_and_tokenizer,
    model_kind,
    prepare_tokenizer,
)
from .npae import INIT_MODES, reinitialize_model
from .value_head import MLPHead, ValueHead

# METADATA_FILE and read_metadata live in .checkpoint; re-exported here for callers that
# import them from this module.
__all__ = [
    "DEFAULT_MAX_BATCH_TOKENS",
    "METADATA_FILE",
    "LLMPolicy",
    "PromptPass",
    "ScoreOutput",
    "read_metadata",
]

# Padded (prompt + action) token positions per forward. A (prompt, action) pair of the
# action pass holds a copy of its prompt's states, so this bounds activation/cache memory.
DEFAULT_MAX_BATCH_TOKENS = 16384


@dataclass
class PromptPass:
    """What :meth:`LLMPolicy.prompt_pass` computed for a minibatch of prompts."""

    first_logits: torch.Tensor  # [B, V] next-token logits at the decision point
    states: torch.Tensor | None  # [B, H] last-layer state there (if asked)
    cache: object | None  # key/value cache of the pass (if asked)
    encoder_states: torch.Tensor | None  # [B, L, H] encoder output (seq2seq only)


@dataclass
class ScoreOutput:
    """Result of a policy forward.

    ``scores[i, j]``: the policy's logit of action ``j`` for prompt ``i`` (for
    :class:`~.scoring.ActionScorer` the sum of the action tokens' log-probabilities).
    ``values[i]``: the value head's estimate for prompt ``i`` (``None`` if not asked).
    """

    scores: torch.Tensor
    values: torch.Tensor | None = None

    def log_probs(self) -> torch.Tensor:
        """log pi(a | prompt): log-softmax of the scores over actions."""
        return torch.log_softmax(self.scores, dim=-1)

    def probs(self) -> torch.Tensor:
        """pi(a | prompt): softmax of the scores over actions (MISSION A3)."""
        return torch.softmax(self.scores, dim=-1)

    def distribution(self) -> torch.distributions.Categorical:
        return torch.distributions.Categorical(logits=self.scores)


def _fast_ids(tokenizer, texts: list[str]) -> list[list[int]] | None:
    """Token ids straight from a fast tokenizer's Rust backend without offsets
    (``encode_batch_fast``: the same ids, ~20% less time than the ``__call__`` path for
    GLAM prompts), or ``None`` when that does not apply (slow tokenizer, older
    ``tokenizers``, or a backend with truncation/padding configured, which ``__call__``
    would switch off)."""
    backend = getattr(tokenizer, "_tokenizer", None)
    fast = getattr(backend, "encode_batch_fast", None)
    if fast is None or backend.truncation is not None or backend.padding is not None:
        return None
    return [encoding.ids for encoding in fast(texts, add_special_tokens=False)]


def _seeded(seed: int, factory: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


class LLMPolicy(torch.nn.Module):
    """Base class of the LLM policies; see the module docstring.

    Args:
        model: a Hugging Face seq2seq or causal LM.
        tokenizer: its tokenizer (a pad-less one gets EOS as pad, see :mod:`.loading`).
        value_head: ``True`` (new seeded :class:`ValueHead`), ``False`` (none) or a head.
        max_batch_tokens: padded token positions per forward (memory knob).
        seed: seeds the initialisation of new heads.
        unpadded_encoder: seq2seq only: run the encoder on groups of equal-length prompts
            without padding (``None``: only when the model is on the CPU). Results are
            the same; see :meth:`encode`.
    """

    policy_type: ClassVar[str] = "LLMPolicy"
    # Most padding a minibatch of padded prompts may carry, as a share of its longest
    # prompt (see plan_batches); settable per instance.
    max_padding_fraction: float = 0.25

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        value_head: bool | ValueHead = True,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        seed: int = 0,
        unpadded_encoder: bool | None = None,
    ):
        super().__init__()
        if isinstance(max_batch_tokens, bool) or not isinstance(max_batch_tokens, int):
            raise TypeError(f"max_batch_tokens must be an int, got {max_batch_tokens!r}")
        if max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be positive, got {max_batch_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.kind = model_kind(model.config)
        self.pad_is_eos = prepare_tokenizer(tokenizer)
        self.pad_token_id = int(tokenizer.pad_token_id)
        self.decoder_start_token_id = (
            decoder_start_token_id(model, tokenizer) if self.kind == "seq2seq" else None
        )
        self.hidden_size = int(model.config.get_text_config().hidden_size)
        self.max_batch_tokens = max_batch_tokens
        self.unpadded_encoder_option = unpadded_encoder
        self.seed = int(seed)
        if value_head is True:
            value_head = _seeded(self.seed, lambda: ValueHead(self.hidden_size))
        elif value_head is False or value_head is None:
            value_head = None
        elif not isinstance(value_head, ValueHead):
            raise TypeError(f"value_head must be a bool or a ValueHead, got {value_head!r}")
        elif value_head.in_features != self.hidden_size:
            raise ValueError(
                f"value head expects {value_head.in_features} features, "
                f"the model's hidden size is {self.hidden_size}"
            )
        self.value_head = value_head
        self._action_token_cache: dict[str, list[int]] = {}
        self._forward_params = frozenset(inspect.signature(model.forward).parameters)
        self.eval()

    # --- facts ----------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def unpadded_encoder(self) -> bool:
        """Whether :meth:`encode` avoids padding (see the constructor)."""
        if self.unpadded_encoder_option is not None:
            return bool(self.unpadded_encoder_option)
        return self.device.type == "cpu"

    def heads(self) -> dict[str, MLPHead]:
        """The heads saved with the checkpoint, by file stem."""
        return {"value_head": self.value_head} if self.value_head is not None else {}

    # --- tokenization and batching ------------------------------------------------------

    def tokenize_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        """Token ids of each prompt, no special tokens (A3)."""
        ids = _fast_ids(self.tokenizer, list(prompts))
        if ids is None:
            ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        for i, row in enumerate(ids):
            if not row:
                raise ScoringInputError(f"prompts[{i}] is empty after tokenization")
        return ids

    def tokenize_actions(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each action text, no special tokens (so no EOS is scored, A3)."""
        missing = [t for t in texts if t not in self._action_token_cache]
        if missing:
            # The action set is small and reused every step; cache its tokenization.
            if len(self._action_token_cache) > 65536:
                self._action_token_cache.clear()
            for text, row in zip(
                missing, self.tokenizer(missing, add_special_tokens=False)["input_ids"]
            ):
                if not row:
                    raise ScoringInputError(f"action {text!r} is empty after tokenization")
                self._action_token_cache[text] = list(row)
        return [self._action_token_cache[t] for t in texts]

    def plan_batches(
        self, lengths: Sequence[int], cost: Callable[[int], int], budget: int | None = None
    ) -> list[list[int]]:
        """Group item indices, longest first, so that ``len(group) * cost(longest)`` stays
        within ``budget`` (default ``max_batch_tokens``; a group always holds at least
        one item).

        When prompts are padded (decoder-only models, or a padded encoder), a group also
        only takes prompts at least ``1 - max_padding_fraction`` as long as its longest:
        on a CPU every padded position costs as much as a real one.
        """
        padded = self.kind == "causal" or not self.unpadded_encoder
        shortest_share = 1.0 - self.max_padding_fraction if padded else 0.0
        budget = self.max_batch_tokens if budget is None else min(budget, self.max_batch_tokens)
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        groups: list[list[int]] = []
        for i in order:
            if groups:
                longest = lengths[groups[-1][0]]
                fits = (len(groups[-1]) + 1) * cost(longest) <= budget
                if fits and lengths[i] >= shortest_share * longest:
                    groups[-1].append(i)
                    continue
            groups.append([i])
        return groups

    def _pad_prompts(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        # Decoder-only prompts are left-padded so every prompt ends at the last column
        # (its next-token logits and hidden state sit there); encoder inputs right-padded.
        side = "left" if self.kind == "causal" else "right"
        ids, mask = pad_rows(rows, self.pad_token_id, side)
        return ids.to(self.device), mask.to(self.device)

    # --- the prompt pass ----------------------------------------------------------------

    def prompt_pass(
        self, ids: torch.Tensor, mask: torch.Tensor, *, use_cache: bool, hidden: bool
    ) -> PromptPass:
        """One forward over a minibatch of padded prompts, up to the decision point.

        Decoder-only: the prompts themselves (left-padded); seq2seq: the encoder, then
        the decoder on its start token only. Returns the next-token logits there (the
        distribution of every action's first token), the last-layer state there (A3:
        what the heads read) when ``hidden``, and the cache when ``use_cache``.
        """
        if self.kind == "causal":
            # Left padding: positions count real tokens only, so a padded prompt sees the
            # same positions as unpadded (learned and rotary position embeddings).
            position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
            kwargs = {"logits_to_keep": 1} if self._accepts("logits_to_keep") else {}
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=position_ids,
                use_cache=use_cache,
                output_hidden_states=hidden,
                **kwargs,
            )
            states = out.hidden_states[-1][:, -1] if hidden else None
            cache = out.past_key_values if use_cache else None
            return PromptPass(out.logits[:, -1], states, cache, None)
        encoder_states = self.encode(ids, mask)
        start = torch.full((ids.shape[0], 1), self.decoder_start_token_id, device=ids.device)
        out = self.model(
            encoder_outputs=BaseModelOutput(last_hidden_state=encoder_states),
            attention_mask=mask,
            decoder_input_ids=start,
            use_cache=use_cache,
            output_hidden_states=hidden,
        )
        states = out.decoder_hidden_states[-1][:, 0] if hidden else None
        cache = out.past_key_values if use_cache else None
        return PromptPass(out.logits[:, 0], states, cache, encoder_states)

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encoder output ``[B, L, H]`` of right-padded prompts (seq2seq).

        With :attr:`unpadded_encoder`, prompts of equal length are encoded together
        without padding and the outputs zero-padded afterwards (the decoder masks those
        positions, so scores are unchanged). Why: with a padding mask, transformers' T5
        attention materialises a ``[B, heads, L, L]`` float mask (relative-position bias
        combined with padding) in every layer; without a mask the bias is broadcast.
        Measured on the 2-core CPU with the tiny T5: a padded encoder call on 8 prompts
        of ~300 tokens took 2.5x the CPU time of the same call without padding, and a
        whole 32-prompt scoring call ~15% more CPU time than with this option. On
        accelerators the batched padded call is usually faster, hence the default.
        """
        encoder = self.model.get_encoder()
        if not self.unpadded_encoder or bool(mask.all()):
            return encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        width = ids.shape[1]
        by_length: dict[int, list[int]] = {}
        for row, length in enumerate(mask.sum(-1).tolist()):
            by_length.setdefault(int(length), []).append(row)
        parts, order = [], []
        for length, rows in by_length.items():
            index = torch.as_tensor(rows, device=ids.device)
            states = encoder(input_ids=ids.index_select(0, index)[:, :length]).last_hidden_state
            parts.append(torch.nn.functional.pad(states, (0, 0, 0, width - length)))
            order.extend(rows)
        return unsort_rows(torch.cat(parts), order)

    def decision_states(self, prompts: Sequence[str]) -> torch.Tensor:
        """The hidden state the heads read for each prompt, ``[n_prompts, H]`` (A3):
        decoder position 0 (seq2seq) or the last prompt token (decoder-only)."""
        rows = self.tokenize_prompts(check_prompts(prompts))
        parts, order = [], []
        for group in self.plan_batches([len(r) for r in rows], lambda n: n):
            ids, mask = self._pad_prompts([rows[i] for i in group])
            parts.append(self.prompt_pass(ids, mask, use_cache=False, hidden=True).states)
            order.extend(group)
        return unsort_rows(torch.cat(parts), order)

    def _accepts(self, name: str) -> bool:
        """Whether the model's forward takes keyword ``name`` (e.g. ``logits_to_keep``)."""
        return name in self._forward_params

    # --- acting (eval mode, no graph) -----------------------------------------------------

    @contextlib.contextmanager
    def acting(self) -> Iterator[None]:
        """Eval mode under ``torch.no_grad()``; the previous mode is restored."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            if was_training:
                self.train()

    def predict(self, prompts, actions=None, *, with_value: bool = True) -> ScoreOutput:
        """``forward`` for acting: scores (and values) without a graph, in eval mode."""
        with self.acting():
            return self(prompts, actions, with_value=with_value)

    def score(self, prompts, actions=None) -> torch.Tensor:
        """Action scores ``[n_prompts, n_actions]`` for acting (eval mode, no graph)."""
        return self.predict(prompts, actions, with_value=False).scores

    def policy(self, prompts, actions=None) -> torch.Tensor:
        """pi(a | prompt) = softmax of :meth:`score` over actions."""
        return torch.softmax(self.score(prompts, actions), dim=-1)

    def value(self, prompts: Sequence[str]) -> torch.Tensor:
        """Value estimates ``[n_prompts]`` for acting (e.g. bootstrapping cut episodes)."""
        if self.value_head is None:
            raise RuntimeError("this policy has no value head (created with value_head=False)")
        with self.acting():
            return self.value_head(self.decision_states(prompts))

    # --- checkpoints ------------------------------------------------------------------

    def metadata(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "policy": self.policy_type,
            "kind": self.kind,
            "hidden_size": self.hidden_size,
            "heads": {name: head.spec() for name, head in self.heads().items()},
            "max_batch_tokens": self.max_batch_tokens,
        }

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write model, tokenizer, heads and metadata to ``directory`` (atomically)."""
        directory = Path(directory)
        with atomic_directory(directory, replace=True) as tmp:
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            for name, head in self.heads().items():
                head.save(tmp / f"{name}.safetensors")
            (tmp / METADATA_FILE).write_text(json.dumps(self.metadata(), indent=2) + "\n")
        return directory

    @classmethod
    def from_pretrained(
        cls,
        name_or_dir: str | os.PathLike,
        *,
        value_head: bool = True,
        init: str = "pretrained",
        seed: int = 0,
        max_batch_tokens: int | None = None,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        cache_dir: str | os.PathLike | None = None,
        **policy_kwargs,
    ):
        """Load a policy from a checkpoint, a model directory, a hub id or a special name.

        Args:
            value_head: build a value head; it is loaded from ``value_head.safetensors``
                when the directory has one, otherwise initialised from ``seed``.
            init: ``"pretrained"`` (as loaded), ``"npae"`` (all weights re-initialised
                but the token embeddings) or ``"random"`` (everything re-initialised).
            seed: seeds re-initialisation and new heads.
            max_batch_tokens: batching knob (default: the checkpoint's, else 16384).
            dtype, device, cache_dir: see :func:`~.loading.load_model_and_tokenizer`.
            **policy_kwargs: extra constructor arguments of the subclass.
        """
        if init not in INIT_MODES:
            raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INIT_MODES)}")
        loaded = load_model_and_tokenizer(
            name_or_dir, dtype=dtype, device=device, cache_dir=cache_dir
        )
        meta = read_metadata(loaded.source) if Path(loaded.source).is_dir() else None
        if meta is not None and meta.get("hidden_size") not in (
            None,
            int(loaded.model.config.get_text_config().hidden_size),
        ):
            raise CheckpointError(
                f"{loaded.source}: metadata hidden size {meta['hidden_size']} does not match "
                "the model's"
            )
        if init != "pretrained":
            reinitialize_model(loaded.model, keep_embeddings=init == "npae", seed=seed)
        if max_batch_tokens is None:
            max_batch_tokens = int((meta or {}).get("max_batch_tokens", DEFAULT_MAX_BATCH_TOKENS))
        policy = cls._from_loaded(
            loaded,
            meta or {},
            value_head=value_head,
            seed=seed,
            max_batch_tokens=max_batch_tokens,
            **policy_kwargs,
        )
        policy._load_heads(Path(loaded.source), meta or {})
        if device is not None:
            policy.to(device)
        return policy

    @classmethod
    def _from_loaded(cls, loaded: LoadedModel, meta: dict, **kwargs):
        return cls(loaded.model, loaded.tokenizer, **kwargs)

    def _load_heads(self, directory: Path, meta: dict) -> None:
        saved = meta.get("heads", {})
        for name, head in self.heads().items():
            path = directory / f"{name}.safetensors"
            if not path.is_file():
                continue
            if name in saved and saved[name] != head.spec():
                raise CheckpointError(
                    f"{path}: saved head {saved[name]} does not match the requested {head.spec()}"
                )
            head.load(path)

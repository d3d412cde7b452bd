"""Finding and loading the LLM policy a learner or an evaluation uses (MISSION A3).

A "model" argument may be any of:

* a model name or directory understood by :mod:`grounded_core.llm` (``tiny-t5``,
  ``smollm2-135m-instruct``, a Hugging Face directory or id);
* a policy directory written by ``save_pretrained`` (it has ``grounded_policy.json``,
  which says whether it is an :class:`~grounded_core.llm.ActionScorer` or an
  :class:`~grounded_core.llm.ActionHeadPolicy`);
* a GLAM training checkpoint (``.../checkpoints/update_00000012``, its policy is in
  ``policy/``) or a whole run directory (its latest checkpoint is used).

Dropout: GLAM's policies act in eval mode; during PPO/BC updates the model is in train
mode, so a dropout layer is active there. ``dropout`` (``>= 0``) sets the probability of
every dropout layer -- e.g. 0 for the tiny T5 trained from scratch, whose config carries
0.1 -- and ``< 0`` keeps the model's own.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..data import LATEST_FILE, MANIFEST_FILE, CheckpointManager
from ..llm import ActionHeadPolicy, ActionScorer, LLMPolicy
from ..llm.backbone import METADATA_FILE, read_metadata

__all__ = [
    "POLICY_CLASSES",
    "action_candidates",
    "load_policy",
    "resolve_policy_source",
    "scale_output_layer",
    "set_dropout",
]

POLICY_CLASSES: dict[str, type[LLMPolicy]] = {
    "scorer": ActionScorer,
    "action_heads": ActionHeadPolicy,
}
_BY_TYPE_NAME = {cls.policy_type: key for key, cls in POLICY_CLASSES.items()}
CHECKPOINTS_SUBDIR = "checkpoints"
POLICY_SUBDIR = "policy"


def resolve_policy_source(name_or_dir: str | os.PathLike) -> str:
    """Map a run directory or training checkpoint to its policy directory.

    Anything else (model names, model/policy directories, hub ids) is returned as is.
    """
    path = Path(name_or_dir).expanduser()
    if not path.is_dir():
        return os.fspath(name_or_dir)
    if (path / METADATA_FILE).is_file() or (path / "config.json").is_file():
        return str(path)
    if (path / MANIFEST_FILE).is_file() and (path / POLICY_SUBDIR).is_dir():
        return str(path / POLICY_SUBDIR)
    for root in (path / CHECKPOINTS_SUBDIR, path):
        if (root / LATEST_FILE).is_file() or any(root.glob("update_*")):
            latest = CheckpointManager(root).latest()
            if latest is not None:
                return str(latest / POLICY_SUBDIR)
    return str(path)


def _dtype(name: str | None) -> torch.dtype | None:
    if name in (None, "", "auto"):
        return None
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}")
    return dtype


def load_policy(
    name_or_dir: str | os.PathLike,
    *,
    policy: str = "auto",
    init: str = "pretrained",
    seed: int = 0,
    device: str | None = None,
    dtype: str | None = None,
    max_batch_tokens: int | None = None,
    dropout: float = -1.0,
    value_head: bool = True,
) -> LLMPolicy:
    """Load a policy (see the module docstring); ``policy="auto"`` reads the saved type
    and defaults to GLAM's :class:`ActionScorer`."""
    source = resolve_policy_source(name_or_dir)
    if policy == "auto":
        meta = read_metadata(source) if Path(source).is_dir() else None
        saved = (meta or {}).get("policy")
        policy = _BY_TYPE_NAME.get(saved, "scorer")
    if policy not in POLICY_CLASSES:
        raise ValueError(
            f"unknown policy type {policy!r}; allowed: auto, {', '.join(POLICY_CLASSES)}"
        )
    loaded = POLICY_CLASSES[policy].from_pretrained(
        source,
        value_head=value_head,
        init=init,
        seed=seed,
        max_batch_tokens=max_batch_tokens or None,
        dtype=_dtype(dtype),
        device=device,
    )
    set_dropout(loaded, dropout)
    return loaded


# Attention modules that apply dropout functionally keep the probability in a float
# attribute: T5Attention.dropout, Llama/SmolLM attention_dropout.
_DROPOUT_ATTRIBUTES = ("dropout", "attention_dropout")


def set_dropout(module: torch.nn.Module, probability: float) -> int:
    """Set the probability of every dropout in ``module`` (``probability < 0``: leave
    them); returns how many were changed.

    That is every dropout layer's ``p`` and the float dropout attributes of attention
    modules that call ``nn.functional.dropout`` themselves (T5's attention weights,
    Llama's ``attention_dropout``) -- with layers alone, T5 would keep dropping 10% of
    its attention weights in train mode.
    """
    if probability < 0:
        return 0
    if probability >= 1:
        raise ValueError(f"dropout must be < 1, got {probability}")
    changed = 0
    for layer in module.modules():
        if isinstance(layer, torch.nn.modules.dropout._DropoutNd):
            layer.p = float(probability)
            changed += 1
            continue
        for name in _DROPOUT_ATTRIBUTES:
            value = getattr(layer, name, None)
            if isinstance(value, float) and not isinstance(value, bool):
                setattr(layer, name, float(probability))
                changed += 1
    return changed


_FINAL_NORMS = ("final_layer_norm", "norm", "ln_f")


def scale_output_layer(policy: LLMPolicy, factor: float) -> str | None:
    """Scale the token logits of a freshly initialised model by ``factor``, in place.

    Why: a randomly initialised model (the tiny T5 trained from scratch) has token
    logits of standard deviation ~sqrt(d_model), so the summed action log-probs of the
    candidates differ by tens of nats and the softmax over actions is one-hot: PPO
    cannot explore and Adam's first steps swing the policy from one deterministic
    action to another. Starting from small logits (``factor`` ~0.01, like the small-std
    policy-output initialisation of standard PPO implementations) gives near-uniform
    token distributions instead.

    How: the LM head is tied to the input embeddings in these models (transformers
    always ties T5's), so it cannot be scaled alone; the weights of the final
    normalisation that feeds it (T5 ``final_layer_norm``, Llama ``norm``, GPT-2
    ``ln_f``) are scaled instead. The policy's heads (value head, action head) read the
    same hidden state, so the first layer of each is divided by ``factor``: they compute
    exactly the same function as before, only the token logits shrink. Returns the
    scaled module's name (``None`` when ``factor`` is 1).
    """
    if factor == 1.0:
        return None
    if not factor > 0:
        raise ValueError(f"output scale must be > 0, got {factor!r}")
    model = policy.model
    owner = model.get_decoder() if hasattr(model, "get_decoder") else None
    for holder in (owner, getattr(model, "transformer", None), getattr(model, "model", None)):
        if holder is None:
            continue
        for name in _FINAL_NORMS:
            norm = getattr(holder, name, None)
            if isinstance(norm, torch.nn.Module) and getattr(norm, "weight", None) is not None:
                with torch.no_grad():
                    norm.weight.mul_(factor)
                    if getattr(norm, "bias", None) is not None:
                        norm.bias.mul_(factor)
                    for head in policy.heads().values():
                        first = head.net[0]
                        if not isinstance(first, torch.nn.Linear):
                            raise ValueError(f"unexpected head layout {head.net}")
                        first.weight.div_(factor)
                return f"{type(holder).__name__}.{name}"
    raise ValueError(
        f"cannot find the final normalisation of {type(model).__name__} "
        f"(looked for {', '.join(_FINAL_NORMS)}); use model.output_scale=1"
    )


def action_candidates(policy: LLMPolicy, action_space: list[str]) -> list[str] | None:
    """What to pass as ``actions`` to the policy: the env's action texts for a scorer,
    ``None`` for action heads (they output one logit per fixed action, index = id)."""
    if isinstance(policy, ActionHeadPolicy):
        if len(policy.action_names) != len(action_space):
            raise ValueError(
                f"the action heads output {len(policy.action_names)} actions, the env has "
                f"{len(action_space)}"
            )
        return None
    return list(action_space)

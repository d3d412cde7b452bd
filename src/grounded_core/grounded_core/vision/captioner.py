"""The captioner: per-caption calibrated scores and detections for camera frames.

Score (MISSION B2 judges each caption independently, not by argmax):

    cos(i, t)   = <img_emb(i), txt_emb(t)> / (|img_emb| |txt_emb|)      in [-1, 1]
    score(i, t) = sigmoid(s * cos(i, t) + b)                              in [0, 1]

with ``s = exp(logit_scale)`` and ``b = logit_bias`` learned by the pairwise sigmoid
(SigLIP-style) loss during in-domain training, so the score is the model's probability
that the caption holds. A caption is detected when its score reaches its threshold
(gamma = 0.8 in the paper; per-caption calibrated thresholds are stored in the
checkpoint). How this maps to the paper's "similarity exceeds 0.8": score >= gamma is
exactly cos >= (logit(gamma) - b) / s, the equivalent cosine threshold reported by
:meth:`Captioner.cosine_thresholds` (the paper's 0.8 is a threshold on a similarity
of its own fine-tuned CLIP; a raw cosine of an un-fine-tuned CLIP is ~0.2-0.35 for
everything, which is why the paper found off-the-shelf scores uninformative).
The raw cosine stays available (:meth:`Captioner.cosine`); ``score_mode="cosine"``
makes ``score``/``detect`` use it directly (for a pretrained CLIP without a learned
bias, where gamma applies to the cosine as in the paper).

Cameras: a state seen by several cameras gives one score per frame; a state's score is
the fusion of its frames' scores (``fuse_scores``: mean by default, also max/min).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .config import DEFAULT_GAMMA, FUSIONS
from .models import DEFAULT_ARCH, ImagePreprocessor, ModelLoadError

__all__ = ["SCORE_MODES", "Captioner", "fuse_scores"]

SCORE_MODES = ("sigmoid", "cosine")


def fuse_scores(scores: np.ndarray, fusion: str = "mean", axis: int = 0) -> np.ndarray:
    """Combine per-camera scores of the same state(s) along ``axis``."""
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    scores = np.asarray(scores)
    if fusion == "mean":
        return scores.mean(axis=axis)
    if fusion == "max":
        return scores.max(axis=axis)
    if fusion == "min":
        return scores.min(axis=axis)
    # "none": keep the first camera only (a single-camera deployment)
    return np.take(scores, 0, axis=axis)


def _logit(p: float) -> float:
    return float(np.log(p) - np.log1p(-p))


class Captioner:
    """Scores captions on RGB frames with an open_clip model.

    Args:
        model: an open_clip CLIP/CustomTextCLIP (``encode_image``/``encode_text``).
        tokenizer: its tokenizer.
        captions: the caption set (order of the score columns).
        thresholds: per-caption thresholds (same order), default gamma for all.
        score_mode: "sigmoid" (calibrated probability) or "cosine" (raw similarity).
        fusion: how :meth:`score_views` combines cameras.
        gamma: threshold for captions without a calibrated threshold.
        batch_size: frames per forward pass.
        metadata: what the checkpoint says about this model (manifest).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        captions: Sequence[str],
        thresholds: Sequence[float] | Mapping[str, float] | None = None,
        *,
        score_mode: str = "sigmoid",
        fusion: str = "mean",
        gamma: float = DEFAULT_GAMMA,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        metadata: dict | None = None,
    ):
        if score_mode not in SCORE_MODES:
            raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {score_mode!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if not captions:
            raise ValueError("captions must not be empty")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.preprocess = ImagePreprocessor.for_model(model)
        self.score_mode = score_mode
        self.fusion = fusion
        self.gamma = float(gamma)
        self.batch_size = batch_size
        self.metadata = dict(metadata or {})
        self._captions = list(captions)
        self._thresholds: dict[str, float] = {}
        self._text_cache: dict[str, torch.Tensor] = {}
        self.set_thresholds(thresholds)

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        *,
        pretrained: str | None = None,
        captions: Sequence[str] | None = None,
        thresholds: Sequence[float] | Mapping[str, float] | None = None,
        score_mode: str | None = None,
        fusion: str | None = None,
        device: str = "cpu",
        allow_download: bool = False,
        **kwargs,
    ) -> Captioner:
        """Load a trained captioner or build one from an open_clip architecture.

        ``name_or_path``:

        * a checkpoint folder written by training (``manifest.json`` inside), or a run
          folder / checkpoint root (its latest checkpoint is used);
        * ``"default"``: the cached default captioner (trained on first use, see
          :func:`~grounded_core.vision.default.default_captioner`);
        * an architecture name: a project one (``grounded-clip-tiny``, random init) or a
          built-in open_clip one (``ViT-B-32``) with ``pretrained`` = a local weights
          file (or a tag with ``allow_download=True``). An untrained CLIP has no learned
          bias, so it scores in ``"cosine"`` mode unless told otherwise.
        """
        from .checkpoint import find_checkpoint, load_checkpoint_model

        if str(name_or_path) == "default":
            from .default import default_captioner

            return default_captioner(device=device)
        path = Path(name_or_path).expanduser()
        if path.exists():
            checkpoint = find_checkpoint(path)
            model, tokenizer, manifest = load_checkpoint_model(checkpoint)
            info = manifest.get("captioner", {})
            stored_captions = info.get("captions") or []
            stored = dict(zip(stored_captions, info.get("thresholds") or []))
            if thresholds is None:
                thresholds = stored
            return cls(
                model,
                tokenizer,
                captions or stored_captions,
                thresholds,
                score_mode=score_mode or info.get("score_mode", "sigmoid"),
                fusion=fusion or info.get("fusion", "mean"),
                gamma=info.get("gamma", DEFAULT_GAMMA),
                device=device,
                metadata={**manifest, "checkpoint": str(checkpoint)},
                **kwargs,
            )
        if str(name_or_path).endswith((".pt", ".pth", ".bin", ".safetensors")):
            raise ModelLoadError(f"{name_or_path}: no such checkpoint file or folder")
        from .config import default_captions
        from .models import create_model

        model, tokenizer, model_cfg = create_model(
            str(name_or_path), pretrained, allow_download=allow_download
        )
        if score_mode is None:
            # A learned bias exists only for SigLIP-style models; a softmax-trained CLIP's
            # sigmoid(s * cos) is not a probability, so gamma applies to the cosine.
            score_mode = "sigmoid" if getattr(model, "logit_bias", None) is not None else "cosine"
        return cls(
            model,
            tokenizer,
            captions or default_captions(),
            thresholds,
            score_mode=score_mode,
            fusion=fusion or "mean",
            device=device,
            metadata={"arch": str(name_or_path), "pretrained": pretrained, "model_cfg": model_cfg},
            **kwargs,
        )

    # ------------------------------------------------------------------ captions

    @property
    def captions(self) -> list[str]:
        return list(self._captions)

    @captions.setter
    def captions(self, captions: Sequence[str]) -> None:
        if not captions:
            raise ValueError("captions must not be empty")
        self._captions = list(captions)

    @property
    def thresholds(self) -> np.ndarray:
        """Threshold of each caption of :attr:`captions` (gamma where none is stored)."""
        return np.array([self._thresholds.get(c, self.gamma) for c in self._captions])

    def thresholds_for(self, captions: Sequence[str] | None = None) -> np.ndarray:
        """Thresholds of any captions: calibrated ones where known (also captions outside
        :attr:`captions` that the checkpoint calibrated), gamma for the others."""
        return self._threshold_vector(captions)

    def threshold_map(self) -> dict[str, float]:
        return {c: float(t) for c, t in zip(self._captions, self.thresholds)}

    def set_thresholds(
        self, thresholds: Sequence[float] | Mapping[str, float] | float | None
    ) -> None:
        """Per-caption thresholds (mapping or sequence in caption order), a float for all
        captions, or ``None`` to fall back to gamma."""
        if thresholds is None:
            self._thresholds = {}
            return
        if isinstance(thresholds, (int, float)):
            self._thresholds = dict.fromkeys(self._captions, float(thresholds))
            return
        if isinstance(thresholds, Mapping):
            self._thresholds = {str(k): float(v) for k, v in thresholds.items()}
            return
        values = [float(v) for v in thresholds]
        if len(values) != len(self._captions):
            raise ValueError(f"{len(values)} thresholds for {len(self._captions)} captions")
        self._thresholds = dict(zip(self._captions, values))

    def cosine_thresholds(self, captions: Sequence[str] | None = None) -> np.ndarray:
        """Each caption's threshold expressed on the raw cosine (score >= t <=> cos >= this)."""
        captions = list(captions or self._captions)
        thresholds = np.array([self._thresholds.get(c, self.gamma) for c in captions])
        if self.score_mode == "cosine":
            return thresholds
        scale, bias = self.logit_scale_bias()
        return np.array([(_logit(t) - bias) / scale for t in thresholds])

    def logit_scale_bias(self) -> tuple[float, float]:
        """``(s, b)`` of the calibrated score ``sigmoid(s * cos + b)``."""
        scale = float(self.model.logit_scale.detach().exp().reshape(-1)[0])
        bias_param = getattr(self.model, "logit_bias", None)
        bias = float(bias_param.detach().reshape(-1)[0]) if bias_param is not None else 0.0
        return scale, bias

    # ------------------------------------------------------------------ embeddings

    @torch.no_grad()
    def text_features(self, captions: Sequence[str] | None = None) -> torch.Tensor:
        """Normalised text embeddings ``[C, D]`` (cached per caption text)."""
        captions = list(captions or self._captions)
        missing = [c for c in captions if c not in self._text_cache]
        if missing:
            tokens = self.tokenizer(missing).to(self.device)
            features = self.model.encode_text(tokens, normalize=True).float().cpu()
            self._text_cache.update(zip(missing, features))
        return torch.stack([self._text_cache[c] for c in captions])

    def clear_text_cache(self) -> None:
        self._text_cache.clear()

    @torch.no_grad()
    def image_features(self, images: np.ndarray, progress: bool = False) -> torch.Tensor:
        """Normalised image embeddings ``[N, D]`` for uint8 ``[N, H, W, 3]`` RGB frames."""
        images = _as_batch(images)
        chunks = []
        starts = range(0, len(images), self.batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="captioner", unit="batch")
        for start in starts:
            x = self.preprocess(images[start : start + self.batch_size]).to(self.device)
            chunks.append(self.model.encode_image(x, normalize=True).float().cpu())
        if not chunks:
            return torch.zeros((0, self.text_features().shape[1]))
        return torch.cat(chunks)

    # ------------------------------------------------------------------ scoring

    def cosine(
        self, images: np.ndarray, captions: Sequence[str] | None = None, progress: bool = False
    ) -> np.ndarray:
        """Raw cosine similarities ``[N, C]``."""
        text = self.text_features(captions)
        return (self.image_features(images, progress) @ text.T).numpy()

    def scores_from_cosine(self, cosine: np.ndarray) -> np.ndarray:
        if self.score_mode == "cosine":
            return np.asarray(cosine, dtype=np.float32)
        scale, bias = self.logit_scale_bias()
        return (1.0 / (1.0 + np.exp(-(scale * np.asarray(cosine) + bias)))).astype(np.float32)

    def score(
        self, images: np.ndarray, captions: Sequence[str] | None = None, progress: bool = False
    ) -> np.ndarray:
        """Calibrated scores ``[N, C]`` in [0, 1] (batch API for stored frames).

        ``images``: uint8 ``[N, H, W, 3]`` (or one ``[H, W, 3]`` frame). Frames are
        processed ``batch_size`` at a time, so N may be a whole episode buffer.
        """
        return self.scores_from_cosine(self.cosine(images, captions, progress))

    def detect(self, images: np.ndarray, captions: Sequence[str] | None = None) -> np.ndarray:
        """bool ``[N, C]``: score >= the caption's threshold (each caption independently)."""
        scores = self.score(images, captions)
        return scores >= self._threshold_vector(captions)

    def _threshold_vector(self, captions: Sequence[str] | None) -> np.ndarray:
        captions = list(captions or self._captions)
        return np.array([self._thresholds.get(c, self.gamma) for c in captions])

    def score_views(
        self,
        views: Mapping[str, np.ndarray] | Sequence[np.ndarray] | np.ndarray,
        captions: Sequence[str] | None = None,
        fusion: str | None = None,
    ) -> np.ndarray:
        """Fused scores ``[N, C]`` of N states seen by several cameras.

        ``views``: camera -> uint8 ``[N, H, W, 3]``, a list of such arrays, or an array
        ``[N, V, H, W, 3]``. The cameras' scores are fused (mean/max/min).
        """
        stacked = _stack_views(views)
        n, v = stacked.shape[:2]
        flat = stacked.reshape(n * v, *stacked.shape[2:])
        scores = self.score(flat, captions).reshape(n, v, -1)
        return fuse_scores(scores, fusion or self.fusion, axis=1)

    def detect_views(
        self, views, captions: Sequence[str] | None = None, fusion: str | None = None
    ) -> np.ndarray:
        scores = self.score_views(views, captions, fusion)
        return scores >= self._threshold_vector(captions)

    def first_detections(
        self, views, captions: Sequence[str] | None = None
    ) -> dict[str, int | None]:
        """Hindsight relabelling of one stored episode (MISSION B5).

        ``views``: the episode's frames, ``[T, H, W, 3]`` for one camera or camera ->
        ``[T, H, W, 3]`` (fused). Returns caption -> the first step at which it is
        detected (``None`` if never), so a trajectory can be cut there and labelled.
        """
        captions = list(captions or self._captions)
        multi = isinstance(views, Mapping) or (
            isinstance(views, (list, tuple)) or (isinstance(views, np.ndarray) and views.ndim == 5)
        )
        detected = self.detect_views(views, captions) if multi else self.detect(views, captions)
        out: dict[str, int | None] = {}
        for j, caption in enumerate(captions):
            hits = np.flatnonzero(detected[:, j])
            out[caption] = int(hits[0]) if len(hits) else None
        return out

    def caption(self, images, captions: Sequence[str] | None = None) -> list[list[str]]:
        """The detected captions of each frame (or of each state for multi-view input)."""
        captions = list(captions or self._captions)
        multi = isinstance(images, Mapping) or (isinstance(images, np.ndarray) and images.ndim == 5)
        detected = self.detect_views(images, captions) if multi else self.detect(images, captions)
        return [[c for c, d in zip(captions, row) if d] for row in detected]

    def __repr__(self) -> str:
        arch = self.metadata.get("captioner", {}).get("arch") or self.metadata.get(
            "arch", DEFAULT_ARCH
        )
        return (
            f"Captioner(arch={arch!r}, captions={len(self._captions)}, "
            f"score_mode={self.score_mode!r}, fusion={self.fusion!r})"
        )


def _as_batch(images) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3] RGB, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    return images


def _stack_views(views) -> np.ndarray:
    if isinstance(views, Mapping):
        if not views:
            raise ValueError("no camera views given")
        arrays = [_as_batch(views[k]) for k in sorted(views)]
    elif isinstance(views, np.ndarray) and views.ndim == 5:
        return views
    else:
        arrays = [_as_batch(v) for v in views]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"camera views differ in shape: {[a.shape for a in arrays]}")
    return np.stack(arrays, axis=1)

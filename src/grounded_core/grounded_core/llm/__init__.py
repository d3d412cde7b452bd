"""The LLM side of GLAM: loading models, scoring actions, value and action heads.

ROS-free (never imports rclpy). MISSION A3. Public API:

* :func:`load_model_and_tokenizer` -- any seq2seq or decoder-only model by special
  name (:data:`SPECIAL_MODELS`: ``"tiny-t5"``, ``"tiny-llama"``, ``"tiny-gpt2"``,
  ``"smollm2-135m-instruct"``), local directory or Hugging Face id, in eval mode.
* :class:`ActionScorer` -- GLAM's policy: sum of the action tokens' log-probabilities
  given the prompt, softmax over actions; the encoder output (seq2seq) or the KV cache
  (decoder-only) of a prompt is reused for all its actions. ``forward(prompts, actions,
  with_value=True)`` -> :class:`ScoreOutput` with the graph (PPO); ``score`` /
  ``predict`` / ``policy`` / ``value`` for acting (eval mode, no graph);
  ``save_pretrained`` / ``from_pretrained`` round trip including the heads.
* :func:`naive_score` -- the reference: one full forward per (prompt, action) pair.
* :class:`ValueHead` / :class:`MLPHead` -- hidden -> 1024 -> 1024 -> out, sigmoids, fp32.
* :class:`ActionHeadPolicy` -- the action-heads baseline; ``init="npae"`` in any
  ``from_pretrained`` gives the NPAE baseline (:func:`reinitialize_model`).
* :func:`build_tiny_t5` / :func:`tiny_t5_dir` (and the causal versions) -- embedded
  tiny models with the BabyAI-Text word tokenizer (:func:`build_word_tokenizer`).
* :func:`collect_prompts` -- real GLAM prompts from random BabyAI-Text episodes.
"""

from .backbone import DEFAULT_MAX_BATCH_TOKENS, LLMPolicy, ScoreOutput
from .cache import CACHE_ENV, atomic_directory, default_cache_dir
from .checkpoint import METADATA_FILE, read_metadata
from .errors import CheckpointError, LLMError, ModelNotFoundError, ScoringInputError
from .loading import (
    MODEL_KINDS,
    SMOLLM2_NAME,
    SPECIAL_MODELS,
    LoadedModel,
    load_model_and_tokenizer,
    smollm2_dir,
)
from .npae import INIT_MODES, reinitialize_model
from .prompts import collect_prompts
from .scoring import ActionScorer, naive_score
from .tiny_models import build_tiny_causal_lm, build_tiny_t5, tiny_causal_dir, tiny_t5_dir
from .tokenizer_vocab import build_word_tokenizer, vocabulary
from .value_head import MLPHead, ValueHead
from .variants import ActionHeadPolicy

__all__ = [
    "CACHE_ENV",
    "DEFAULT_MAX_BATCH_TOKENS",
    "INIT_MODES",
    "METADATA_FILE",
    "MODEL_KINDS",
    "SMOLLM2_NAME",
    "SPECIAL_MODELS",
    "ActionHeadPolicy",
    "ActionScorer",
    "CheckpointError",
    "LLMError",
    "LLMPolicy",
    "LoadedModel",
    "MLPHead",
    "ModelNotFoundError",
    "ScoreOutput",
    "ScoringInputError",
    "ValueHead",
    "atomic_directory",
    "build_tiny_causal_lm",
    "build_tiny_t5",
    "build_word_tokenizer",
    "collect_prompts",
    "default_cache_dir",
    "load_model_and_tokenizer",
    "naive_score",
    "read_metadata",
    "reinitialize_model",
    "smollm2_dir",
    "tiny_causal_dir",
    "tiny_t5_dir",
    "vocabulary",
]

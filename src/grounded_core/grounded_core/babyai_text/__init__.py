"""BabyAI-Text: the text version of BabyAI that GLAM trains on (MISSION A1, A2).

ROS-free. Public API:

* :func:`describe_view` -- the A1 sentences for a 7x7x3 minigrid view.
* :class:`BabyAITextEnv` / :func:`make_env` -- one text environment; :data:`LEVELS`.
* :class:`VectorBabyAITextEnv` -- N envs stepped together with auto-reset.
* :data:`VARIANTS` / :func:`get_variant` -- generalisation variants (Fig. 4).
* :func:`build_prompt` / :class:`PromptHistory` -- GLAM's prompt, byte for byte (A2).
* :func:`run_expert` / :func:`expert_dataset` -- BabyAI-bot trajectories and datasets.
* :data:`ACTIONS` -- the six action texts, index == minigrid action id.
"""

from .actions import parse_action
from .describe import describe_view
from .env import BabyAITextEnv, TextObservation, make_env
from .errors import (
    BabyAITextError,
    EpisodeFinishedError,
    ExpertFailedError,
    UnknownActionError,
    UnknownLevelError,
    UnknownTaskKindError,
    UnknownVariantError,
)
from .expert import ExpertTrajectory, expert_dataset, run_expert, write_jsonl
from .french import translate_mission
from .levels import LEVELS, MIXED_TASK_KINDS, LevelSpec, resolve_level_name
from .prompt import PromptHistory, build_prompt
from .variants import VARIANTS, Variant, get_variant
from .vector_env import EpisodeStats, VectorBabyAITextEnv
from .vocab import ACTIONS, FRENCH_ACTIONS, SYNONYM_ACTIONS

__all__ = [
    "ACTIONS",
    "FRENCH_ACTIONS",
    "LEVELS",
    "MIXED_TASK_KINDS",
    "SYNONYM_ACTIONS",
    "VARIANTS",
    "BabyAITextEnv",
    "BabyAITextError",
    "EpisodeFinishedError",
    "EpisodeStats",
    "ExpertFailedError",
    "ExpertTrajectory",
    "LevelSpec",
    "PromptHistory",
    "TextObservation",
    "UnknownActionError",
    "UnknownLevelError",
    "UnknownTaskKindError",
    "UnknownVariantError",
    "Variant",
    "VectorBabyAITextEnv",
    "build_prompt",
    "describe_view",
    "expert_dataset",
    "get_variant",
    "make_env",
    "parse_action",
    "resolve_level_name",
    "run_expert",
    "translate_mission",
    "write_jsonl",
]

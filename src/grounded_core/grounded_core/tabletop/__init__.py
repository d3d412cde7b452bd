"""Tabletop arm world of grounded_agent (MISSION B1), ROS-free.

A Franka Panda over a table with a red, a green and a blue cube in a private
pybullet simulation, described by YAML files in ``sim_worlds/``. The action
space is the paper's pick/place primitive at an (x, y) workspace location;
tasks are "grasp the red object", "stack X on Y" (6 ordered pairs) and "stack
all three objects" with a sparse +1 reward; the 9 captions of MISSION B2 are
labelled from simulator state. The ROS node ``tabletop_sim`` wraps this API.

Modules (one job each):

==================  ==========================================================
world_config        YAML world files -> validated dataclasses
world               ``TabletopWorld``: load, reset(seed, layout), act, state, render
primitives          IK motion, gripper, pick/place (``PrimitiveResult``)
state               ``WorldState``/``ObjectState`` snapshots
predicates          grasping / on-top relations from state
tasks               task registry, success, instructions, reference plans
captions            the 9 captions and their truth from state
cameras             RGB/depth/segmentation rendering, intrinsics K, camera pose
expert              ``ScriptedExpert`` for every task
random_policy       ``RandomPolicy`` (uniform x, y)
gym_env             ``TabletopEnv`` (gymnasium)
dataset             labelled frames for the captioner (CLI with progress bar)
errors              exception types (all ``ValueError`` subclasses for bad input)
==================  ==========================================================
"""

from . import _quiet  # noqa: F401  (first: hides pybullet's import-time banner)
from .cameras import Camera, CameraFrame
from .captions import (
    Caption,
    caption_holds,
    caption_list,
    caption_truth,
    grasp_caption,
    on_top_caption,
    parse_caption,
    true_captions,
)
from .errors import (
    InvalidActionError,
    InvalidLayoutError,
    TabletopError,
    UnknownTaskError,
    WorldConfigError,
)
from .expert import ScriptedExpert, SymbolicAction
from .gym_env import ENV_ID, TabletopEnv, register_gym_envs
from .predicates import held_object, is_grasping, is_on_top, on_top_pairs, tower_of_all
from .primitives import PrimitiveResult
from .random_policy import RandomPolicy
from .state import ObjectState, WorldState
from .tasks import Task, build_tasks, get_task, task_names
from .world import Layout, TabletopWorld
from .world_config import (
    DEFAULT_WORLD,
    WorldConfig,
    load_world_config,
    parse_world_config,
    resolve_world_path,
)

# dataset.py is also run as ``python -m grounded_core.tabletop.dataset``; importing
# it here eagerly would make runpy warn about a module imported twice, so its
# names are loaded on first use.
_LAZY = {"DatasetSummary": "dataset", "generate_dataset": "dataset"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_WORLD",
    "ENV_ID",
    "Camera",
    "CameraFrame",
    "Caption",
    "DatasetSummary",
    "InvalidActionError",
    "InvalidLayoutError",
    "Layout",
    "ObjectState",
    "PrimitiveResult",
    "RandomPolicy",
    "ScriptedExpert",
    "SymbolicAction",
    "TabletopEnv",
    "TabletopError",
    "TabletopWorld",
    "Task",
    "UnknownTaskError",
    "WorldConfig",
    "WorldConfigError",
    "WorldState",
    "build_tasks",
    "caption_holds",
    "caption_list",
    "caption_truth",
    "generate_dataset",
    "get_task",
    "grasp_caption",
    "held_object",
    "is_grasping",
    "is_on_top",
    "load_world_config",
    "on_top_caption",
    "on_top_pairs",
    "parse_caption",
    "parse_world_config",
    "register_gym_envs",
    "resolve_world_path",
    "task_names",
    "tower_of_all",
    "true_captions",
]

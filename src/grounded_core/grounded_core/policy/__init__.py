"""Language-conditioned tabletop policy and skill scheduler (MISSION B4, B6), ROS-free.

Modules (one job each):

==========  ==================================================================
config      ``PolicyConfig`` (validated dataclass, JSON/YAML round trip)
text        goal-text encoders (offline all-MiniLM-L6-v2, captioner text tower,
            hashing), cached per string
grid        ``ActionGrid``: workspace cells <-> (x, y) actions
model       ``GoalPolicy`` transformer: goal/object/ee/gripper tokens ->
            distribution over workspace cells (sample or mode)
io          safetensors + JSON checkpoints (atomic) and ``to_bytes``/``from_bytes``
            (the ``PolicyWeights`` message fields)
progress    ``plan_index``: the current sub-goal of a plan from detected captions
scheduler   ``SkillScheduler``: run sub-goals in order with debounce, step
            budgets and a failure report
==========  ==================================================================

Collect & Infer (which trains this policy) lives in ``grounded_core.learning``
(collect_infer, actor, buffers, relabel, judges, plans, goal_bc). Heavy imports
(torch) happen when a name is first used.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "PolicyConfig": "config",
    "PolicyConfigError": "config",
    "load_policy_config": "config",
    "ActionGrid": "grid",
    "GoalPolicy": "model",
    "PolicyInput": "model",
    "state_features": "model",
    "PolicyBlob": "io",
    "to_bytes": "io",
    "from_bytes": "io",
    "save_policy": "io",
    "load_policy": "io",
    "make_text_encoder": "text",
    "SentenceTextEncoder": "text",
    "HashingTextEncoder": "text",
    "CaptionerTextEncoder": "text",
    "plan_index": "progress",
    "SkillScheduler": "scheduler",
    "ScheduleReport": "scheduler",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)

"""Consolidation: every skill of a Collect & Infer run into one goal-conditioned policy."""

from __future__ import annotations

import numpy as np
import pytest

from grounded_core.learning.buffers import Episode, EpisodeStore
from grounded_core.learning.collect_infer import CollectInferConfig
from grounded_core.learning.consolidate import (
    CONSOLIDATED_TASK,
    consolidate,
    consolidate_run,
    extract_skills,
    main,
)
from grounded_core.learning.relabel import Label
from grounded_core.policy.io import load_policy
from grounded_core.policy.model import PolicyInput
from grounded_core.tabletop.captions import caption_list
from grounded_core.tabletop.world_config import load_world_config

WORLD = load_world_config("tabletop")
CAPTIONS = caption_list(WORLD.object_names)
NAMES = list(WORLD.object_names)
GRASP = {n: f"The robot is grasping the {n} object" for n in NAMES}
RED_ON_BLUE = "The red object is on top of the blue object"
GREEN_ON_RED = "The green object is on top of the red object"


def tiny_config(**changes) -> CollectInferConfig:
    base = {
        "batch_size": 32,
        "lr": 3e-3,
        "pointer_aux_weight": 1.0,
        "shift_augment": 0.0,
        "policy": {
            "text_encoder": "hashing",
            "text_dim": 32,
            "d_model": 32,
            "n_heads": 2,
            "n_layers": 1,
        },
    }
    return CollectInferConfig.from_dict({**base, **changes})


def make_episode(task: str, frames: list[set[str]], episode_id: str, target=None) -> Episode:
    """An episode whose actions point at object ``target`` (index) when given."""
    t = len(frames) - 1
    rng = np.random.default_rng([ord(c) for c in episode_id])
    objects = rng.uniform([0.38, -0.12, 0.025], [0.62, 0.12, 0.025], (t + 1, 3, 3))
    actions = (
        objects[:-1, target, :2].copy()
        if target is not None
        else rng.uniform([0.36, -0.14], [0.64, 0.14], (t, 2))
    )
    return Episode(
        episode_id=episode_id,
        task=task,
        instruction=task.replace("_", " "),
        seed=0,
        policy_version=0,
        actor=0,
        objects=objects,
        ee=np.tile([0.5, 0.0, 0.18], (t + 1, 1)),
        gripper=np.tile([0.08, 0.0], (t + 1, 1)),
        actions=actions,
        goals=[GRASP["red"]] * t,
        rewards=np.zeros(t),
        captions=CAPTIONS,
        detections=np.array([[c in f for c in CAPTIONS] for f in frames], dtype=bool),
    )


def test_extract_skills_labels_every_sub_goal_that_fired_in_any_task():
    episodes = [
        # a "red on blue" episode in which green landed on red by chance at primitive 2
        make_episode(
            "stack_red_on_blue",
            [set(), {GRASP["green"]}, {GREEN_ON_RED}, {GREEN_ON_RED}],
            "a",
        ),
        # red grasped at primitive 0, then stacked on blue at primitive 1
        make_episode("stack_red_on_blue", [set(), {GRASP["red"]}, {RED_ON_BLUE}], "b"),
        # already true at reset: never a demonstration
        make_episode("grasp_blue", [{GRASP["blue"]}, {GRASP["blue"]}], "c"),
    ]
    out = extract_skills(episodes, CAPTIONS, max_prefix=1)
    by_id = {e.episode_id: e for e in out}
    assert set(by_id) == {f"seed-{CONSOLIDATED_TASK}-a", f"seed-{CONSOLIDATED_TASK}-b"}
    a = by_id[f"seed-{CONSOLIDATED_TASK}-a"]
    assert sorted(a.labels, key=lambda x: x.end) == [
        Label(GRASP["green"], 0, 0),
        Label(GREEN_ON_RED, 1, 1),
    ]
    assert a.source_task == "stack_red_on_blue" and a.task == CONSOLIDATED_TASK
    b = by_id[f"seed-{CONSOLIDATED_TASK}-b"]
    assert {lab.goal for lab in b.labels} == {GRASP["red"], RED_ON_BLUE}
    # Only the requested sub-goals, whole prefixes without max_prefix.
    only = extract_skills(episodes, [GREEN_ON_RED])
    assert [lab for e in only for lab in e.labels] == [Label(GREEN_ON_RED, 0, 1)]
    with pytest.raises(ValueError, match="no sub-goals"):
        extract_skills(episodes, [])
    with pytest.raises(ValueError, match="not among the judged captions"):
        extract_skills(episodes, ["The moon is on top of the sun"])


def test_consolidated_policy_learns_several_skills_at_once():
    # Two skills from two "tasks": grasp red points at red, grasp blue at blue.
    episodes = []
    for i in range(12):
        for name, index in (("red", 0), ("blue", 2)):
            ep = make_episode(f"stack_{name}", [set(), {GRASP[name]}], f"{name}{i}", target=index)
            episodes.append(ep)
    skills = extract_skills(episodes, CAPTIONS, max_prefix=1)
    policy, stats = consolidate(skills, tiny_config(), steps=150, seed=0)
    assert stats["samples"] == 24 and stats["samples_per_goal"] == {
        GRASP["blue"]: 12,
        GRASP["red"]: 12,
    }
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(10):
        objects = rng.uniform([0.38, -0.12, 0.025], [0.62, 0.12, 0.025], (3, 3))
        inputs = PolicyInput(objects, np.array([0.5, 0.0, 0.18]), np.array([0.08, 0.0]))
        for name, index in (("red", 0), ("blue", 2)):
            xy = policy.act([GRASP[name]], inputs, mode=True)[0]
            hits += bool(np.linalg.norm(xy - objects[index, :2]) < 0.02)
    assert hits >= 18, hits  # of 20: each goal points at its own object on new layouts
    with pytest.raises(ValueError, match="no labelled steps"):
        consolidate([], tiny_config(), steps=5)
    with pytest.raises(ValueError, match="steps"):
        consolidate(skills, tiny_config(), steps=0)


def test_consolidate_run_saves_a_loadable_checkpoint_and_cli_errors(tmp_path, capsys):
    run = tmp_path / "run"
    store = EpisodeStore(run / "lifelong")
    store.add(make_episode("stack_red_on_blue", [set(), {GRASP["red"]}, {RED_ON_BLUE}], "x", 0))
    store.add(make_episode("stack_green_on_red", [set(), {GRASP["green"]}], "y", 1))
    summary = consolidate_run(run, tiny_config(max_prefix=1), tmp_path / "policy", steps=3)
    assert summary["lifelong_episodes_per_task"] == {
        "stack_green_on_red": 1,
        "stack_red_on_blue": 1,
    }
    assert set(summary["samples_per_goal"]) == {GRASP["red"], RED_ON_BLUE, GRASP["green"]}
    policy, manifest = load_policy(tmp_path / "policy")
    assert manifest["extra"]["consolidation"]["bc_steps"] == 3
    assert policy.config.text_encoder == "hashing"
    with pytest.raises(ValueError, match="lifelong buffer is empty"):
        consolidate_run(tmp_path / "empty", tiny_config(), tmp_path / "p2", steps=1)
    assert main(["--run-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "p3")]) == 2
    assert "lifelong buffer is empty" in capsys.readouterr().err

"""Collect & Infer (MISSION B5): relabelling, buffers, lifelong seeding, resume, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grounded_core.learning.buffers import Episode, EpisodeStore, bc_dataset, seed_from_lifelong
from grounded_core.learning.collect_infer import (
    CollectInfer,
    CollectInferConfig,
    CollectInferConfigError,
    load_collect_infer_config,
)
from grounded_core.learning.judges import TruthJudge
from grounded_core.learning.plans import PlanError, ReferencePlanSource
from grounded_core.learning.relabel import Label, first_firing, relabel
from grounded_core.tabletop.captions import caption_list
from grounded_core.tabletop.world_config import load_world_config

ROOT = Path(__file__).resolve().parents[2]
WORLD = load_world_config("tabletop")
CAPTIONS = caption_list(WORLD.object_names)
GRASP_RED = "The robot is grasping the red object"
GRASP_BLUE = "The robot is grasping the blue object"
RED_ON_BLUE = "The red object is on top of the blue object"
BLUE_ON_GREEN = "The blue object is on top of the green object"


def det(frames: list[set[str]]) -> np.ndarray:
    return np.array([[c in f for c in CAPTIONS] for f in frames], dtype=bool)


def episode(task: str, frames: list[set[str]], rewards, episode_id: str = "e0") -> Episode:
    t = len(frames) - 1
    rng = np.random.default_rng(len(episode_id))
    return Episode(
        episode_id=episode_id,
        task=task,
        instruction=task.replace("_", " "),
        seed=0,
        policy_version=0,
        actor=0,
        objects=rng.uniform([0.4, -0.1, 0.025], [0.6, 0.1, 0.025], (t + 1, 3, 3)),
        ee=np.tile([0.5, 0.0, 0.18], (t + 1, 1)),
        gripper=np.tile([0.08, 0.0], (t + 1, 1)),
        actions=rng.uniform([0.36, -0.14], [0.64, 0.14], (t, 2)),
        goals=[GRASP_RED] * t,
        rewards=np.asarray(rewards, dtype=float),
        captions=CAPTIONS,
        detections=det(frames),
    )


def fast_config(**changes) -> CollectInferConfig:
    base = {
        "n_actors": 1,
        "episodes_per_update": 2,
        "max_episode_steps": 3,
        "bc_steps": 10,
        "batch_size": 16,
        "eval_episodes": 1,
        "eval_max_steps": 2,
        "max_env_steps": 8,
        "stop_success": None,
        # Explore with the untrained policy's prior (mostly on the objects, see
        # init_free_logit) instead of uniformly: grasps then fire within a few steps.
        "explore_untrained_goals": False,
        "policy": {
            "text_encoder": "hashing",
            "text_dim": 32,
            "d_model": 32,
            "n_heads": 2,
            "n_layers": 1,
            "init_free_logit": -5.0,  # explore by pointing at objects: grasps happen fast
        },
    }
    return CollectInferConfig.from_dict({**base, **changes})


# ---------------------------------------------------------------------- relabelling


def test_first_firing_is_the_first_rising_edge():
    frames = [{GRASP_RED}, set(), set(), {GRASP_RED}, {GRASP_RED}, set(), {GRASP_RED}]
    firing = first_firing(det(frames))
    assert firing[CAPTIONS.index(GRASP_RED)] == 2  # frame 3 rose: primitive 2
    assert firing[CAPTIONS.index(RED_ON_BLUE)] == -1


def test_relabel_rules_on_a_hand_built_episode():
    # primitive 0: fail, 1: grasp red, 2: place on blue (env reward)
    frames = [set(), set(), {GRASP_RED}, {RED_ON_BLUE}]
    d = det(frames)
    plan = [GRASP_RED, RED_ON_BLUE]
    labels = relabel(d, CAPTIONS, plan, [0, 0, 1], task_label="stack it")
    assert labels == [Label(GRASP_RED, 0, 1), Label(RED_ON_BLUE, 0, 2), Label("stack it", 0, 2)]
    # Only the last N primitives of each prefix.
    labels = relabel(d, CAPTIONS, plan, [0, 0, 1], task_label=None, max_prefix=1)
    assert labels == [Label(GRASP_RED, 1, 1), Label(RED_ON_BLUE, 2, 2)]
    # Sub-goal labels keep the firing primitive, task labels the last two.
    labels = relabel(d, CAPTIONS, plan, [0, 0, 1], task_label="t", max_prefix=1, task_max_prefix=2)
    assert labels == [Label(GRASP_RED, 1, 1), Label(RED_ON_BLUE, 2, 2), Label("t", 1, 2)]
    with pytest.raises(ValueError, match="task_max_prefix"):
        relabel(d, CAPTIONS, plan, [0, 0, 1], task_label="t", task_max_prefix=0)
    # Env-reward only (the baseline's rule): sub-goals ignored.
    labels = relabel(d, CAPTIONS, plan, [0, 0, 1], task_label="stack it", label_subgoals=False)
    assert labels == [Label("stack it", 0, 2)]
    # Nothing fired, no reward: nothing stored.
    assert relabel(det([set(), set()]), CAPTIONS, plan, [0], task_label="x") == []
    # A sub-goal already true at reset is no demonstration.
    assert relabel(det([{GRASP_RED}, {GRASP_RED}]), CAPTIONS, plan, [0]) == []
    with pytest.raises(ValueError, match="not among"):
        relabel(d, CAPTIONS, ["The robot is dancing"], [0, 0, 1])
    with pytest.raises(ValueError, match="shape"):
        relabel(d[:2], CAPTIONS, plan, [0, 0, 1])


def test_bc_dataset_takes_the_labelled_steps():
    ep = episode("stack_red_on_blue", [set(), set(), {GRASP_RED}], [0, 0])
    ep.labels = [Label(GRASP_RED, 0, 1), Label("stack", 1, 1)]
    data = bc_dataset([ep])
    assert data.goals == [GRASP_RED, GRASP_RED, "stack"]
    np.testing.assert_array_equal(data.actions, ep.actions[[0, 1, 1]])
    np.testing.assert_array_equal(data.objects[2], ep.objects[1])  # state *before* the step


def test_bc_minibatches_draw_every_goal_equally_often():
    import torch

    from grounded_core.learning.goal_bc import GoalBCTrainer
    from grounded_core.policy.config import PolicyConfig
    from grounded_core.policy.model import GoalPolicy

    torch.manual_seed(0)
    policy = GoalPolicy(PolicyConfig(text_encoder="hashing", text_dim=16, d_model=16, n_heads=2))
    goals = [GRASP_RED] * 30 + [RED_ON_BLUE] * 3
    weights = GoalBCTrainer(policy).sample_weights(goals)
    assert weights[:30].sum() == pytest.approx(0.5) and weights[30:].sum() == pytest.approx(0.5)
    flat = GoalBCTrainer(policy, balance_goals=False).sample_weights(goals)
    assert flat[30:].sum() == pytest.approx(3 / 33)


# ---------------------------------------------------------------------- buffers


def test_episode_store_is_atomic_and_survives_junk(tmp_path):
    store = EpisodeStore(tmp_path / "buf")
    ep = episode("stack_red_on_blue", [set(), {GRASP_RED}], [0], "ep-1")
    ep.labels = [Label(GRASP_RED, 0, 0)]
    store.add(ep)
    (tmp_path / "buf" / ".tmp-ep-2.json-dead").write_text("{half")  # killed writer
    (tmp_path / "buf" / "broken.json").write_text("{not json")
    again = EpisodeStore(tmp_path / "buf")
    assert len(again) == 1 and again.skipped and "broken.json" in again.skipped[0]
    loaded = next(iter(again))
    assert loaded.labels == ep.labels
    np.testing.assert_allclose(loaded.actions, ep.actions, atol=1e-6)
    np.testing.assert_array_equal(loaded.detections, ep.detections)
    assert not list((tmp_path / "buf").glob(".tmp-*"))
    with pytest.raises(ValueError, match="inconsistent"):
        Episode.from_dict({**ep.to_dict(), "goals": []})


def test_lifelong_prefix_seeding_for_a_new_task():
    old = [
        # stack red on blue episode where blue was grasped at primitive 1
        episode("stack_red_on_blue", [set(), set(), {GRASP_BLUE}, set()], [0, 0, 0], "a"),
        # ... and one where blue ended on green at primitive 2
        episode("stack_red_on_blue", [set(), {GRASP_BLUE}, {BLUE_ON_GREEN}], [0, 0], "b"),
        # nothing relevant
        episode("stack_red_on_blue", [set(), {GRASP_RED}], [0], "c"),
        # the new task's own episode is not duplicated
        episode("stack_blue_on_green", [set(), {GRASP_BLUE}], [0], "d"),
    ]
    plan = ReferencePlanSource(WORLD).plan("stack the blue object on the green object")
    assert plan == [GRASP_BLUE, BLUE_ON_GREEN]
    seeded = seed_from_lifelong(old, "stack_blue_on_green", plan)
    by_source = {e.episode_id: e for e in seeded}
    assert set(by_source) == {"seed-stack_blue_on_green-a", "seed-stack_blue_on_green-b"}
    a = by_source["seed-stack_blue_on_green-a"]
    assert a.labels == [Label(GRASP_BLUE, 0, 1)]
    assert a.task == "stack_blue_on_green" and a.source_task == "stack_red_on_blue"
    b = by_source["seed-stack_blue_on_green-b"]
    assert b.labels == [Label(GRASP_BLUE, 0, 0), Label(BLUE_ON_GREEN, 0, 1)]
    limited = seed_from_lifelong(old, "stack_blue_on_green", plan, max_prefix=1)
    assert {lab.start for e in limited for lab in e.labels} == {0, 1}


def test_reference_plans_and_composite_instructions():
    planner = ReferencePlanSource(WORLD)
    assert planner.plan("stack_red_on_blue") == [GRASP_RED, RED_ON_BLUE]
    composite = planner.plan("grasp the blue object, then stack the red object on the green object")
    assert composite[0] == GRASP_BLUE and len(composite) == 3
    assert len(planner.plan("stack all three objects")) == 4
    with pytest.raises(PlanError, match="no reference plan"):
        planner.plan("juggle the cubes")
    with pytest.raises(PlanError):
        planner.plan("")


# ---------------------------------------------------------------------- config


def test_config_validation_and_shipped_yaml(tmp_path):
    config = load_collect_infer_config(ROOT / "config" / "collect_infer.yaml")
    assert config.reward_mode == "curriculum" and config.policy.text_encoder == "sentence"
    for bad, match in [
        ({"reward_mode": "dense"}, "reward_mode"),
        ({"judge": "oracle"}, "judge"),
        ({"n_actors": 0}, "n_actors"),
        ({"epsilon": 2.0}, "epsilon"),
        ({"max_prefix": 0}, "max_prefix"),
        ({"temperature": 0}, "temperature"),
        ({"policy": {"grid": [1, 1]}}, "grid"),
        ({"n_actorz": 2}, "unknown"),
        ({"pointer_aux_weight": -1}, "pointer_aux_weight"),
        ({"pointer_aux_radius": 0}, "pointer_aux_radius"),
        ({"shift_augment": -0.01}, "shift_augment"),
    ]:
        with pytest.raises(ValueError, match=match):
            CollectInferConfig.from_dict(bad)
    path = tmp_path / "c.yaml"
    path.write_text("collect_infer:\n  lr: -1\n")
    with pytest.raises(CollectInferConfigError, match=str(path)):
        load_collect_infer_config(path)


# ---------------------------------------------------------------------- end to end


class KillAfter(TruthJudge):
    """Truth judge that dies (KeyboardInterrupt, like Ctrl-C) once N episodes are on disk."""

    def __init__(self, tolerances, lifelong: Path, n: int) -> None:
        super().__init__(tolerances)
        self.lifelong, self.n = lifelong, n

    def detect(self, observations, captions):
        if len(list(self.lifelong.glob("*.json"))) >= self.n:
            raise KeyboardInterrupt("simulated kill")
        return super().detect(observations, captions)


def test_tiny_run_trains_updates_versions_and_resumes_after_a_kill(tmp_path):
    run = tmp_path / "run"
    config = fast_config(max_env_steps=30)
    judge = KillAfter(WORLD.tolerances, run / "lifelong", n=3)
    ci = CollectInfer(config, run, judge=judge, progress=False, log=lambda m: None)
    with pytest.raises(KeyboardInterrupt):
        ci.run_task("grasp_red")
    ci.close()
    stored = {e.episode_id: e for e in EpisodeStore(run / "lifelong")}
    assert len(stored) == 3
    buffer = EpisodeStore(run / "tasks" / "grasp_red" / "buffer")
    assert len(buffer) >= 1  # grasps fired and were labelled
    assert all(
        lab.goal == GRASP_RED or lab.goal == "grasp the red object"
        for e in buffer
        for lab in e.labels
    )
    ckpts = run / "tasks" / "grasp_red" / "checkpoints"
    latest = (ckpts / "LATEST").read_text().strip()
    manifest = json.loads((ckpts / latest / "manifest.json").read_text())
    version_before = manifest["policy"]["version"]
    assert version_before >= 1
    steps_before = sum(e.length for e in stored.values())

    # Restart with a healthy judge: nothing stored is lost, counting continues.
    with CollectInfer(config, run, progress=False, log=lambda m: None) as again:
        report = again.run_task("grasp_red", max_env_steps=steps_before + 4)
    after = {e.episode_id: e for e in EpisodeStore(run / "lifelong")}
    assert set(stored) <= set(after)
    for key, ep in stored.items():
        np.testing.assert_array_equal(after[key].actions, ep.actions)
    assert report.episodes == len(after) > len(stored)
    assert report.env_steps == sum(e.length for e in after.values())
    assert report.version > version_before
    assert report.curve and report.curve[-1].version == report.version
    assert report.labels_per_goal.get(GRASP_RED, 0) >= 1
    assert report.judge == "truth"


def test_new_task_is_seeded_from_the_lifelong_buffer_and_trained_first(tmp_path):
    run = tmp_path / "run"
    lifelong = EpisodeStore(run / "lifelong")
    for i in range(3):
        lifelong.add(episode("stack_red_on_blue", [set(), {GRASP_BLUE}, set()], [0, 0], f"old{i}"))
    config = fast_config(max_env_steps=1, eval_max_steps=1)
    with CollectInfer(config, run, progress=False, log=lambda m: None) as ci:
        report = ci.run_task("stack_blue_on_green")
    assert report.seeded_episodes == 3 and report.seeded_steps == 6
    first = report.curve[0]
    assert first.env_steps == 0 and first.version == 1  # trained on seeded data before collecting
    assert report.labels_per_goal[GRASP_BLUE] >= 3
    # Without reuse nothing is seeded.
    with CollectInfer(
        config.replace(reuse_lifelong=False), tmp_path / "run2", progress=False, log=lambda m: None
    ) as ci:
        lonely = ci.run_task("stack_blue_on_green")
    assert lonely.seeded_episodes == 0


def test_actor_explores_untrained_goals_uniformly():
    import torch

    from grounded_core.learning.actor import Actor
    from grounded_core.policy.config import PolicyConfig
    from grounded_core.policy.io import to_bytes
    from grounded_core.policy.model import GoalPolicy

    torch.manual_seed(0)
    config = PolicyConfig(
        text_encoder="hashing", text_dim=32, d_model=32, n_heads=2, init_free_logit=-30.0
    )
    policy = GoalPolicy(config)  # all mass on the three objects
    actor = Actor(0, WORLD, GoalPolicy(config), TruthJudge(WORLD.tolerances), CAPTIONS)
    try:
        obs = actor.reset(3)
        objects = np.stack([obs.state.position(n)[:2] for n in WORLD.object_names])

        def near_objects(trained):
            actor.set_weights(to_bytes(policy, 1), trained)
            rng = np.random.default_rng(0)
            xys = np.stack([actor.choose(GRASP_RED, obs, False, rng) for _ in range(40)])
            dist = np.linalg.norm(xys[:, None] - objects[None], axis=-1).min(axis=1)
            return np.mean(dist < 0.02)

        assert near_objects({GRASP_RED}) > 0.9  # trained goal: the policy acts
        assert near_objects(set()) < 0.3  # untrained goal: uniform exploration
        assert near_objects(None) > 0.9  # exploration rule off
        assert actor.version == 1
    finally:
        actor.close()

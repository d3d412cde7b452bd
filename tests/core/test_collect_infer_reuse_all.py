"""Collect & Infer ``reuse_scope: all``: a new task's buffer seeded with every earlier skill,
and ``untrained_policy_share``: goals without demonstrations partly pursued with the policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grounded_core.learning.buffers import EpisodeStore, extract_skills
from grounded_core.learning.collect_infer import (
    CollectInfer,
    CollectInferConfig,
    load_collect_infer_config,
    seed_for_task,
)
from grounded_core.learning.judges import TruthJudge
from grounded_core.learning.relabel import Label

from .test_collect_infer import (
    BLUE_ON_GREEN,
    CAPTIONS,
    GRASP_BLUE,
    GRASP_RED,
    RED_ON_BLUE,
    WORLD,
    episode,
    fast_config,
)

ROOT = Path(__file__).resolve().parents[2]
GRASP_GREEN = "The robot is grasping the green object"
GREEN_ON_RED = "The green object is on top of the red object"
NEW = "stack_blue_on_green"


def fabricated_lifelong(run: Path) -> EpisodeStore:
    """Earlier "red on blue" episodes in which other sub-goals fired too, and one of NEW."""
    lifelong = EpisodeStore(run / "lifelong")
    # red grasped at primitive 1, put on blue at primitive 2 (the old task's own skills)
    lifelong.add(
        episode(
            "stack_red_on_blue",
            [set(), set(), {GRASP_RED}, {RED_ON_BLUE}],
            [0, 0, 1],
            "old-a",
        )
    )
    # green grasped at 0 and dropped on red at 1 by chance: skills of no plan so far
    lifelong.add(
        episode("stack_red_on_blue", [set(), {GRASP_GREEN}, {GREEN_ON_RED}], [0, 0], "old-bb")
    )
    # blue grasped at 0 (the new plan's first sub-goal)
    lifelong.add(episode("stack_red_on_blue", [set(), {GRASP_BLUE}, set()], [0, 0], "old-ccc"))
    # nothing fired: never seeded
    lifelong.add(episode("stack_red_on_blue", [set(), set()], [0], "old-dddd"))
    # the new task's own episode: already in its buffer, never seeded
    lifelong.add(episode(NEW, [set(), {GRASP_BLUE}], [0], "new-eeeee"))
    return lifelong


EXPECTED_ALL = {
    f"seed-{NEW}-old-a": [Label(GRASP_RED, 1, 1), Label(RED_ON_BLUE, 2, 2)],
    f"seed-{NEW}-old-bb": [Label(GRASP_GREEN, 0, 0), Label(GREEN_ON_RED, 1, 1)],
    f"seed-{NEW}-old-ccc": [Label(GRASP_BLUE, 0, 0)],
}


def labels_by_id(episodes) -> dict[str, list[Label]]:
    return {e.episode_id: sorted(e.labels, key=lambda x: (x.end, x.goal)) for e in episodes}


def test_reuse_all_seeds_exactly_the_prefixes_of_every_skill_that_fired(tmp_path):
    run = tmp_path / "run"
    fabricated_lifelong(run)
    config = fast_config(reuse_scope="all", max_prefix=1)
    with CollectInfer(config, run, progress=False, log=lambda m: None) as ci:
        seeded = ci.seed_episodes(NEW, ci.plan_for(NEW))
        assert labels_by_id(seeded) == EXPECTED_ALL
        for e in seeded:
            assert e.task == NEW and e.source_task == "stack_red_on_blue"
            assert e.episode_id.removeprefix(f"seed-{NEW}-") in ci.lifelong
    # plan scope (the default): only the new plan's sub-goals
    with CollectInfer(
        config.replace(reuse_scope="plan"), run, progress=False, log=lambda m: None
    ) as ci:
        plan = ci.plan_for(NEW)
        assert plan == [GRASP_BLUE, BLUE_ON_GREEN]
        assert labels_by_id(ci.seed_episodes(NEW, plan)) == {
            f"seed-{NEW}-old-ccc": [Label(GRASP_BLUE, 0, 0)]
        }
    with pytest.raises(ValueError, match="reuse_scope"):
        seed_for_task([], NEW, [], CAPTIONS, scope="every", max_prefix=None)
    # without max_prefix the whole prefix up to the firing primitive
    whole = extract_skills(EpisodeStore(run / "lifelong"), CAPTIONS, task=NEW, exclude_task=True)
    assert labels_by_id(whole)[f"seed-{NEW}-old-a"] == [
        Label(GRASP_RED, 0, 1),
        Label(RED_ON_BLUE, 0, 2),
    ]


def test_reuse_all_run_trains_on_every_skill_first_and_resumes_without_reseeding(tmp_path):
    run = tmp_path / "run"
    fabricated_lifelong(run)
    config = fast_config(reuse_scope="all", max_prefix=1, max_env_steps=4, eval_max_steps=1)
    with CollectInfer(config, run, progress=False, log=lambda m: None) as ci:
        report = ci.run_task(NEW)
    assert report.seeded_episodes == 3 and report.seeded_steps == 3 + 2 + 2
    first = report.curve[0]
    # trained on the seeded skills before collecting (the 1 step is the new task's own
    # fabricated lifelong episode, counted as collected)
    assert first.env_steps == 1 and first.episodes == 1 and first.version == 1
    buffer = EpisodeStore(run / "tasks" / NEW / "buffer")
    seeded = [e for e in buffer if e.source_task is not None]
    assert labels_by_id(seeded) == EXPECTED_ALL
    for goal in (GRASP_RED, RED_ON_BLUE, GRASP_GREEN, GREEN_ON_RED, GRASP_BLUE):
        assert report.labels_per_goal.get(goal, 0) >= 1
    files_before = sorted(p.name for p in buffer.directory.glob("seed-*.json"))
    # An episode that lands in the lifelong buffer after the checkpoint would be seeded by
    # a second seeding; resuming must not seed again (the checkpoint's ``seeded`` flag).
    late = episode("grasp_green", [set(), {GRASP_GREEN}], [0], "late-x")
    EpisodeStore(run / "lifelong").add(late)
    with CollectInfer(config, run, progress=False, log=lambda m: None) as again:
        resumed = again.run_task(NEW, max_env_steps=report.env_steps + 3)
    after = sorted(p.name for p in buffer.directory.glob("seed-*.json"))
    assert after == files_before and resumed.seeded_episodes == 3
    assert resumed.version > report.version
    latest = (run / "tasks" / NEW / "checkpoints" / "LATEST").read_text().strip()
    manifest = json.loads(
        (run / "tasks" / NEW / "checkpoints" / latest / "manifest.json").read_text()
    )
    assert manifest["extra"]["trainer"]["seeded"] is True


def test_reuse_scope_and_untrained_policy_share_config():
    shipped = load_collect_infer_config(ROOT / "config" / "collect_infer.yaml")
    assert shipped.reuse_scope == "all" and shipped.untrained_policy_share == 0.0
    assert CollectInferConfig().reuse_scope == "all"
    config = CollectInferConfig.from_dict({"reuse_scope": "plan", "untrained_policy_share": 0.5})
    assert config.to_dict()["reuse_scope"] == "plan"
    assert CollectInferConfig.from_dict(config.to_dict()) == config
    for bad, match in [
        ({"reuse_scope": "every"}, "reuse_scope"),
        ({"reuse_scope": None}, "reuse_scope"),
        ({"untrained_policy_share": 1.5}, "untrained_policy_share"),
        ({"untrained_policy_share": -0.1}, "untrained_policy_share"),
        ({"untrained_policy_share": True}, "untrained_policy_share"),
        ({"untrained_policy_share": "half"}, "untrained_policy_share"),
    ]:
        with pytest.raises(ValueError, match=match):
            CollectInferConfig.from_dict(bad)


def test_untrained_goals_are_partly_pursued_with_the_policy():
    import torch

    from grounded_core.learning.actor import Actor
    from grounded_core.policy.config import PolicyConfig
    from grounded_core.policy.io import to_bytes
    from grounded_core.policy.model import GoalPolicy, state_features

    torch.manual_seed(0)
    config = PolicyConfig(
        text_encoder="hashing", text_dim=32, d_model=32, n_heads=2, init_free_logit=-30.0
    )
    policy = GoalPolicy(config)  # all mass on the three objects
    judge = TruthJudge(WORLD.tolerances)
    actors = {
        share: Actor(0, WORLD, GoalPolicy(config), judge, CAPTIONS, untrained_policy_share=share)
        for share in (0.0, 0.5, 1.0)
    }
    try:
        obs = actors[0.0].reset(3)
        for actor in actors.values():
            actor.reset(3)
            actor.set_weights(to_bytes(policy, 1), set())  # no goal has demonstrations
        objects = np.stack([obs.state.position(n)[:2] for n in WORLD.object_names])

        def near_objects(share: float) -> float:
            rng = np.random.default_rng(0)
            xys = np.stack([actors[share].choose(GRASP_RED, obs, False, rng) for _ in range(200)])
            dist = np.linalg.norm(xys[:, None] - objects[None], axis=-1).min(axis=1)
            return float(np.mean(dist < 0.02))

        uniform, mixed, policy_only = near_objects(0.0), near_objects(0.5), near_objects(1.0)
        assert uniform < 0.2 and policy_only > 0.9
        assert 0.3 < mixed < 0.75, mixed  # about half policy (on the objects), half uniform
        # share 0 is exactly the old rule: the same random numbers, the same actions
        rng, ref = np.random.default_rng(5), np.random.default_rng(5)
        for _ in range(5):
            got = actors[0.0].choose(GRASP_RED, obs, False, rng)
            want = policy.grid.xy_of(int(ref.integers(policy.grid.n_cells)), ref)
            np.testing.assert_array_equal(got, want)
        # greedy (evaluation) always uses the policy
        greedy = actors[0.0].choose(GRASP_RED, obs, True, None)
        assert np.linalg.norm(objects - greedy, axis=1).min() < 0.02
        with pytest.raises(ValueError, match="untrained_policy_share"):
            policy.act_for_goal(
                GRASP_RED,
                state_features(obs.state),
                greedy=False,
                rng=np.random.default_rng(0),
                trained_goals=[],
                untrained_policy_share=2.0,
            )
        with pytest.raises(ValueError, match="untrained_policy_share"):
            Actor(1, WORLD, GoalPolicy(config), judge, CAPTIONS, untrained_policy_share=-1)
    finally:
        for actor in actors.values():
            actor.close()

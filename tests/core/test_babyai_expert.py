"""The BabyAI bot solves every level (A6 Q4 baselines need its demonstrations)."""

import json

import pytest

from grounded_core.babyai_text import (
    ACTIONS,
    LEVELS,
    BabyAITextEnv,
    expert_dataset,
    run_expert,
    write_jsonl,
)

SEEDS = range(50)
CASES = [(name, kind) for name, spec in LEVELS.items() for kind in (spec.task_kinds or (None,))]


@pytest.mark.parametrize(("level", "kind"), CASES)
def test_bot_solves_every_level_on_50_seeds(level, kind):
    env = BabyAITextEnv(level, task_kind=kind)
    failures = [seed for seed in SEEDS if not run_expert(env, seed).success]
    assert failures == []


@pytest.mark.parametrize("level", ["MixedTrainLocal", "MixedTestLocal"])
def test_bot_solves_mixed_levels_with_drawn_kinds(level):
    env = BabyAITextEnv(level)
    kinds = set()
    for seed in SEEDS:
        traj = run_expert(env, seed)
        assert traj.success, (level, seed, traj.task_kind)
        kinds.add(traj.task_kind)
    assert len(kinds) == 5


def test_dataset_of_prompt_action_pairs(tmp_path):
    records = expert_dataset("MixedTrainLocal", range(3))
    assert records and all(r["action"] in ACTIONS for r in records)
    first = [r for r in records if r["step"] == 0]
    assert len(first) == 3
    assert all(r["prompt"].endswith("\n Action 0: ") for r in first)
    assert all(r["prompt"].startswith("Possible action of the agent: ") for r in records)
    path = tmp_path / "demos.jsonl"
    assert write_jsonl(records, path) == len(records)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == records[0]


def test_prompt_history_in_a_trajectory_follows_the_actions():
    traj = run_expert("GoToLocal", seed=3)
    assert traj.success and traj.length >= 3
    assert f"\n Action 0: {traj.action_names[0]} \n Observation 1: " in traj.prompts[1]
    assert f"\n Action 1: {traj.action_names[1]} \n Observation 2: " in traj.prompts[2]

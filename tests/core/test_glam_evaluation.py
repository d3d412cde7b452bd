"""Evaluation: Wilson intervals, seeded episodes, agents, the generalisation table, BC."""

from __future__ import annotations

import csv
import io
import math

import pytest
import torch

from grounded_core.learning.behaviour_cloning import (
    BCConfig,
    bot_demonstrations,
    train_behaviour_cloning,
)
from grounded_core.learning.evaluation import (
    EvalResult,
    PolicyAgent,
    RandomAgent,
    evaluate,
    wilson_interval,
)
from grounded_core.learning.generalisation import (
    GENERALISATION_TESTS,
    PAPER_RESULTS,
    format_markdown,
    generalisation_table,
    to_csv,
    write_table,
)
from grounded_core.learning.policy_loading import load_policy


class ForwardAgent:
    """Deterministic: always "go forward" (index 2), whatever the prompt."""

    name = "forward"

    def act(self, prompts, action_space):
        return [2] * len(prompts)


class BotLikeAgent:
    """Deterministic per prompt: turns right on even-length prompts, else goes forward."""

    name = "parity"

    def act(self, prompts, action_space):
        return [1 if len(p) % 2 == 0 else 2 for p in prompts]


def test_wilson_interval_known_values():
    # Reference values of the Wilson score interval (z = 1.959964).
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4901625, abs=1e-6), pytest.approx(0.9433178, abs=1e-6))
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and high == pytest.approx(0.1611252, abs=1e-6)
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and low == pytest.approx(1 - 0.1611252, abs=1e-6)
    narrow = wilson_interval(500, 1000, confidence=0.9)
    wide = wilson_interval(500, 1000, confidence=0.99)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    for bad in [(1, 0), (3, 2), (-1, 5)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence=1.0)


def test_episodes_are_seeded_and_independent_of_the_batch_size():
    one = evaluate(BotLikeAgent(), "GoToRedBallNoDists", episodes=6, num_envs=1, seed=40)
    many = evaluate(BotLikeAgent(), "GoToRedBallNoDists", episodes=6, num_envs=4, seed=40)
    assert one == many
    assert one.episodes == 6 and 0 <= one.successes <= 6
    assert one.success_rate == one.successes / 6
    assert one.ci_low <= one.success_rate <= one.ci_high
    assert 1 <= one.mean_length <= 64
    assert (one.level, one.variant, one.agent, one.seed) == (
        "GoToRedBallNoDists",
        "none",
        "parity",
        40,
    )
    assert "GoToRedBallNoDists [none]" in one.summary()


def test_random_agent_and_variants():
    result = evaluate(
        RandomAgent(seed=3), "GoToLocal", "synonym_actions", episodes=3, num_envs=2, max_steps=5
    )
    assert result.episodes == 3 and result.mean_length <= 5
    assert result.variant == "synonym_actions"
    with pytest.raises(ValueError, match="episodes"):
        evaluate(RandomAgent(), "GoToLocal", episodes=0)
    with pytest.raises(ValueError, match="unknown level"):
        evaluate(RandomAgent(), "NoSuchLevel", episodes=1)


def test_policy_agent_with_the_tiny_model():
    torch.manual_seed(0)
    policy = load_policy("tiny-t5")
    sampled = evaluate(PolicyAgent(policy, seed=1), "GoToRedBallNoDists", episodes=2, max_steps=8)
    greedy = PolicyAgent(policy, greedy=True, name="greedy")
    scores = policy.score(["a prompt"], ["turn left", "drop"])
    assert greedy.act(["a prompt"], ["turn left", "drop"]) == [int(scores.argmax())]
    assert sampled.episodes == 2 and sampled.agent == "policy"


def test_generalisation_table_covers_the_six_tests(tmp_path):
    assert [t.key for t in GENERALISATION_TESTS] == list(PAPER_RESULTS)
    seen = []
    rows = generalisation_table(
        [ForwardAgent(), RandomAgent()],
        episodes=1,
        num_envs=1,
        on_result=lambda test, result: seen.append((test.key, result.agent)),
    )
    assert len(rows) == 12 and len(seen) == 12
    by_key = {(t.key, r.agent): r for t, r in rows}
    assert by_key[("new_composition", "forward")].level == "PickUpSeqPickUpLocal"
    assert by_key[("french", "random")].variant == "french"
    table = format_markdown(rows)
    assert "| test | forward | random | paper GFlan-T5 |" in table.splitlines()[0]
    assert "| synonym actions |" in table and "0.12" in table
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(parsed) == 12 and parsed[0]["test"] == "in_distribution"
    assert math.isclose(float(parsed[0]["ci_high"]), rows[0][1].ci_high)
    csv_path, md_path = write_table(rows, tmp_path / "out")
    assert csv_path.read_text().startswith("test,agent,level")
    assert md_path.read_text() == table
    assert "over 1 episodes per cell" in table
    with pytest.raises(ValueError, match="unique"):
        generalisation_table([RandomAgent(), RandomAgent()], episodes=1)


def test_table_states_the_episode_counts_when_cells_differ():
    def result(agent, episodes, successes):
        return EvalResult(
            agent=agent,
            level="MixedTrainLocal",
            variant="none",
            episodes=episodes,
            successes=successes,
            success_rate=successes / episodes,
            ci_low=0.0,
            ci_high=1.0,
            confidence=0.95,
            mean_return=0.0,
            mean_length=1.0,
            seed=7,
        )

    first, second = GENERALISATION_TESTS[:2]
    rows = [
        (first, result("random", 1000, 120)),
        (first, result("llm", 16, 2)),
        (second, result("random", 1000, 150)),
        (second, result("llm", 24, 3)),
    ]
    table = format_markdown(rows)
    assert "over N episodes per cell (random 1000; llm 16/24)" in table
    assert "| in-distribution | 0.12 [0.00, 1.00] | 0.12 [0.00, 1.00] |" in table


def test_behaviour_cloning_fits_bot_actions():
    config = BCConfig(level="GoToRedBallNoDists", demos=3, epochs=6, minibatch_size=16, lr=3e-3)
    records = bot_demonstrations(config)
    assert records and {"prompt", "action", "action_id"} <= set(records[0])
    policy = load_policy("tiny-t5", dropout=0.0)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    reports = train_behaviour_cloning(policy, records, config)
    assert [r.epoch for r in reports] == list(range(1, 7))
    assert reports[-1].loss < reports[0].loss
    assert reports[-1].samples == len(records)
    assert not policy.training
    assert any(not torch.equal(before[k], v) for k, v in policy.state_dict().items())
    with pytest.raises(ValueError, match="no demonstration"):
        train_behaviour_cloning(policy, [], config)
    with pytest.raises(ValueError, match="unknown level"):
        BCConfig(level="Nope")
    with pytest.raises(ValueError, match="demos"):
        BCConfig(demos=0)

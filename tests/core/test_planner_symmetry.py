"""The planner's object-renaming symmetry (``symmetry: objects``, planner_symmetry.py):
renaming helpers, the averaged scores' definition, and equivariance of whole plans and
greedy search -- with the embedded tiny random LLM (SmolLM2 is measured in
bench/planner.py)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from grounded_core.llm.planner import Planner
from grounded_core.llm.planner_cli import main as cli_main
from grounded_core.llm.planner_config import (
    PlannerConfig,
    default_config_file,
    load_planner_config,
)
from grounded_core.llm.planner_errors import PlannerConfigError
from grounded_core.llm.planner_symmetry import object_renamings, rename_objects
from grounded_core.tabletop.captions import caption_list

CAPTIONS = caption_list(["red", "green", "blue"])
SWAP = {"red": "green", "green": "red", "blue": "blue"}


@pytest.fixture(scope="module")
def planners():
    plain = Planner.load(PlannerConfig(model="tiny-llama"))
    symmetric = Planner(plain.scorer, plain.prompt.config, CAPTIONS, symmetry="objects")
    return plain, symmetric


def rename_plan(plan, mapping):
    return tuple(rename_objects(goal, mapping) for goal in plan)


def test_rename_objects_swaps_whole_words_at_once_and_keeps_case():
    assert rename_objects("put red on green", SWAP) == "put green on red"
    assert rename_objects("Red first, then the reddish GREEN one", SWAP) == (
        "Green first, then the reddish Red one"
    )
    assert rename_objects("stack the blue block", SWAP) == "stack the blue block"
    assert rename_objects("anything", {}) == "anything"


def test_object_renamings_are_every_permutation_identity_first():
    renamings = object_renamings(["red", "green", "blue"])
    assert len(renamings) == 6
    assert renamings[0] == {"red": "red", "green": "green", "blue": "blue"}
    assert len({tuple(sorted(m.items())) for m in renamings}) == 6
    with pytest.raises(ValueError, match="at most"):
        object_renamings([f"o{i}" for i in range(6)])


def test_bad_symmetry_setting_raises():
    with pytest.raises(PlannerConfigError, match="symmetry must be one of"):
        PlannerConfig(symmetry="colours")


def test_symmetric_scores_are_the_mean_over_renamed_instructions_and_plans(planners):
    plain, symmetric = planners
    text = "stack the red object on the blue object"
    raw = symmetric.raw_scores(text)
    per_renaming = []
    for mapping in object_renamings(["red", "green", "blue"]):
        renamed = plain.raw_scores(rename_objects(text, mapping))
        index = {tuple(p): i for i, p in enumerate(renamed["plans"])}
        per_renaming.append([renamed["logp"][index[rename_plan(p, mapping)]] for p in raw["plans"]])
    for i in range(len(raw["plans"])):
        expected = sum(values[i] for values in per_renaming) / len(per_renaming)
        assert raw["logp"][i] == pytest.approx(expected, abs=1e-4)
    # The symmetric ranking is the one the averaged numbers give, and differs from the
    # plain one (the random model has colour preferences the average removes).
    ranking = dict((tuple(p), s) for p, s in symmetric.rank(text))
    for i, plan in enumerate(raw["plans"]):
        assert ranking[tuple(plan)] == pytest.approx(raw["logp"][i], abs=1e-4)
    assert raw["logp"] != plain.raw_scores(text)["logp"]


@pytest.mark.parametrize("search", ["plan", "greedy"])
def test_symmetric_planner_is_equivariant_to_renaming(planners, search):
    plain, _ = planners
    planner = Planner(
        plain.scorer, plain.prompt.config, CAPTIONS, symmetry="objects", search=search
    )
    text = "put the red block on the green one and then grasp the blue block"
    base = planner.plan(text).sub_goals
    assert planner.space.is_valid(base)
    for mapping in object_renamings(["red", "green", "blue"])[1:]:
        renamed = planner.plan(rename_objects(text, mapping)).sub_goals
        assert tuple(renamed) == rename_plan(base, mapping)


def test_cli_symmetry_flag_plans_equivariantly(capsys):
    def plan_of(text: str) -> list[str]:
        assert cli_main(["--model", "tiny-llama", "--symmetry", "objects", text]) == 0
        out = capsys.readouterr().out
        return [line.split(". ", 1)[1] for line in out.splitlines() if line[:1].isdigit()]

    base = plan_of("stack the red object on the blue object")
    swapped = plan_of("stack the green object on the blue object")
    assert tuple(swapped) == rename_plan(base, SWAP)


def test_cli_defaults_to_the_shipped_config(capsys):
    shipped = default_config_file()
    assert shipped is not None and load_planner_config(shipped).symmetry == "none"
    text = "put the blue block on the red one"
    assert cli_main(["--model", "tiny-llama", "--raw", text]) == 0
    implicit = capsys.readouterr().out
    assert cli_main(["--model", "tiny-llama", "--raw", "--config", str(shipped), text]) == 0
    assert capsys.readouterr().out == implicit
    assert cli_main(["--model", "tiny-llama", "--raw", "--symmetry", "objects", text]) == 0
    assert capsys.readouterr().out != implicit  # the scores differ with the symmetry
    untuned = load_planner_config(shipped.parent / "planner_untuned.yaml")
    assert (untuned.adapter, untuned.symmetry, untuned.length_prior) == ("", "objects", 0.4)

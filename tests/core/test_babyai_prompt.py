"""A2: GLAM's prompt byte for byte, the history deques, and the prompt variants."""

import pytest

from grounded_core.babyai_text import (
    ACTIONS,
    BabyAITextEnv,
    PromptHistory,
    UnknownVariantError,
    build_prompt,
)

HEAD = "Possible action of the agent: turn left, turn right, go forward, pick up, drop, toggle"

# GoToLocal, seed 3 (minigrid 3.x): the agent starts at (1, 1) facing east.
OBS0 = [
    "You see a wall 1 step left",
    "You see a grey ball 3 steps forward",
    "You see a green box 2 steps forward",
    "You see a red box 1 step right and 1 step forward",
    "You see a red key 2 steps right and 3 steps forward",
    "You see a red ball 3 steps right and 4 steps forward",
    "You see a red box 3 steps right and 2 steps forward",
]
OBS1 = [
    "You see a wall 1 step left",
    "You see a grey ball 2 steps forward",
    "You see a green box 1 step forward",
    "You see a red box 1 step right",
    "You see a red key 2 steps right and 2 steps forward",
    "You see a red ball 3 steps right and 3 steps forward",
    "You see a red box 3 steps right and 1 step forward",
]
OBS2 = [
    "You see a wall 1 step forward",
    "You see a wall 2 steps left",
    "You see a green box 1 step right",
    "You see a grey ball 2 steps right",
]


def test_prompt_of_a_short_episode_byte_for_byte():
    env = BabyAITextEnv("GoToLocal", seed=3)
    history = PromptHistory()
    obs = env.reset()
    history.reset(obs.descriptions)
    prompts = [history.prompt(obs.mission)]
    for action in ["go forward", "turn left", "go forward"]:
        obs, _, done, _ = env.step(action)
        history.step(action, obs.descriptions, done)
        prompts.append(history.prompt(obs.mission))

    goal = " \n Goal of the agent: go to the red key"
    o0 = " \n Observation 0: " + "".join(s + ", " for s in OBS0)
    assert prompts[0] == HEAD + goal + o0 + "\n Action 0: "
    o1 = " \n Observation 1: " + "".join(s + ", " for s in OBS1)
    assert prompts[1] == HEAD + goal + o0 + "\n Action 0: go forward" + o1 + "\n Action 1: "
    o2 = " \n Observation 2: " + "".join(s + ", " for s in OBS2)
    assert prompts[2] == (
        HEAD
        + goal
        + o0
        + "\n Action 0: go forward"
        + o1
        + "\n Action 1: turn left"
        + o2
        + "\n Action 2: "
    )
    # Fourth prompt: the oldest observation/action fell off and numbering restarts at 0
    # (going forward into the wall changed nothing, so OBS2 appears twice).
    assert prompts[3] == (
        HEAD
        + goal
        + " \n Observation 0: "
        + "".join(s + ", " for s in OBS1)
        + "\n Action 0: turn left"
        + " \n Observation 1: "
        + "".join(s + ", " for s in OBS2)
        + "\n Action 1: go forward"
        + " \n Observation 2: "
        + "".join(s + ", " for s in OBS2)
        + "\n Action 2: "
    )


def test_build_prompt_separators():
    prompt = build_prompt("go to the red ball", [["A", "B"], ["C"]], ["turn left"])
    assert prompt == (
        HEAD + " \n Goal of the agent: go to the red ball"
        " \n Observation 0: A, B, \n Action 0: turn left \n Observation 1: C, \n Action 1: "
    )


def test_build_prompt_edge_cases():
    assert build_prompt("m", [], []) == HEAD + " \n Goal of the agent: m"
    assert (
        build_prompt("m", [[]], [])
        == HEAD + " \n Goal of the agent: m \n Observation 0: \n Action 0: "
    )
    # One action per observation fills the last slot (e.g. to show a chosen action).
    assert build_prompt("m", [["A"]], ["drop"]).endswith("\n Action 0: drop")


def test_build_prompt_validates_its_inputs():
    with pytest.raises(ValueError, match="2 actions for 1 observations"):
        build_prompt("m", [["A"]], ["drop", "toggle"])
    with pytest.raises(TypeError, match="list of sentences"):
        build_prompt("m", ["You see a wall 1 step left"], [])
    with pytest.raises(UnknownVariantError, match="klingon"):
        build_prompt("m", [["A"]], [], variant="klingon")


def test_custom_action_space_in_the_header():
    prompt = build_prompt("m", [["A"]], [], action_space=["turn left", "go forward"])
    assert prompt.startswith("Possible action of the agent: turn left, go forward \n Goal")


@pytest.mark.parametrize(
    ("variant", "head", "goal"),
    [
        (
            "synonym_actions",
            "Possible action of the agent: rotate left, rotate right, move ahead, "
            "take, release, switch",
            " \n Goal of the agent: ",
        ),
        ("goal_speaker", HEAD, " \n I would like the agent to: "),
        ("goal_agent", HEAD, " \n You have to: "),
        (
            "french",
            "Actions possibles pour l'agent: tourner à gauche, tourner à droite, "
            "aller tout droit, attraper, lâcher, basculer",
            " \n But de l'agent: ",
        ),
        (
            "french_goal_speaker",
            "Actions possibles pour l'agent: tourner à gauche, tourner à "
            "droite, aller tout droit, attraper, lâcher, basculer",
            " \n Je veux que l'agent fasse: ",
        ),
        (
            "french_goal_agent",
            "Actions possibles pour l'agent: tourner à gauche, tourner à "
            "droite, aller tout droit, attraper, lâcher, basculer",
            " \n Tu dois faire: ",
        ),
    ],
)
def test_prompt_variants(variant, head, goal):
    prompt = build_prompt("MISSION", [["X"]], [], variant=variant)
    assert prompt == head + goal + "MISSION \n Observation 0: X, \n Action 0: "


def test_history_keeps_three_observations_and_two_actions_and_clears_on_done():
    history = PromptHistory()
    history.reset(["o0"])
    for k in range(1, 5):
        history.step(ACTIONS[k], [f"o{k}"], done=False)
    assert history.observations == [["o2"], ["o3"], ["o4"]]
    assert history.actions == ["pick up", "drop"]
    history.step("toggle", ["new episode"], done=True)
    assert history.observations == [["new episode"]]
    assert history.actions == []
    assert history.prompt("m").endswith(" \n Observation 0: new episode, \n Action 0: ")


def test_history_rejects_action_indices():
    history = PromptHistory()
    history.reset(["o0"])
    with pytest.raises(TypeError, match="text"):
        history.step(2, ["o1"], done=False)

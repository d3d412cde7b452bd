"""babyai_text_env over DDS from a separate process: same text as the core,
auto-reset, episode statistics, and bad requests refused without side effects."""

from __future__ import annotations

import pytest

from grounded_core.babyai_text import BabyAITextEnv, VectorBabyAITextEnv, run_expert
from grounded_interfaces.msg import TextEpisodeStats
from grounded_interfaces.srv import TextEnvReset, TextEnvStep
from tests.ros.harness import ClientNode, NodeProcess, node_command

pytestmark = pytest.mark.ros

LEVEL, N, SEED = "GoToRedBall", 4, 10


@pytest.fixture(scope="module")
def env_node(tmp_path_factory):
    log = tmp_path_factory.mktemp("babyai") / "node.log"
    process = NodeProcess(
        node_command(
            "babyai_text_env",
            "-p",
            f"level:={LEVEL}",
            "-p",
            f"num_envs:={N}",
            "-p",
            f"seed:={SEED}",
        ),
        log,
    )
    yield process
    assert process.proc.poll() is None, f"node died:\n{process.output()}"
    process.stop()


@pytest.fixture
def client(env_node):
    with ClientNode("babyai_client") as c:
        c.reset = c.node.create_client(TextEnvReset, "/babyai_text_env/reset")
        c.step = c.node.create_client(TextEnvStep, "/babyai_text_env/step")
        assert c.reset.wait_for_service(timeout_sec=20.0)
        assert c.step.wait_for_service(timeout_sec=20.0)
        yield c


def call(client, service, request):
    return client.wait_future(service.call_async(request), timeout=20.0)


def texts(observations):
    return [(o.mission, list(o.descriptions)) for o in observations]


def test_reset_and_step_match_the_core(client):
    reply = call(client, client.reset, TextEnvReset.Request())
    assert reply.success, reply.message
    assert reply.level == "GoToRedBall" and reply.variant == "none"
    assert list(reply.action_space)[:3] == ["turn left", "turn right", "go forward"]
    assert list(reply.max_steps) == [64] * N
    local = VectorBabyAITextEnv(LEVEL, N, base_seed=SEED)
    assert texts(reply.observations) == texts(local.reset(base_seed=SEED))
    assert all(o.episode_start for o in reply.observations)

    actions = ["turn left", "go forward", "turn right", "pick up"]
    step = call(client, client.step, TextEnvStep.Request(actions=actions))
    assert step.success, step.message
    observations, rewards, dones, _ = local.step(actions)
    assert texts(step.observations) == texts(observations)
    assert list(step.rewards) == pytest.approx(list(rewards))
    assert list(step.dones) == list(dones)
    # indices work too
    step = call(client, client.step, TextEnvStep.Request(action_ids=[2, 2, 0, 1]))
    observations, *_ = local.step([2, 2, 0, 1])
    assert step.success and texts(step.observations) == texts(observations)


@pytest.mark.parametrize(
    ("request_kwargs", "needle"),
    [
        ({"actions": ["turn left", "fly", "go forward", "drop"]}, "env 1: "),
        ({"actions": ["turn left"]}, "got 1 actions for a batch of 4"),
        ({"actions": ["drop"] * 4, "action_ids": [0] * 4}, "not both"),
        ({"action_ids": [0, 1, 9, 2]}, "env 2: "),
    ],
)
def test_bad_step_requests_are_refused_and_change_nothing(client, request_kwargs, needle):
    start = call(client, client.reset, TextEnvReset.Request())
    bad = call(client, client.step, TextEnvStep.Request(**request_kwargs))
    assert not bad.success and needle in bad.message
    # the batch was not stepped: a good step now equals a first step from the reset
    good = call(client, client.step, TextEnvStep.Request(action_ids=[2] * N))
    local = VectorBabyAITextEnv(LEVEL, N, base_seed=SEED)
    assert texts(local.reset(base_seed=SEED)) == texts(start.observations)
    observations, *_ = local.step([2] * N)
    assert good.success and texts(good.observations) == texts(observations)


@pytest.mark.parametrize(
    ("request_kwargs", "needle"),
    [
        ({"level": "GoToMars"}, "GoToMars"),
        ({"variant": "klingon"}, "unknown variant 'klingon'"),
        ({"seeds": [1, 2]}, "got 2 seeds for 4 environments"),
        ({"seeds": [1, 2, 3, -4]}, "non-negative"),
    ],
)
def test_bad_reset_requests_are_refused_and_keep_the_batch(client, request_kwargs, needle):
    bad = call(client, client.reset, TextEnvReset.Request(**request_kwargs))
    assert not bad.success and needle in bad.message
    again = call(client, client.reset, TextEnvReset.Request())
    assert again.success and again.level == "GoToRedBall" and len(again.observations) == N


def test_rebuild_with_level_variant_size_and_seeds(client):
    reply = call(
        client,
        client.reset,
        TextEnvReset.Request(
            level="BabyAI-GoToLocal-v0", variant="french", num_envs=2, seeds=[5, 6]
        ),
    )
    assert reply.success, reply.message
    assert reply.level == "GoToLocal" and reply.variant == "french"
    expected = [BabyAITextEnv("GoToLocal", seed=s, variant="french").reset() for s in (5, 6)]
    assert texts(reply.observations) == texts(expected)
    assert "tourner à gauche" in " ".join(reply.action_space)
    # back to the original batch for the other tests
    back = call(client, client.reset, TextEnvReset.Request(level=LEVEL, variant="none", num_envs=N))
    assert back.success and len(back.observations) == N


def test_bot_episodes_over_ros_succeed_and_publish_stats(client):
    stats: list[TextEpisodeStats] = []
    client.node.create_subscription(
        TextEpisodeStats, "/babyai_text_env/episode_stats", stats.append, 100
    )
    seeds = [SEED + i for i in range(N)]
    reply = call(client, client.reset, TextEnvReset.Request(seeds=seeds))
    assert reply.success
    plans = [run_expert(LEVEL, seed=s).actions for s in seeds]
    longest = max(len(p) for p in plans)
    ended_at: dict[int, int] = {}
    for t in range(longest):
        # after its episode ends an env keeps turning (that starts its next episode)
        actions = [plan[t] if t < len(plan) else 0 for plan in plans]
        step = call(client, client.step, TextEnvStep.Request(action_ids=actions))
        assert step.success, step.message
        for i, (done, success) in enumerate(zip(step.dones, step.successes, strict=True)):
            if done and i not in ended_at:
                assert success and step.rewards[i] > 0
                assert step.observations[i].episode_start
                ended_at[i] = t + 1
    assert ended_at == {i: len(p) for i, p in enumerate(plans)}
    assert client.spin_until(lambda: len(stats) >= N, 10.0)
    by_env = {s.env_index: s for s in stats[-N:]}
    for i, plan in enumerate(plans):
        assert by_env[i].success and by_env[i].length == len(plan)
        assert by_env[i].level == "GoToRedBall"
        assert by_env[i].episode_return == pytest.approx(1 - 0.9 * len(plan) / 64)

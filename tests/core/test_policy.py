"""The language-conditioned policy (MISSION B4): config, grid, model, save/load, bytes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from grounded_core.data.checkpoints import CheckpointError
from grounded_core.policy.config import PolicyConfig, PolicyConfigError, load_policy_config
from grounded_core.policy.grid import ActionGrid
from grounded_core.policy.io import from_bytes, load_policy, save_policy, to_bytes
from grounded_core.policy.model import GoalPolicy, PolicyInput
from grounded_core.policy.text import HashingTextEncoder, SentenceTextEncoder

GOALS = [
    "The robot is grasping the red object",
    "The red object is on top of the blue object",
]


def small_config(**changes) -> PolicyConfig:
    base = {"text_encoder": "hashing", "text_dim": 32, "d_model": 32, "n_heads": 2}
    return PolicyConfig(**{**base, **changes})


def make_inputs(n: int, seed: int = 0) -> PolicyInput:
    rng = np.random.default_rng(seed)
    objects = rng.uniform([0.38, -0.12, 0.025], [0.62, 0.12, 0.025], (n, 3, 3))
    ee = np.tile([0.5, 0.0, 0.18], (n, 1))
    gripper = np.tile([0.08, 0.0], (n, 1))
    return PolicyInput(objects, ee, gripper)


def trained_policy(config: PolicyConfig | None = None) -> GoalPolicy:
    torch.manual_seed(0)
    policy = GoalPolicy(config or small_config())
    # Give the weights non-trivial values (the head starts at zero = uniform policy).
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.3 * torch.randn_like(p))
    policy.eval()
    return policy


# ---------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"d_model": 30, "n_heads": 4}, "divisible"),
        ({"grid": (1, 30)}, "grid"),
        ({"grid": (30,)}, "grid"),
        ({"workspace_x": (0.6, 0.4)}, "workspace_x"),
        ({"text_encoder": "bert"}, "text_encoder"),
        ({"text_encoder": "sentence", "text_dim": 64}, "384"),
        ({"dropout": 1.5}, "dropout"),
        ({"n_layers": 0}, "n_layers"),
        ({"n_layers": True}, "n_layers"),
        ({"action_head": "gauss"}, "action_head"),
        ({"pointer_sigma": 0.0}, "pointer_sigma"),
        ({"label_sigma_cells": -1}, "label_sigma_cells"),
    ],
)
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(PolicyConfigError, match=match):
        PolicyConfig(**{"text_encoder": "hashing", "text_dim": 32, **changes})


def test_config_json_round_trip_and_unknown_field():
    config = small_config(grid=(10, 12))
    assert PolicyConfig.from_json(config.to_json()) == config
    with pytest.raises(PolicyConfigError, match="unknown"):
        PolicyConfig.from_dict({"d_modle": 3})
    with pytest.raises(PolicyConfigError, match="JSON"):
        PolicyConfig.from_json("{not json")


def test_shipped_policy_yaml_loads(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    config = load_policy_config(root / "config" / "policy.yaml")
    assert config == PolicyConfig()  # the file documents the defaults
    bad = tmp_path / "p.yaml"
    bad.write_text("policy:\n  grid: [0, 3]\n")
    with pytest.raises(PolicyConfigError, match=str(bad)):
        load_policy_config(bad)


# ---------------------------------------------------------------------- grid


def test_grid_index_and_centres_round_trip():
    grid = ActionGrid((0.35, 0.65), (-0.15, 0.15), 30, 30)
    centres = grid.centres()
    assert centres.shape == (900, 2)
    np.testing.assert_array_equal(grid.index_of(centres), np.arange(900))
    np.testing.assert_allclose(grid.xy_of(np.arange(900)), centres)
    assert grid.index_of([0.65, 0.15]) == 899  # the far corner belongs to the last cell
    jittered = grid.xy_of(np.full(200, 17), np.random.default_rng(0))
    assert np.all(grid.index_of(jittered) == 17)
    with pytest.raises(ValueError, match="outside"):
        grid.index_of([0.9, 0.0])
    targets = grid.soft_targets([0, 450], 1.0)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-5)
    assert targets[1].argmax() == 450


# ---------------------------------------------------------------------- model


def test_untrained_policy_is_uniform_random():
    for head in ("pointer", "grid"):
        torch.manual_seed(0)
        policy = GoalPolicy(small_config(action_head=head, init_free_logit=30.0))
        probs = policy.probabilities(GOALS, make_inputs(2))
        np.testing.assert_allclose(probs, 1.0 / 900, rtol=1e-4)


def test_sample_vs_mode():
    policy = trained_policy()
    inputs = make_inputs(1)
    mode = policy.act(GOALS[:1], inputs, mode=True)
    again = policy.act(GOALS[:1], inputs, mode=True)
    np.testing.assert_array_equal(mode, again)  # the mode is deterministic
    probs = policy.probabilities(GOALS[:1], inputs)[0]
    np.testing.assert_allclose(mode[0], policy.grid.xy_of(int(np.argmax(probs))))
    rng = np.random.default_rng(0)
    samples = np.concatenate(
        [policy.act(GOALS[:1], inputs, rng=rng, temperature=3.0) for _ in range(60)]
    )
    assert len({tuple(np.round(s, 6)) for s in samples}) > 10  # samples spread out
    cells = policy.grid.index_of(samples)
    assert probs[cells].mean() > 1.0 / 900  # ... but follow the distribution
    with pytest.raises(ValueError, match="rng"):
        policy.act(GOALS[:1], inputs)
    with pytest.raises(ValueError, match="temperature"):
        policy.act(GOALS[:1], inputs, rng=rng, temperature=0.0)


def test_goal_changes_the_distribution_and_bad_input_is_rejected():
    policy = trained_policy()
    inputs = make_inputs(1)
    a, b = (policy.probabilities([g], inputs) for g in GOALS)
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="goals"):
        policy.logits(GOALS, inputs)
    with pytest.raises(ValueError, match="NaN"):
        PolicyInput(np.full((1, 3, 3), np.nan), np.zeros((1, 3)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="objects"):
        PolicyInput(np.zeros((1, 3, 2)), np.zeros((1, 3)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        policy.probabilities([""], inputs)


def test_policy_learns_to_point_at_the_named_object():
    """A few gradient steps of BC on 'grasp X -> X's position' generalise to new layouts."""
    from grounded_core.learning.buffers import BCDataset
    from grounded_core.learning.goal_bc import GoalBCTrainer

    torch.manual_seed(0)
    policy = GoalPolicy(small_config())
    names = ["red", "green", "blue"]
    rng = np.random.default_rng(1)

    def data(n):
        inputs = make_inputs(n, seed=int(rng.integers(1000)))
        which = rng.integers(0, 3, n)
        goals = [f"The robot is grasping the {names[i]} object" for i in which]
        return goals, inputs, inputs.objects[np.arange(n), which, :2]

    goals, inputs, targets = data(30)
    trainer = GoalBCTrainer(policy, lr=3e-3, batch_size=32, seed=0)
    trainer.fit(BCDataset(goals, inputs.objects, inputs.ee, inputs.gripper, targets), 80)
    test_goals, test_inputs, test_targets = data(50)
    actions = policy.act(test_goals, test_inputs, mode=True)
    accuracy = np.mean(np.linalg.norm(actions - test_targets, axis=1) < 0.02)
    assert accuracy >= 0.9


def test_forward_with_weights_matches_forward_and_exposes_the_mixture():
    policy = trained_policy()
    inputs = make_inputs(5)
    goals = policy.goal_embeddings(GOALS[:1] * 5)
    args = [torch.from_numpy(x) for x in (inputs.objects, inputs.ee, inputs.gripper)]
    logp, mix = policy.forward_with_weights(goals, *args)
    torch.testing.assert_close(logp, policy(goals, *args))
    assert mix.shape == (5, 1 + 3)
    torch.testing.assert_close(mix.exp().sum(-1), torch.ones(5))
    grid_policy = trained_policy(small_config(action_head="grid"))
    assert grid_policy.forward_with_weights(goals, *args)[1] is None


def _few_shot_stacking_accuracy(**trainer_options) -> float:
    """Train on 40 'grasp red' + 4 'red on blue' demos; held-out 'red on blue' accuracy."""
    from grounded_core.learning.buffers import BCDataset
    from grounded_core.learning.goal_bc import GoalBCTrainer

    grasp, stack = GOALS[0], "The red object is on top of the blue object"
    torch.manual_seed(0)
    policy = GoalPolicy(small_config())
    rng = np.random.default_rng(0)
    a, b = make_inputs(40, seed=10), make_inputs(4, seed=20)
    objects = np.concatenate([a.objects, b.objects])
    actions = np.concatenate([a.objects[:, 0, :2], b.objects[:, 2, :2]])
    actions = actions + rng.uniform(-0.005, 0.005, actions.shape)
    data = BCDataset(
        [grasp] * 40 + [stack] * 4,
        objects,
        np.concatenate([a.ee, b.ee]),
        np.concatenate([a.gripper, b.gripper]),
        actions,
    )
    trainer = GoalBCTrainer(policy, lr=3e-3, batch_size=64, seed=0, **trainer_options)
    trainer.fit(data, 300)
    test = make_inputs(50, seed=99)
    chosen = policy.act([stack] * 50, test, mode=True)
    return float(np.mean(np.linalg.norm(chosen - test.objects[:, 2, :2], axis=1) < 0.02))


def test_pointer_supervision_and_shift_augmentation_generalise_from_four_demos():
    """The regression behind issue 7 exp. 1: 4 stacking demos, new layouts.

    Plain BC fits the 4 demos through the free categorical (measured: 12% held-out
    accuracy with this seed); pointer supervision + translation augmentation point at
    the blue object's token instead.
    """
    plain = _few_shot_stacking_accuracy()
    fixed = _few_shot_stacking_accuracy(pointer_aux_weight=1.0, shift_augment=0.05)
    assert fixed >= 0.9
    assert fixed >= plain + 0.3


def test_pointer_targets_and_shifts():
    from grounded_core.learning.goal_bc import GoalBCTrainer

    policy = GoalPolicy(small_config())
    trainer = GoalBCTrainer(policy, seed=0, pointer_aux_radius=0.02, shift_augment=0.05)
    objects = np.array([[[0.40, 0.0, 0.02], [0.50, 0.0, 0.02], [0.60, 0.0, 0.02]]] * 3)
    actions = np.array([[0.505, 0.01], [0.45, 0.0], [0.61, -0.01]])
    np.testing.assert_array_equal(trainer.pointer_targets(objects, actions), [2, 0, 3])
    shifts = trainer.shifts(objects, actions)
    assert shifts.shape == (3, 2) and np.all(np.abs(shifts) <= 0.05)
    moved = np.concatenate([objects[:, :, :2], actions[:, None]], 1) + shifts[:, None]
    assert np.all(moved[..., 0] >= 0.35) and np.all(moved[..., 0] <= 0.65)
    assert np.any(shifts != 0)
    assert not np.any(GoalBCTrainer(policy).shifts(objects, actions))
    for bad in ({"pointer_aux_weight": -1.0}, {"pointer_aux_radius": 0.0}, {"shift_augment": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            GoalBCTrainer(policy, **bad)


# ---------------------------------------------------------------------- persistence


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    policy = trained_policy()
    inputs = make_inputs(4)
    goals = GOALS * 2
    path = save_policy(policy, tmp_path / "ckpt", version=3, extra={"note": "x"})
    loaded, manifest = load_policy(tmp_path / "ckpt")  # the root: newest checkpoint
    assert manifest["policy"]["version"] == 3 and manifest["extra"] == {"note": "x"}
    assert loaded.config == policy.config
    with torch.no_grad():
        torch.testing.assert_close(loaded.logits(goals, inputs), policy.logits(goals, inputs))
    again, _ = load_policy(path)  # the folder itself
    np.testing.assert_array_equal(
        again.act(goals, inputs, mode=True), policy.act(goals, inputs, mode=True)
    )
    assert not list((tmp_path / "ckpt").glob(".tmp-*"))  # atomic: no leftovers
    with pytest.raises(CheckpointError):
        load_policy(tmp_path / "empty")


def test_bytes_round_trip_and_integrity():
    policy = trained_policy()
    inputs = make_inputs(3)
    goals = [GOALS[0]] * 3
    blob = to_bytes(policy, version=7)
    assert blob.format == "safetensors" and blob.version == 7 and len(blob.sha256) == 64
    copy = from_bytes(blob)
    np.testing.assert_array_equal(
        copy.probabilities(goals, inputs), policy.probabilities(goals, inputs)
    )
    fresh = GoalPolicy(policy.config)
    from_bytes(blob, into=fresh)
    np.testing.assert_array_equal(
        fresh.probabilities(goals, inputs), policy.probabilities(goals, inputs)
    )
    with pytest.raises(ValueError, match="SHA-256"):
        from_bytes(dataclasses.replace(blob, data=blob.data[:-1] + b"\0"))
    with pytest.raises(ValueError, match="format"):
        from_bytes(dataclasses.replace(blob, format="pickle"))
    other = GoalPolicy(small_config(d_model=64))
    with pytest.raises(ValueError, match="different policy configuration"):
        from_bytes(blob, into=other)
    with pytest.raises(ValueError, match="version"):
        to_bytes(policy, version=-1)


# ---------------------------------------------------------------------- text encoders


def test_hashing_encoder_is_deterministic_and_cached():
    enc = HashingTextEncoder(64)
    a = enc.encode(GOALS)
    b = HashingTextEncoder(64).encode(GOALS)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(a[0], a[1])
    with pytest.raises(TypeError):
        enc.encode("one string")


@pytest.mark.slow  # loads all-MiniLM-L6-v2: ~6 s idle, 30+ s on a loaded 2-core machine
def test_sentence_encoder_embeds_captions_offline():
    enc = SentenceTextEncoder()
    emb = enc.encode([*GOALS, GOALS[0]])
    assert emb.shape == (3, 384)
    np.testing.assert_array_equal(emb[0], emb[2])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-4)
    assert float(emb[0] @ emb[1]) < 0.99  # different sub-goals, different embeddings

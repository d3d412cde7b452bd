"""Value head, action-heads baseline and NPAE initialisation (MISSION A3)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from grounded_core.babyai_text import ACTIONS, SYNONYM_ACTIONS
from grounded_core.llm import (
    ActionHeadPolicy,
    ActionScorer,
    CheckpointError,
    MLPHead,
    ScoringInputError,
    ValueHead,
    load_model_and_tokenizer,
    reinitialize_model,
)
from grounded_core.llm.prompts import collect_prompts


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("llm-cache")


@pytest.fixture(scope="module")
def prompts():
    return collect_prompts("GoToLocal", 4, seed=5, num_envs=2)


def test_value_head_is_glams_mlp():
    head = ValueHead(64)
    layers = list(head.net)
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"]
    shapes = [(m.in_features, m.out_features) for m in layers if isinstance(m, torch.nn.Linear)]
    assert shapes == [(64, 1024), (1024, 1024), (1024, 1)]
    assert all(p.dtype == torch.float32 for p in head.parameters())
    out = head(torch.randn(5, 64, dtype=torch.bfloat16))  # fp32 whatever the LLM's dtype
    assert out.shape == (5,) and out.dtype == torch.float32


def test_heads_save_and_load(tmp_path):
    a, b = MLPHead(8, 3, inner=16), MLPHead(8, 3, inner=16)
    a.save(tmp_path / "h.safetensors")
    b.load(tmp_path / "h.safetensors")
    x = torch.randn(2, 8)
    torch.testing.assert_close(a(x), b(x))
    with pytest.raises(ValueError, match="positive"):
        MLPHead(0, 3)


@pytest.mark.parametrize("name", ["tiny-t5", "tiny-llama"])
def test_action_head_policy_reads_the_decision_state(cache, prompts, name):
    policy = ActionHeadPolicy.from_pretrained(name, cache_dir=cache)
    assert policy.action_names == ACTIONS
    states = policy.decision_states(prompts)
    out = policy.predict(prompts)
    assert out.scores.shape == (len(prompts), len(ACTIONS))
    with torch.inference_mode():
        torch.testing.assert_close(out.scores, policy.action_head(states), atol=1e-5, rtol=0)
        torch.testing.assert_close(out.values, policy.value_head(states), atol=1e-5, rtol=0)
    # The value head reads the same state as ActionScorer's (decoder pos 0 / last token).
    scorer = ActionScorer(policy.model, policy.tokenizer, value_head=policy.value_head)
    torch.testing.assert_close(scorer.value(prompts), out.values, atol=1e-5, rtol=0)


def test_action_head_policy_trains_and_round_trips(cache, prompts, tmp_path):
    policy = ActionHeadPolicy.from_pretrained("tiny-t5", cache_dir=cache, action_names=ACTIONS)
    policy.train()
    out = policy(prompts, ACTIONS, with_value=True)
    assert out.scores.requires_grad and out.values.requires_grad
    (out.log_probs()[:, 1].sum() + out.values.sum()).backward()
    assert all(p.grad is not None for p in policy.action_head.parameters())
    torch.optim.SGD(policy.parameters(), lr=0.5).step()
    want = policy.predict(prompts)

    saved = policy.save_pretrained(tmp_path / "heads")
    assert (saved / "action_head.safetensors").is_file()
    again = ActionHeadPolicy.from_pretrained(saved)
    assert again.action_names == ACTIONS
    got = again.predict(prompts)
    torch.testing.assert_close(got.scores, want.scores, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.values, want.values, atol=1e-6, rtol=0)
    with pytest.raises(CheckpointError, match="trained for"):
        ActionHeadPolicy.from_pretrained(saved, action_names=SYNONYM_ACTIONS)


def test_action_head_policy_only_scores_its_own_actions(cache, prompts):
    policy = ActionHeadPolicy.from_pretrained("tiny-llama", cache_dir=cache)
    assert policy.score(prompts, [list(ACTIONS)] * len(prompts)).shape == (4, 6)
    with pytest.raises(ScoringInputError, match="fixed actions"):
        policy.score(prompts, SYNONYM_ACTIONS)
    with pytest.raises(ValueError, match="duplicates"):
        ActionHeadPolicy(policy.model, policy.tokenizer, ["drop", "drop"])


def test_npae_keeps_only_the_token_embeddings(cache):
    model = load_model_and_tokenizer("tiny-t5", cache_dir=cache).model
    with torch.no_grad():  # make every weight look "trained" (off its initial value)
        for param in model.parameters():
            param.add_(0.01)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reinitialize_model(model, keep_embeddings=True, seed=1)
    after = model.state_dict()
    # Parameters that are the embedding matrix itself: the T5 stacks share it, and the
    # output projection is tied to it (transformers 5.x always ties T5's lm_head).
    pointer = model.get_input_embeddings().weight.data_ptr()
    tied = {n for n, t in model.state_dict(keep_vars=True).items() if t.data_ptr() == pointer}
    assert "shared.weight" in tied
    unchanged = {k for k in before if torch.equal(before[k], after[k])}
    assert unchanged == tied  # everything else was re-drawn


def test_init_modes_through_from_pretrained(cache, prompts):
    pretrained = ActionScorer.from_pretrained("tiny-llama", cache_dir=cache)
    npae = ActionScorer.from_pretrained("tiny-llama", cache_dir=cache, init="npae", seed=2)
    npae_again = ActionScorer.from_pretrained("tiny-llama", cache_dir=cache, init="npae", seed=2)
    random = ActionScorer.from_pretrained("tiny-llama", cache_dir=cache, init="random", seed=2)
    emb = pretrained.model.get_input_embeddings().weight
    assert torch.equal(npae.model.get_input_embeddings().weight, emb)
    assert not torch.equal(random.model.get_input_embeddings().weight, emb)
    layer = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(npae.model.state_dict()[layer], pretrained.model.state_dict()[layer])
    torch.testing.assert_close(npae.score(prompts, ACTIONS), npae_again.score(prompts, ACTIONS))
    with pytest.raises(ValueError, match="unknown init"):
        ActionScorer.from_pretrained("tiny-llama", cache_dir=cache, init="bogus")

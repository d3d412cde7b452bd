"""GLAM's action scoring (MISSION A3): equal to the naive computation, with reuse.

For a seq2seq model (tiny T5) and two decoder-only ones (tiny Llama with grouped-query
attention and rotary positions, tiny GPT-2 with learned positions) the batched scorer
must equal one full forward per (prompt, action) pair, for shared and per-prompt action
lists and any minibatch size, while running the prompt part only once per minibatch.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from grounded_core.babyai_text import ACTIONS
from grounded_core.learning.policy_loading import set_dropout
from grounded_core.llm import (
    DEFAULT_MAX_BATCH_TOKENS,
    ActionScorer,
    ScoringInputError,
    load_model_and_tokenizer,
    naive_score,
)
from grounded_core.llm.checkpoint import METADATA_FILE
from grounded_core.llm.prompts import collect_prompts

MODELS = ("tiny-t5", "tiny-llama", "tiny-gpt2")
# The T5 scorer takes the fused path (llm/fused_t5.py) by default on the CPU;
# "tiny-t5-hf" is the same model through the Hugging Face forward (fused=False).
SCORERS = (*MODELS, "tiny-t5-hf")
# Mixed token counts: 1 ("drop"), 2 ("turn left") and 5 ("pick up the red ball").
CANDIDATES = [*ACTIONS, "pick up the red ball"]
ATOL = 1e-4


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("llm-cache")


@pytest.fixture(scope="module")
def prompts():
    real = collect_prompts("MixedTrainLocal", 6, seed=11, num_envs=3)
    return [*real, "Goal of the agent: go to the red ball \n Observation 0: ", "turn"]


@pytest.fixture(scope="module")
def scorers(cache):
    built = {name: ActionScorer.from_pretrained(name, cache_dir=cache) for name in MODELS}
    built["tiny-t5-hf"] = ActionScorer.from_pretrained("tiny-t5", cache_dir=cache, fused=False)
    return built


def _naive(scorer, prompts, actions):
    return naive_score(scorer.model, scorer.tokenizer, prompts, actions)


@pytest.mark.parametrize("name", SCORERS)
def test_equals_naive_with_shared_actions(scorers, prompts, name):
    scorer = scorers[name]
    scorer.max_batch_tokens = 400  # several minibatches
    got = scorer.score(prompts, CANDIDATES)
    want = _naive(scorer, prompts, CANDIDATES)
    assert got.shape == (len(prompts), len(CANDIDATES))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    assert bool((got < 0).all())


@pytest.mark.parametrize("name", SCORERS)
def test_equals_naive_with_per_prompt_actions(scorers, prompts, name):
    scorer = scorers[name]
    per_prompt = [CANDIDATES[i % 4 :] + CANDIDATES[: i % 4] for i in range(len(prompts))]
    per_prompt[0] = ["drop", "toggle", "drop", "go forward", "take", "open the door", "x"]
    got = scorer.score(prompts, per_prompt)
    torch.testing.assert_close(got, _naive(scorer, prompts, per_prompt), atol=ATOL, rtol=0)


@pytest.mark.parametrize("unpadded", [True, False])
def test_seq2seq_encoder_modes_give_the_same_scores(cache, prompts, unpadded):
    scorer = ActionScorer.from_pretrained("tiny-t5", cache_dir=cache, unpadded_encoder=unpadded)
    assert scorer.unpadded_encoder is unpadded
    got = scorer.score(prompts, CANDIDATES)
    torch.testing.assert_close(got, _naive(scorer, prompts, CANDIDATES), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", SCORERS)
def test_minibatch_size_does_not_change_scores(scorers, prompts, name):
    scorer = scorers[name]
    scorer.max_batch_tokens = 1  # every prompt alone
    alone = scorer.score(prompts, CANDIDATES)
    scorer.max_batch_tokens = 10**7  # everything in one minibatch
    together = scorer.score(prompts, CANDIDATES)
    torch.testing.assert_close(alone, together, atol=ATOL, rtol=0)


def test_minibatches_respect_the_token_budget_and_padding_limit(scorers):
    causal, seq2seq = scorers["tiny-llama"], scorers["tiny-t5"]
    lengths = [50, 100, 10, 90]
    causal.max_batch_tokens = 10**6
    # Longest first; padded prompts group only with lengths >= 75% of the longest.
    assert causal.plan_batches(lengths, lambda n: n) == [[1, 3], [0], [2]]
    causal.max_batch_tokens = 150
    assert causal.plan_batches(lengths, lambda n: n) == [[1], [3], [0], [2]]
    # The unpadded T5 encoder makes padding cheap: only the budget splits.
    assert seq2seq.unpadded_encoder
    seq2seq.max_batch_tokens = 150
    assert seq2seq.plan_batches(lengths, lambda n: n) == [[1], [3], [0, 2]]
    causal.max_batch_tokens = seq2seq.max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS


def test_policy_is_the_softmax_of_the_scores(scorers, prompts):
    scorer = scorers["tiny-t5"]
    probs = scorer.policy(prompts, ACTIONS)
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(prompts)))
    torch.testing.assert_close(probs, torch.softmax(scorer.score(prompts, ACTIONS), -1))
    out = scorer.predict(prompts, ACTIONS)
    torch.testing.assert_close(out.probs(), probs)
    torch.testing.assert_close(out.log_probs().exp(), probs)
    assert out.distribution().probs.shape == (len(prompts), len(ACTIONS))


def _count_calls(module):
    """Record the keyword arguments of every forward of ``module`` (and the cache length
    at call time: the cache object grows in place during the call)."""
    calls = []

    def hook(mod, args, kwargs):
        past = kwargs.get("past_key_values")
        calls.append({**kwargs, "past_length": None if past is None else past.get_seq_length()})

    return calls, module.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_decoder_only_reuses_the_prompt_cache(scorers, prompts, name):
    scorer = scorers[name]
    scorer.max_batch_tokens, scorer.max_padding_fraction = 10**7, 1.0  # one minibatch
    calls, handle = _count_calls(scorer.model)
    try:
        scorer.score(prompts, CANDIDATES)
    finally:
        handle.remove()
        scorer.max_padding_fraction = 0.25
    # One pass over all prompts, then one pass over the multi-token actions only.
    assert len(calls) == 2
    prompt_call, action_call = calls
    width = prompt_call["input_ids"].shape[1]
    assert prompt_call["input_ids"].shape[0] == len(prompts)
    multi = sum(len(scorer.tokenize_actions([a])[0]) > 1 for a in CANDIDATES)
    assert action_call["input_ids"].shape == (len(prompts) * multi, 4)  # longest action - 1
    assert action_call["past_length"] == width


def test_seq2seq_encodes_each_prompt_once(cache, prompts):
    scorer = ActionScorer.from_pretrained(
        "tiny-t5", cache_dir=cache, unpadded_encoder=False, fused=False
    )
    scorer.max_batch_tokens, scorer.max_padding_fraction = 10**7, 1.0  # one minibatch
    encoder_calls, h1 = _count_calls(scorer.model.get_encoder())
    model_calls, h2 = _count_calls(scorer.model)
    try:
        scorer.score(prompts, CANDIDATES)
    finally:
        h1.remove()
        h2.remove()
    assert len(encoder_calls) == 1 and encoder_calls[0]["input_ids"].shape[0] == len(prompts)
    # Decoder start token for all prompts, then the multi-token actions from the cache;
    # the encoder output is passed in, never recomputed.
    assert len(model_calls) == 2
    assert all(c.get("input_ids") is None for c in model_calls)
    assert model_calls[0]["decoder_input_ids"].shape == (len(prompts), 1)
    assert model_calls[1]["past_length"] == 1  # the decoder start token


def test_fused_t5_skips_the_hugging_face_forward_and_matches_it(scorers, prompts):
    fused, plain = scorers["tiny-t5"], scorers["tiny-t5-hf"]
    assert fused.fused and not plain.fused
    model_calls, handle = _count_calls(fused.model)
    try:
        got = fused.predict(prompts, CANDIDATES, with_value=True)
    finally:
        handle.remove()
    assert model_calls == []  # the model's own modules, not its forward
    want = plain.predict(prompts, CANDIDATES, with_value=True)
    torch.testing.assert_close(got.scores, want.scores, atol=ATOL, rtol=0)
    torch.testing.assert_close(got.values, want.values, atol=1e-5, rtol=0)
    # Scoring again reuses the cached position bias and gives the same numbers.
    torch.testing.assert_close(fused.score(prompts, CANDIDATES), got.scores, atol=0, rtol=0)


def test_fused_t5_only_without_active_dropout(cache):
    scorer = ActionScorer.from_pretrained("tiny-t5", cache_dir=cache)  # dropout 0.1
    scorer.train()
    try:
        assert not scorer.fused  # train mode with dropout: the Hugging Face forward
        set_dropout(scorer, 0.0)
        assert scorer.fused  # train mode without dropout: the same math, fused
    finally:
        scorer.eval()
    with pytest.raises(ValueError, match="needs a T5 model"):
        ActionScorer.from_pretrained("tiny-llama", cache_dir=cache, fused=True)


def test_single_token_actions_need_a_single_pass(scorers, prompts):
    scorer = scorers["tiny-llama"]
    scorer.max_batch_tokens, scorer.max_padding_fraction = 10**7, 1.0  # one minibatch
    calls, handle = _count_calls(scorer.model)
    try:
        got = scorer.score(prompts, ["drop", "toggle"])
    finally:
        handle.remove()
        scorer.max_padding_fraction = 0.25
    assert len(calls) == 1 and not calls[0]["use_cache"]
    torch.testing.assert_close(got, _naive(scorer, prompts, ["drop", "toggle"]), atol=ATOL, rtol=0)


def _naive_with_grad(scorer, prompts, actions):
    """Full forward per pair with the graph (eval mode), as a gradient reference."""
    tok, model = scorer.tokenizer, scorer.model
    rows = []
    for prompt in prompts:
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        row = []
        for action in actions:
            a = tok(action, add_special_tokens=False)["input_ids"]
            if scorer.kind == "seq2seq":
                start = scorer.decoder_start_token_id
                logits = model(
                    input_ids=torch.tensor([p]), decoder_input_ids=torch.tensor([[start, *a[:-1]]])
                ).logits[0]
            else:
                logits = model(input_ids=torch.tensor([p + a[:-1]])).logits[0, len(p) - 1 :]
            logp = torch.log_softmax(logits, -1)
            row.append(logp[torch.arange(len(a)), torch.tensor(a)].sum())
        rows.append(torch.stack(row))
    return torch.stack(rows)


@pytest.mark.parametrize("name", ["tiny-t5", "tiny-t5-hf", "tiny-llama"])
def test_gradients_through_reuse_equal_the_naive_ones(scorers, prompts, name):
    scorer = scorers[name]
    scorer.eval()  # no dropout, so both computations are deterministic
    few, actions = prompts[:2], ["turn left", "drop", "pick up the red ball"]
    weights = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.7, -1.0]])
    params = [p for p in scorer.model.parameters() if p.requires_grad]

    scorer.zero_grad()
    (scorer(few, actions).scores * weights).sum().backward()
    ours = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params]
    scorer.zero_grad()
    (_naive_with_grad(scorer, few, actions) * weights).sum().backward()
    theirs = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params]
    scorer.zero_grad()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", SCORERS)
def test_forward_gives_scores_and_values_with_the_graph(scorers, prompts, name):
    scorer = scorers[name]
    scorer.train()
    try:
        out = scorer(prompts, ACTIONS, with_value=True)
        assert out.scores.shape == (len(prompts), len(ACTIONS))
        assert out.values.shape == (len(prompts),) and out.values.dtype == torch.float32
        assert out.scores.requires_grad and out.values.requires_grad
        scorer.zero_grad()
        (out.log_probs()[:, 0].sum() + out.values.sum()).backward()
        head_grads = [p.grad for p in scorer.value_head.parameters()]
        assert all(g is not None and bool(g.abs().sum() > 0) for g in head_grads)
        llm_grads = [p.grad for p in scorer.model.parameters() if p.grad is not None]
        assert llm_grads and any(bool(g.abs().sum() > 0) for g in llm_grads)
    finally:
        scorer.zero_grad()
        scorer.eval()


def test_acting_is_eval_mode_and_restores_the_training_mode(scorers, prompts):
    scorer = scorers["tiny-t5"]  # dropout 0.1
    scorer.train()
    try:
        first = scorer.score(prompts, ACTIONS)
        assert scorer.training and scorer.model.training
        torch.testing.assert_close(first, scorer.score(prompts, ACTIONS), atol=0, rtol=0)
        assert not first.requires_grad
        with torch.no_grad():
            a = scorer(prompts, ACTIONS).scores
            b = scorer(prompts, ACTIONS).scores
        assert not torch.allclose(a, b)  # train mode: dropout is on in forward
    finally:
        scorer.eval()


@pytest.mark.parametrize("name", SCORERS)
def test_value_matches_the_value_of_a_scoring_pass(scorers, prompts, name):
    scorer = scorers[name]
    from_scoring = scorer.predict(prompts, CANDIDATES, with_value=True).values
    torch.testing.assert_close(scorer.value(prompts), from_scoring, atol=1e-5, rtol=0)


def test_invalid_inputs_raise_clear_errors(scorers, prompts):
    scorer = scorers["tiny-llama"]
    with pytest.raises(ScoringInputError, match="same number of actions"):
        scorer.score(prompts[:2], [["turn left", "drop"], ["drop"]])
    with pytest.raises(ValueError, match="2 action lists for 3 prompts"):
        scorer.score(prompts[:3], [["drop"], ["drop"]])
    with pytest.raises(ValueError, match="got a string"):
        scorer.score(prompts, "turn left")
    with pytest.raises(ValueError, match="single string"):
        scorer.score("a prompt", ACTIONS)
    with pytest.raises(ValueError, match="empty"):
        scorer.score(prompts, [])
    with pytest.raises(ValueError, match="not a mix"):
        scorer.score(prompts[:2], ["drop", ["drop"]])
    with pytest.raises(ValueError, match="empty after tokenization"):
        scorer.score(["", "turn"], ACTIONS)
    with pytest.raises(ValueError, match="empty after tokenization"):
        scorer.score(prompts, ["drop", " "])
    no_head = ActionScorer(scorer.model, scorer.tokenizer, value_head=False)
    with pytest.raises(RuntimeError, match="no value head"):
        no_head.predict(prompts, ACTIONS, with_value=True)
    with pytest.raises(ValueError, match="positive"):
        ActionScorer(scorer.model, scorer.tokenizer, max_batch_tokens=0)


def test_pad_less_tokenizer_scores_with_eos_padding(cache, prompts):
    loaded = load_model_and_tokenizer("tiny-gpt2", cache_dir=cache)
    loaded.tokenizer.pad_token = None
    scorer = ActionScorer(loaded.model, loaded.tokenizer, max_batch_tokens=10**6)
    assert scorer.pad_is_eos and scorer.pad_token_id == loaded.tokenizer.eos_token_id
    got = scorer.score(prompts, CANDIDATES)
    torch.testing.assert_close(got, _naive(scorer, prompts, CANDIDATES), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["tiny-t5", "tiny-llama"])
def test_checkpoint_round_trip_restores_llm_and_value_head(cache, prompts, tmp_path, name):
    scorer = ActionScorer.from_pretrained(name, cache_dir=cache, max_batch_tokens=777, seed=3)
    scorer.train()
    optimizer = torch.optim.SGD(scorer.parameters(), lr=0.1)
    out = scorer(prompts, ACTIONS, with_value=True)
    (out.values.sum() - out.log_probs()[:, 2].sum()).backward()
    optimizer.step()
    want = scorer.predict(prompts, ACTIONS)

    saved = scorer.save_pretrained(tmp_path / "ckpt")
    assert (saved / "value_head.safetensors").is_file() and (saved / METADATA_FILE).is_file()
    again = ActionScorer.from_pretrained(saved)
    assert not again.training and again.max_batch_tokens == 777 and again.kind == scorer.kind
    got = again.predict(prompts, ACTIONS)
    torch.testing.assert_close(got.scores, want.scores, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.values, want.values, atol=1e-6, rtol=0)

    fresh_head = ActionScorer.from_pretrained(name, cache_dir=cache, seed=3)
    assert not torch.allclose(fresh_head.value(prompts), want.values)
    # Saving over an existing checkpoint replaces it completely.
    scorer.save_pretrained(saved)
    assert (saved / "value_head.safetensors").is_file()


def test_acting_outputs_can_enter_a_later_training_loss(scorers, prompts):
    """PPO stores acting-time log-probs and values and mixes them into its losses."""
    scorer = scorers["tiny-llama"]
    old = scorer.predict(prompts, ACTIONS)
    scorer.train()
    try:
        new = scorer(prompts, ACTIONS, with_value=True)
        ratio = torch.exp(new.log_probs()[:, 0] - old.log_probs()[:, 0])
        loss = (ratio * old.values).mean() + ((new.values - old.values) ** 2).mean()
        loss.backward()
        assert all(p.grad is not None for p in scorer.value_head.parameters())
    finally:
        scorer.zero_grad()
        scorer.eval()

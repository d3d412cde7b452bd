"""In-domain tuning of the planner LLM (MISSION B3): the instruction generator, LoRA
tuning end to end with the embedded tiny-llama, resume after a kill, loading the
adapter into the planner, and the CLI's errors."""

from __future__ import annotations

import os
import re

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from grounded_core.llm.planner import Planner
from grounded_core.llm.planner_config import PlannerConfig, resolve_adapter
from grounded_core.llm.planner_data import (
    SHAPES,
    InstructionGenerator,
    normalize_instruction,
)
from grounded_core.llm.planner_errors import PlannerConfigError
from grounded_core.llm.planner_space import PlanSpace
from grounded_core.llm.planner_tune_cli import main as tune_main
from grounded_core.llm.planner_tuning import (
    TuningConfig,
    merge_adapter,
    read_tuning_metadata,
    tune_planner,
)
from grounded_core.tabletop.captions import caption_list, parse_caption

OBJECTS = ["red", "green", "blue"]
SPACE = PlanSpace(caption_list(OBJECTS))
# Wordings that name the lower object first ("put the blue under the red").
REVERSED = re.compile(r"\b(under|beneath|below|underneath|cover|as the base for|support|hold up)\b")


# --- the generator -------------------------------------------------------------------------


def test_every_generated_plan_is_executable_and_every_shape_appears():
    examples = InstructionGenerator(OBJECTS, seed=3).examples(400)
    assert all(SPACE.is_valid(list(e.plan)) for e in examples)
    assert {e.shape for e in examples} == set(SHAPES)
    lengths = {"grasp": 1, "stack": 2, "stack_grasp": 3, "tower": 4}
    assert all(len(e.plan) == lengths[e.shape] for e in examples)
    assert len({e.instruction for e in examples}) > 300  # varied texts


def test_generation_is_deterministic_per_seed():
    a = [e.instruction for e in InstructionGenerator(OBJECTS, seed=5).examples(50)]
    b = [e.instruction for e in InstructionGenerator(OBJECTS, seed=5).examples(50)]
    c = [e.instruction for e in InstructionGenerator(OBJECTS, seed=6).examples(50)]
    assert a == b and a != c


def test_single_stack_texts_name_the_right_object_first():
    """The moved object is named first, except in wordings from the lower object's side."""
    generator = InstructionGenerator(OBJECTS, seed=11, shape_weights={"stack": 1.0})
    for example in generator.examples(300):
        top, bottom = parse_caption(example.plan[1]).objects
        text = example.instruction.lower()
        first = min(OBJECTS, key=lambda o: text.find(o) if o in text else len(text))
        expected_first = bottom if REVERSED.search(text) else top
        assert first == expected_first, example
        assert {top, bottom} <= set(re.findall(r"red|green|blue", text))


def test_grasp_texts_name_only_the_grasped_object():
    generator = InstructionGenerator(OBJECTS, seed=2, shape_weights={"grasp": 1.0})
    for example in generator.examples(100):
        (held,) = parse_caption(example.plan[0]).objects
        assert set(re.findall(r"red|green|blue", example.instruction.lower())) == {held}


def test_exclude_drops_evaluation_texts_after_normalising():
    generator = InstructionGenerator(OBJECTS, seed=0)
    drawn = [e.instruction for e in generator.examples(200)]
    banned = [t.upper() + "!!" for t in drawn[:50]]  # same text up to case and punctuation
    kept = InstructionGenerator(OBJECTS, seed=0).examples(200, exclude=banned)
    banned_keys = {normalize_instruction(t) for t in banned}
    assert not banned_keys & {normalize_instruction(e.instruction) for e in kept}


def test_two_objects_give_no_three_object_shapes_and_bad_input_is_refused():
    shapes = {e.shape for e in InstructionGenerator(["a", "b"], seed=0).examples(50)}
    assert shapes == {"grasp", "stack"}
    with pytest.raises(ValueError, match="at least 2"):
        InstructionGenerator(["red"])
    with pytest.raises(ValueError, match="unknown shape"):
        InstructionGenerator(OBJECTS, shape_weights={"pyramid": 1.0})
    with pytest.raises(PlannerConfigError, match="steps"):
        TuningConfig(steps=0)
    with pytest.raises(PlannerConfigError, match="lr"):
        TuningConfig(lr=5.0)


# --- tuning end to end (tiny-llama) ----------------------------------------------------


def _planner() -> Planner:
    return Planner.load(PlannerConfig(model="tiny-llama"))


SMALL = TuningConfig(examples=16, steps=6, batch_size=4, lr=3e-3, dropout=0.0, checkpoint_every=2)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "lora"
    planner = _planner()
    before = {k: v.clone() for k, v in planner.scorer.model.state_dict().items()}
    result = tune_planner(
        planner,
        out,
        SMALL,
        base_model="tiny-llama",
        prompt_file=planner.prompt.config.source,
        exclude=["stack the red object on the blue object"],
    )
    after = planner.scorer.model.state_dict()
    return out, result, before, after


def test_tuning_lowers_the_loss_and_leaves_the_planner_model_unchanged(tuned):
    out, result, before, after = tuned
    assert len(result.losses) == SMALL.steps
    assert sum(result.losses[-2:]) / 2 < sum(result.losses[:2]) / 2
    assert set(before) == set(after)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not (out.parent / "lora.resume").exists()


def test_adapter_directory_and_metadata(tuned):
    out, result, *_ = tuned
    names = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "grounded_tuning.json"} <= names
    meta = read_tuning_metadata(out)
    assert meta["base_model"] == "tiny-llama"
    assert meta["objects"] == OBJECTS
    assert meta["losses"] == result.losses
    assert meta["excluded_instructions"] == 1
    lines = (out / "train_examples.jsonl").read_text().splitlines()
    assert len(lines) == SMALL.examples


def test_planner_loads_the_adapter_and_its_scores_change(tuned):
    out, *_ = tuned
    plain = _planner()
    adapted = Planner.load(PlannerConfig(model="tiny-llama", adapter=str(out)))
    assert str(out) in adapted.model_name
    text = "put the green block on the red one"
    a, b = plain.rank(text), adapted.rank(text)
    assert len(a) == len(b) == len(plain.plans)
    score_a = {tuple(plan): score for plan, score in a}
    score_b = {tuple(plan): score for plan, score in b}
    assert score_a.keys() == score_b.keys()
    assert max(abs(score_a[k] - score_b[k]) for k in score_a) > 1e-3
    # merged into plain weights: no peft layers remain
    assert not any("lora" in name for name, _ in adapted.scorer.model.named_parameters())
    assert SPACE.is_valid(adapted.plan(text).sub_goals)


def test_adapter_errors_are_clear(tuned, tmp_path):
    out, *_ = tuned
    model = _planner().scorer.model
    with pytest.raises(PlannerConfigError, match="tuned on 'tiny-llama'"):
        merge_adapter(model, out, base_model="smollm2-135m-instruct")
    with pytest.raises(PlannerConfigError, match="not a directory"):
        merge_adapter(model, tmp_path / "missing", base_model="tiny-llama")
    with pytest.raises(PlannerConfigError, match="grounded-plan-tune"):
        merge_adapter(model, tmp_path, base_model="tiny-llama")
    assert resolve_adapter("") == ""
    assert resolve_adapter(str(out)) == str(out)


def test_a_killed_run_resumes_where_its_checkpoint_left_off(tmp_path, tuned):
    _, uninterrupted, *_ = tuned
    out = tmp_path / "lora"

    class Killed(Exception):
        pass

    def kill_at_step_5(step, steps, loss):
        if step == 5:
            raise Killed

    planner = _planner()
    args = dict(
        base_model="tiny-llama",
        prompt_file=planner.prompt.config.source,
        exclude=["stack the red object on the blue object"],
    )
    with pytest.raises(Killed):
        tune_planner(planner, out, SMALL, on_step=kill_at_step_5, **args)
    assert (tmp_path / "lora.resume" / "state.pt").is_file() and not out.exists()
    result = tune_planner(_planner(), out, SMALL, **args)
    assert result.resumed_from == 4
    # the same batches and state: the same losses as the uninterrupted run
    assert result.losses == pytest.approx(uninterrupted.losses, abs=1e-4)
    with pytest.raises(PlannerConfigError, match="other settings"):
        (tmp_path / "lora.resume").mkdir()
        torch.save({"config": {}, "base_model": "x"}, tmp_path / "lora.resume" / "state.pt")
        tune_planner(_planner(), out, SMALL, **args)


def test_cli_tunes_and_refuses_bad_settings(tmp_path, capsys):
    out = tmp_path / "cli_lora"
    small = ["--model", "tiny-llama", "--steps", "2", "--examples", "8", "--batch-size", "4"]
    code = tune_main([*small, "--out", str(out)])
    assert code == 0 and (out / "adapter_model.safetensors").is_file()
    assert "wrote" in capsys.readouterr().out
    assert tune_main(["--model", "tiny-llama", "--steps", "0", "--out", str(out)]) == 2
    assert "steps must be a positive integer" in capsys.readouterr().err
    missing = str(tmp_path / "nope.yaml")
    assert tune_main(["--model", "tiny-llama", "--exclude", missing, "--out", str(out)]) == 2
    assert "not an instruction set" in capsys.readouterr().err


def test_the_shared_prompt_prefix_gives_the_same_loss_and_gradients():
    """The batch's common few-shot prefix runs once (its KV cache repeated): same loss
    and gradients as running every row in full."""
    from grounded_core.llm.planner_tuning import _batch_loss, _encode, _shared_prefix

    planner = _planner()
    examples = InstructionGenerator(OBJECTS, seed=4).examples(6)
    encoded = [_encode(planner, e) for e in examples]
    assert 0 < _shared_prefix(encoded) < min(len(p) for p, _ in encoded)
    model, pad = planner.scorer.model, int(planner.scorer.pad_token_id)
    results = []
    for share in (False, True):
        model.zero_grad()
        loss = _batch_loss(model, planner.scorer.kind, pad, encoded, share_prefix=share)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((float(loss.detach()), grads))
    model.zero_grad()
    (full, full_grads), (shared, shared_grads) = results
    assert shared == pytest.approx(full, rel=1e-5)
    assert full_grads.keys() == shared_grads.keys()
    for name, grad in full_grads.items():
        torch.testing.assert_close(shared_grads[name], grad, rtol=1e-4, atol=1e-6)


def test_an_adapter_of_another_base_model_is_skipped_with_a_warning(tuned, caplog):
    out, *_ = tuned
    with caplog.at_level("WARNING"):
        planner = Planner.load(PlannerConfig(model="tiny-t5", adapter=str(out)))
    assert planner.model_name == "tiny-t5"
    assert "tuned on 'tiny-llama', not on 'tiny-t5'" in caplog.text


def test_the_shipped_config_names_the_committed_adapter():
    from grounded_core.llm.planner_config import default_config_file, load_planner_config

    config = load_planner_config(default_config_file())
    meta = read_tuning_metadata(resolve_adapter(config.adapter))
    assert meta["base_model"] == config.model
    assert meta["objects"] == OBJECTS


def test_a_seq2seq_planner_tunes_and_loads_its_adapter(tmp_path):
    planner = Planner.load(PlannerConfig(model="tiny-t5"))
    result = tune_planner(
        planner,
        tmp_path / "t5",
        SMALL,
        base_model="tiny-t5",
        prompt_file=planner.prompt.config.source,
    )
    assert result.losses[-1] < result.losses[0]
    adapted = Planner.load(PlannerConfig(model="tiny-t5", adapter=str(tmp_path / "t5")))
    assert SPACE.is_valid(adapted.plan("put the blue block on the green one").sub_goals)

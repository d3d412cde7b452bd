"""In-domain LoRA tuning of the planner LLM, and loading the tuned adapter (MISSION B3).

The paper's planner is an instruction-tuned LLM prompted with two worked examples. Our
offline LLM (SmolLM2-135M) is ~50x smaller than the paper's and misreads paraphrases
(bench/results/planner.md). As with CLIP, which the paper fine-tunes on in-domain pairs,
we tune it in-domain: :class:`~.planner_data.InstructionGenerator` writes instructions
for known plans, and a LoRA adapter (peft, rank ``rank`` on every linear layer) is
trained by cross-entropy on the plan text *as the planner scores it*: the same few-shot
prompt (:class:`~.planner_prompt.RenderedPrompt`), the same plan style, the same
tokenization (prompt and completion tokenized apart, no special tokens). So training
raises exactly ``log p(plan | prompt)``, the planner's score, for the right plan.

An adapter directory holds peft's ``adapter_config.json`` and
``adapter_model.safetensors`` (float16) plus ``grounded_tuning.json`` (the base model, prompt
file and its hash, objects, settings, loss curve). :func:`merge_adapter` applies one
to a loaded model and merges it into the weights, so planning costs what it did
before. While training, ``<out>.resume/`` holds a checkpoint (adapter, optimizer, step)
written atomically every ``checkpoint_every`` steps; a killed run started again with the
same arguments continues from it, and it is removed once the adapter is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .cache import atomic_directory
from .planner_config import REPO_ROOT
from .planner_data import InstructionGenerator, TuningExample
from .planner_errors import PlannerConfigError

__all__ = [
    "TUNING_FILE",
    "AdapterBaseMismatchError",
    "TuningConfig",
    "merge_adapter",
    "read_tuning_metadata",
    "tune_planner",
]

TUNING_FILE = "grounded_tuning.json"
_STATE_FILE = "state.pt"


@dataclass(frozen=True)
class TuningConfig:
    """LoRA tuning settings (``grounded-plan-tune`` flags of the same names)."""

    examples: int = 2000  # generated (instruction, plan) pairs
    steps: int = 250  # optimizer steps (examples are cycled in shuffled epochs)
    batch_size: int = 8
    lr: float = 1e-3
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    weight_decay: float = 0.0
    seed: int = 0
    checkpoint_every: int = 10

    def __post_init__(self):
        for name in ("examples", "steps", "batch_size", "rank", "alpha", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PlannerConfigError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < self.lr < 1:
            raise PlannerConfigError(f"lr must be in (0, 1), got {self.lr!r}")
        if not 0 <= self.dropout < 1:
            raise PlannerConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.weight_decay < 0:
            raise PlannerConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclass
class TuningResult:
    """What :func:`tune_planner` did."""

    out_dir: Path
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when it lies inside it (as recorded)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def read_tuning_metadata(adapter_dir: str | os.PathLike) -> dict:
    """The ``grounded_tuning.json`` of an adapter directory (clear errors otherwise)."""
    path = Path(adapter_dir)
    if not path.is_dir():
        raise PlannerConfigError(f"adapter {str(path)!r} is not a directory")
    missing = [n for n in ("adapter_config.json", TUNING_FILE) if not (path / n).is_file()]
    if missing:
        raise PlannerConfigError(
            f"adapter {str(path)!r} lacks {missing}; make one with grounded-plan-tune"
        )
    try:
        meta = json.loads((path / TUNING_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlannerConfigError(f"{path / TUNING_FILE}: unreadable ({exc})") from exc
    if not isinstance(meta, dict) or "base_model" not in meta:
        raise PlannerConfigError(f"{path / TUNING_FILE}: no base_model entry")
    return meta


class AdapterBaseMismatchError(PlannerConfigError):
    """The adapter was tuned on another base model (nothing was applied)."""

    def __init__(self, adapter_dir, tuned_on: str, model: str):
        super().__init__(
            f"adapter {str(adapter_dir)!r} was tuned on {tuned_on!r}, not on {model!r}"
        )
        self.tuned_on = tuned_on


def merge_adapter(model: torch.nn.Module, adapter_dir: str | os.PathLike, *, base_model: str):
    """Apply the LoRA adapter in ``adapter_dir`` to ``model`` and merge it into the
    weights (in place; the model keeps its type). ``base_model`` is the name the model
    was loaded by: an adapter tuned on another base is refused
    (:class:`AdapterBaseMismatchError`, before the model is touched)."""
    meta = read_tuning_metadata(adapter_dir)
    if meta["base_model"] != base_model:
        raise AdapterBaseMismatchError(adapter_dir, meta["base_model"], base_model)
    from peft import PeftModel

    was_training = model.training
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    merged = peft_model.merge_and_unload()
    merged.train(was_training)
    return merged


def _tidy_adapter(directory: Path, base_model: str) -> None:
    """Half-precision weights (half the size to commit; the merge is done in the
    model's own precision), the base model by its planner name rather than a cache
    path, and no generated model-card template (the metadata file says what it is)."""
    from safetensors.torch import load_file, save_file

    weights = directory / "adapter_model.safetensors"
    save_file({k: v.half().contiguous() for k, v in load_file(weights).items()}, weights)
    config_path = directory / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text(encoding="utf-8"))
    adapter_config["base_model_name_or_path"] = base_model
    config_path.write_text(json.dumps(adapter_config, indent=2) + "\n", encoding="utf-8")
    (directory / "README.md").unlink(missing_ok=True)


# --- training -----------------------------------------------------------------------------


def _encode(planner, example: TuningExample) -> tuple[list[int], list[int]]:
    """Prompt and completion token ids, tokenized as the planner scores them."""
    prompt = planner.prompt.prompt(example.instruction)
    completion = planner.prompt.completion(example.plan)
    prompt_ids, completion_ids = planner.scorer.tokenize_prompts([prompt, completion])
    return prompt_ids, completion_ids


def _batch_loss(
    model, kind: str, pad_id: int, encoded, *, share_prefix: bool = True
) -> torch.Tensor:
    """Mean cross-entropy of the completion tokens of a batch."""
    if kind == "seq2seq":
        width = max(len(p) for p, _ in encoded)
        target = max(len(c) for _, c in encoded)
        ids = torch.full((len(encoded), width), pad_id)
        mask = torch.zeros_like(ids)
        labels = torch.full((len(encoded), target), -100)
        for i, (p, c) in enumerate(encoded):
            ids[i, : len(p)] = torch.tensor(p)
            mask[i, : len(p)] = 1
            labels[i, : len(c)] = torch.tensor(c)
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss
    # Decoder-only: prompt + completion in one row (right padding), loss on the
    # completion only. Every prompt starts with the same few-shot examples: that shared
    # prefix runs once and its KV cache is repeated for the batch (gradients flow
    # through it), which makes a step ~3x cheaper with the shipped prompt.
    shared = _shared_prefix(encoded) if share_prefix else 0
    cache = None
    if shared:
        prefix = torch.tensor([encoded[0][0][:shared]])
        cache = model(input_ids=prefix, use_cache=True).past_key_values
        cache.batch_repeat_interleave(len(encoded))
    width = max(len(p) + len(c) for p, c in encoded) - shared
    ids = torch.full((len(encoded), width), pad_id)
    mask = torch.zeros((len(encoded), shared + width), dtype=torch.long)
    mask[:, :shared] = 1
    labels = torch.full((len(encoded), width), -100)
    for i, (p, c) in enumerate(encoded):
        row = (p + c)[shared:]
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, shared : shared + len(row)] = 1
        labels[i, len(p) - shared : len(row)] = torch.tensor(c)
    return model(input_ids=ids, attention_mask=mask, labels=labels, past_key_values=cache).loss


def _shared_prefix(encoded) -> int:
    """Tokens every prompt of the batch starts with, leaving each at least one of its
    own (the last prompt token predicts the first completion token)."""
    first = encoded[0][0]
    limit = min(len(p) for p, _ in encoded) - 1
    n = 0
    while n < limit and all(p[n] == first[n] for p, _ in encoded):
        n += 1
    return n


def tune_planner(
    planner,
    out_dir: str | os.PathLike,
    config: TuningConfig = TuningConfig(),
    *,
    base_model: str,
    prompt_file: str | os.PathLike,
    exclude: Iterable[str] = (),
    on_step: Callable[[int, int, float], None] | None = None,
) -> TuningResult:
    """Tune ``planner``'s LLM on generated instructions; write the adapter to ``out_dir``.

    Args:
        planner: a loaded :class:`~.planner.Planner` (its prompt, caption set, scorer).
        config: the tuning settings.
        base_model, prompt_file: recorded in the adapter's metadata (the planner config's
            ``model`` and the prompt file it was tuned with).
        exclude: instructions never to train on (compared after
            :func:`~.planner_data.normalize_instruction`): the evaluation sets.
        on_step: called with (step, steps, loss) after every optimizer step.

    The model is trained in place through peft and left unchanged afterwards (the
    adapter is unloaded); load the result with :func:`merge_adapter`.
    """
    from peft import (
        LoraConfig,
        get_peft_model,
        get_peft_model_state_dict,
        set_peft_model_state_dict,
    )

    out_dir = Path(out_dir)
    resume_dir = out_dir.with_name(out_dir.name + ".resume")
    scorer = planner.scorer
    torch.manual_seed(config.seed)
    banned = list(exclude)
    examples = InstructionGenerator(planner.space.objects, seed=config.seed).examples(
        config.examples, exclude=banned
    )
    encoded = [_encode(planner, e) for e in examples]
    order_rng = random.Random(config.seed + 1)

    def batches():
        """Shuffled epochs, cut into batches: the same sequence on every run."""
        while True:
            order = list(range(len(encoded)))
            order_rng.shuffle(order)
            for i in range(0, len(order) - config.batch_size + 1, config.batch_size):
                yield [encoded[j] for j in order[i : i + config.batch_size]]

    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules="all-linear",
        task_type="SEQ_2_SEQ_LM" if scorer.kind == "seq2seq" else "CAUSAL_LM",
    )
    model = get_peft_model(scorer.model, lora)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    start, losses = 0, []
    state_path = resume_dir / _STATE_FILE
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        if state.get("config") != asdict(config) or state.get("base_model") != base_model:
            raise PlannerConfigError(
                f"{resume_dir} holds a run with other settings; delete it to start over"
            )
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        start, losses = int(state["step"]), list(state["losses"])
    stream = batches()
    for _ in range(start):  # skip the batches the checkpointed run has seen
        next(stream)

    def checkpoint(step: int) -> None:
        with atomic_directory(resume_dir, replace=True) as tmp:
            torch.save(
                {
                    "config": asdict(config),
                    "base_model": base_model,
                    "adapter": get_peft_model_state_dict(model),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "losses": losses,
                },
                tmp / _STATE_FILE,
            )

    began = time.monotonic()
    model.train()
    pad_id = int(scorer.pad_token_id)
    try:
        for step in range(start + 1, config.steps + 1):
            loss = _batch_loss(model, scorer.kind, pad_id, next(stream))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            losses.append(round(value, 5))
            if on_step is not None:
                on_step(step, config.steps, value)
            if step % config.checkpoint_every == 0 and step < config.steps:
                checkpoint(step)
        seconds = time.monotonic() - began
        meta = {
            "base_model": base_model,
            "prompt_file": _repo_relative(prompt_file),
            "prompt_sha256": file_sha256(prompt_file),
            "objects": list(planner.space.objects),
            "settings": asdict(config),
            "excluded_instructions": len(banned),
            "examples_by_shape": {
                s: sum(e.shape == s for e in examples) for s in sorted({e.shape for e in examples})
            },
            "losses": losses,
            "train_seconds_this_run": round(seconds, 1),
            "resumed_from_step": start,
            "torch_threads": torch.get_num_threads(),
        }
        with atomic_directory(out_dir, replace=True) as tmp:
            model.save_pretrained(tmp)
            _tidy_adapter(tmp, base_model)
            (tmp / TUNING_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            with open(tmp / "train_examples.jsonl", "w", encoding="utf-8") as fh:
                for e in examples:
                    row = {"instruction": e.instruction, "shape": e.shape, "plan": list(e.plan)}
                    fh.write(json.dumps(row) + "\n")
        shutil.rmtree(resume_dir, ignore_errors=True)
    finally:
        # Leave the planner's model as it was (peft wrapped its layers in place).
        model.unload()
        scorer.model.eval()
    return TuningResult(out_dir, config.steps, losses, seconds, start)

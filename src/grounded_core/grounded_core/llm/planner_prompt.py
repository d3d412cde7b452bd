"""The planner's few-shot prompt (MISSION B3), read from ``config/planner_prompt.yaml``.

The file holds a system text (``{captions}`` is replaced by the caption set, one per
line), two (or more) worked examples -- an instruction and its plan, each sub-goal a
caption -- and the layout:

* ``format: chat`` renders the examples as earlier user/assistant turns through the
  tokenizer's chat template (SmolLM2-Instruct and other chat models); the plan then
  ends with the template's end-of-turn text (``<|im_end|>`` for SmolLM2);
* ``format: plain`` writes ``Instruction: ...`` / ``Plan:`` blocks (T5, Flan-T5, the
  embedded tiny models); the plan ends with the tokenizer's EOS token (``</s>``), the
  text a seq2seq decoder ends with;
* ``format: auto`` (default) is ``chat`` when the tokenizer has a chat template.

``end_marker`` overrides the end text. ``null_instruction`` is the instruction of the
reference prompt of ``calibration: pmi``; ``channel_system`` heads the prompts of
``scoring: channel``, which write the examples plan-first (``Plan: ...`` then
``Instruction: ...``) in plain text whatever the format. A plan is written as numbered lines
(``1. The robot is grasping the red object``) followed directly by the end text; the
end text is scored too, so a plan and its own prefix are told apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .planner_errors import PlannerConfigError

__all__ = ["FORMATS", "PromptConfig", "RenderedPrompt", "load_prompt_config", "render_plan"]

FORMATS = ("auto", "chat", "plain")
_KEYS = {"system", "examples", "format", "end_marker", "null_instruction", "channel_system"}
_SENTINEL = "\x00PLAN\x00"


@dataclass(frozen=True)
class Example:
    """A worked example: an instruction and its plan (captions)."""

    instruction: str
    plan: tuple[str, ...]


@dataclass(frozen=True)
class PromptConfig:
    """The content of a planner prompt file; see the module docstring."""

    system: str
    examples: tuple[Example, ...]
    format: str = "auto"
    end_marker: str = ""  # "" = chosen from the format and tokenizer
    null_instruction: str = ""  # the instruction of the pmi calibration's reference prompt
    channel_system: str = ""  # header of the channel prompt ("" = none)
    source: str = "<memory>"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise PlannerConfigError(
                f"{self.source}: format must be one of {list(FORMATS)}, got {self.format!r}"
            )
        if not self.examples:
            raise PlannerConfigError(f"{self.source}: at least one worked example is needed")


def _text(value, what: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlannerConfigError(f"{source}: {what} must be a non-empty string, got {value!r}")
    return value


def load_prompt_config(path: str | Path) -> PromptConfig:
    """Read and validate a prompt file (unknown keys and wrong types raise)."""
    path = Path(path)
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlannerConfigError(f"{source}: cannot read prompt file ({exc})") from exc
    if not isinstance(data, Mapping):
        raise PlannerConfigError(f"{source}: expected a mapping at the top level")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise PlannerConfigError(f"{source}: unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    raw_examples = data.get("examples")
    if not isinstance(raw_examples, list) or not raw_examples:
        raise PlannerConfigError(f"{source}: examples must be a non-empty list")
    examples = []
    for i, item in enumerate(raw_examples):
        where = f"examples[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"instruction", "plan"}:
            raise PlannerConfigError(f"{source}: {where} needs exactly 'instruction' and 'plan'")
        plan = item["plan"]
        if not isinstance(plan, list) or not plan:
            raise PlannerConfigError(f"{source}: {where}.plan must be a non-empty list")
        examples.append(
            Example(
                _text(item["instruction"], f"{where}.instruction", source),
                tuple(_text(s, f"{where}.plan entries", source) for s in plan),
            )
        )
    end_marker = data.get("end_marker", "")
    if not isinstance(end_marker, str):
        raise PlannerConfigError(f"{source}: end_marker must be a string")
    null_instruction = data.get("null_instruction", "")
    channel_system = data.get("channel_system", "")
    if not isinstance(null_instruction, str) or not isinstance(channel_system, str):
        raise PlannerConfigError(f"{source}: null_instruction and channel_system must be strings")
    return PromptConfig(
        system=_text(data.get("system"), "system", source),
        null_instruction=null_instruction,
        channel_system=channel_system,
        examples=tuple(examples),
        format=str(data.get("format", "auto")),
        end_marker=end_marker,
        source=source,
    )


def render_plan(plan: Sequence[str]) -> str:
    """Numbered lines, no trailing newline: ``1. <caption>\\n2. <caption>``."""
    return "\n".join(f"{i}. {goal}" for i, goal in enumerate(plan, start=1))


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt config bound to a tokenizer and a caption set."""

    config: PromptConfig
    format: str  # "chat" or "plain"
    end_marker: str
    system: str
    tokenizer: object
    #: Text in front of every plain prompt: the BOS token for tokenizers that put one
    #: in front of every text by default (Llama and Gemma base models; Gemma's scores
    #: are badly off without it). Prompts are tokenized without special tokens, so
    #: it must be written out. Chat templates write their own.
    bos: str = ""

    @classmethod
    def build(cls, config: PromptConfig, tokenizer, captions: Sequence[str]) -> RenderedPrompt:
        has_template = bool(getattr(tokenizer, "chat_template", None))
        fmt = config.format
        if fmt == "auto":
            fmt = "chat" if has_template else "plain"
        if fmt == "chat" and not has_template:
            raise PlannerConfigError(
                f"{config.source}: format is 'chat' but the tokenizer has no chat template"
            )
        system = config.system.replace("{captions}", "\n".join(f"- {c}" for c in captions))
        probe = cls(config, fmt, "", system, tokenizer)
        end = config.end_marker or probe._default_end()
        if not end:
            raise PlannerConfigError(
                f"{config.source}: no end marker (the tokenizer has no EOS); set end_marker"
            )
        return cls(config, fmt, end, system, tokenizer, _default_bos(tokenizer))

    def _default_end(self) -> str:
        if self.format == "chat":
            # The template's text after an assistant message: its end-of-turn marker.
            text = self._chat([("user", "x"), ("assistant", _SENTINEL)], generation=False)
            tail = text.split(_SENTINEL, 1)[1].strip() if _SENTINEL in text else ""
            if tail:
                return tail
        return getattr(self.tokenizer, "eos_token", None) or ""

    def _chat(self, turns: Sequence[tuple[str, str]], *, generation: bool) -> str:
        messages = [{"role": "system", "content": self.system}]
        messages += [{"role": role, "content": content} for role, content in turns]
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )

    def completion(self, plan: Sequence[str], *, finished: bool = True) -> str:
        """The text the model should write for ``plan`` (with the end marker if finished)."""
        return render_plan(plan) + (self.end_marker if finished else "")

    # --- channel scoring: the instruction given the plan (always plain text) -----------

    def channel_prefix(self) -> str:
        """Header and worked examples written plan-first, shared by every candidate."""
        blocks = [self.config.channel_system.strip(), ""] if self.config.channel_system else []
        for ex in self.config.examples:
            blocks += [self.channel_middle(ex.plan) + " " + ex.instruction, ""]
        return self.bos + "\n".join(blocks) + "\n"

    @staticmethod
    def channel_middle(plan: Sequence[str]) -> str:
        """A candidate plan, up to where its instruction follows."""
        return f"Plan:\n{render_plan(plan)}\nInstruction:"

    @staticmethod
    def channel_target(instruction: str) -> str:
        return " " + instruction

    def null_prompt(self) -> str:
        """The prompt with the config's null instruction (reference of ``pmi`` scoring)."""
        return self.prompt(self.config.null_instruction)

    def prompt(self, instruction: str) -> str:
        """The full prompt for ``instruction``; the plan text follows it directly."""
        examples = self.config.examples
        if self.format == "chat":
            turns: list[tuple[str, str]] = []
            for ex in examples:
                turns += [("user", ex.instruction), ("assistant", render_plan(ex.plan))]
            return self._chat([*turns, ("user", instruction)], generation=True)
        blocks = [self.system.strip(), ""]
        for ex in examples:
            blocks += [f"Instruction: {ex.instruction}", "Plan:", self.completion(ex.plan), ""]
        blocks += [f"Instruction: {instruction}", "Plan:", ""]
        return self.bos + "\n".join(blocks)


def _default_bos(tokenizer) -> str:
    """The BOS token's text when ``tokenizer`` starts every text with it, else ""."""
    bos, bos_id = getattr(tokenizer, "bos_token", None), getattr(tokenizer, "bos_token_id", None)
    if not bos or bos_id is None:
        return ""
    ids = tokenizer("x")["input_ids"]
    return bos if ids and ids[0] == bos_id else ""

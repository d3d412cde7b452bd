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
followed directly by the end text; the end text is scored too, so a plan and its own
prefix are told apart. ``plan_style`` says what a line is: a caption (``captions``:
``1. The robot is grasping the red object``) or a step (``steps``: ``1. stack the red
object on the blue object``, :mod:`.planner_steps`); worked examples are always written
as captions in the file and rendered in the chosen style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .planner_errors import PlannerConfigError
from .planner_steps import plan_to_steps, step_text

__all__ = [
    "FORMATS",
    "PLAN_STYLES",
    "PromptConfig",
    "RenderedPrompt",
    "load_prompt_config",
    "render_plan",
]

FORMATS = ("auto", "chat", "plain")
#: How a plan's lines are written: one caption per line, or one step (planner_steps.py).
PLAN_STYLES = ("captions", "steps")
_KEYS = {
    "system",
    "examples",
    "format",
    "end_marker",
    "null_instruction",
    "channel_system",
    "plan_style",
}
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
    plan_style: str = "captions"  # how plan lines are written (PLAN_STYLES)
    source: str = "<memory>"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise PlannerConfigError(
                f"{self.source}: format must be one of {list(FORMATS)}, got {self.format!r}"
            )
        if self.plan_style not in PLAN_STYLES:
            raise PlannerConfigError(
                f"{self.source}: plan_style must be one of {list(PLAN_STYLES)}, "
                f"got {self.plan_style!r}"
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
        plan_style=str(data.get("plan_style", "captions")),
        end_marker=end_marker,
        source=source,
    )


def render_plan(plan: Sequence[str], style: str = "captions") -> str:
    """Numbered lines, no trailing newline: ``1. <caption>\\n2. <caption>``, or with
    ``style="steps"`` one line per step (``1. stack the red object on the blue object``)."""
    lines = plan_to_steps(plan) if style == "steps" else plan
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))


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

    @property
    def plan_style(self) -> str:
        return self.config.plan_style

    def render(self, plan: Sequence[str]) -> str:
        """``plan`` as numbered lines in the prompt's plan style."""
        return render_plan(plan, self.plan_style)

    def completion(self, plan: Sequence[str], *, finished: bool = True) -> str:
        """The text the model should write for ``plan`` (with the end marker if finished)."""
        return self.render(plan) + (self.end_marker if finished else "")

    def next_line(self, so_far: Sequence[str], added: Sequence[str]) -> str:
        """The line that extends the (unfinished) completion of ``so_far`` by ``added``:
        one caption, or one step in the steps style; led by a line break unless first."""
        lines = plan_to_steps(so_far) if self.plan_style == "steps" else list(so_far)
        text = step_text(added) if self.plan_style == "steps" else added[0]
        return ("\n" if lines else "") + f"{len(lines) + 1}. {text}"

    # --- channel scoring: the instruction given the plan (always plain text) -----------

    def channel_prefix(self) -> str:
        """Header and worked examples written plan-first, shared by every candidate."""
        blocks = [self.config.channel_system.strip(), ""] if self.config.channel_system else []
        for ex in self.config.examples:
            blocks += [self.channel_middle(ex.plan) + " " + ex.instruction, ""]
        return self.bos + "\n".join(blocks) + "\n"

    def channel_middle(self, plan: Sequence[str]) -> str:
        """A candidate plan, up to where its instruction follows."""
        return f"Plan:\n{self.render(plan)}\nInstruction:"

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
                turns += [("user", ex.instruction), ("assistant", self.render(ex.plan))]
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

"""The LLM planner of MISSION B3: an instruction -> sub-goals in the caption vocabulary.

An instruction-tuned LLM (default: the offline SmolLM2-135M-Instruct; any name
:func:`~.loading.load_model_and_tokenizer` understands works, e.g. a Flan-T5 hub id or
a local directory) is prompted with worked examples (:mod:`.planner_prompt`) and the
instruction. Two modes:

* ``constrained`` (default) -- the answer is always a valid plan. The executable plans
  over the caption set (:class:`~.planner_space.PlanSpace`: 21 for red/green/blue)
  are candidate completions, and the one with the highest log-probability under the
  LLM is chosen, computed exactly (sum of token log-probabilities, end marker
  included) by :class:`~.scoring.ActionScorer`, which runs the prompt once and reuses
  its KV cache (encoder output for T5) for every candidate. ``search="plan"`` scores
  every whole plan (exact argmax); ``search="greedy"`` builds the plan sub-goal by
  sub-goal, each step choosing among the executable next sub-goals and the end
  marker (for caption sets too large to enumerate). Scoring rules (compared in
  ``bench/planner.py``): ``length_norm="mean"`` divides a candidate's log-probability
  by its token count; ``calibration="pmi"`` subtracts its log-probability under the
  prompt's null instruction (cached: it does not depend on the instruction);
  ``scoring="channel"`` instead scores the instruction given each plan
  (:mod:`.planner_channel`, ``search="plan"`` only); ``length_prior`` then takes that
  many nats per sub-goal off every score (a prior that favours shorter plans: a small
  LLM, shown a longer worked example, tends to tack a second stack onto a one-stack
  instruction). ``symmetry="objects"`` averages
  every score over all renamings of the objects in the instruction and the plan
  (:mod:`.planner_symmetry`), which removes the LLM's preferences for particular
  colours.
* ``free`` -- greedy generation, then :func:`~.planner_parse.parse_plan_text`;
  text that is not a valid plan raises :class:`~.planner_errors.InvalidPlanError`
  with the raw text, never a repaired plan. For larger models.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .planner_channel import channel_log_probs
from .planner_config import PlannerConfig, default_prompt_file, resolve_adapter
from .planner_errors import PlanCanceledError, PlannerConfigError, PlannerError
from .planner_parse import parse_plan_text
from .planner_prompt import PromptConfig, RenderedPrompt, load_prompt_config
from .planner_space import PlanSpace
from .planner_steps import next_steps
from .planner_symmetry import object_renamings, rename_objects
from .scoring import ActionScorer

_log = logging.getLogger(__name__)

__all__ = ["MAX_INSTRUCTION_CHARS", "PlanResult", "Planner", "check_instruction"]

#: Longest instruction accepted (characters).
MAX_INSTRUCTION_CHARS = 500

Progress = Callable[[str, list[str]], None]


def check_instruction(instruction) -> str:
    """The instruction with its whitespace collapsed; ``PlannerError`` if unusable."""
    if not isinstance(instruction, str):
        raise PlannerError(f"the instruction must be a string, got {type(instruction).__name__}")
    text = " ".join(instruction.split())
    if not text:
        raise PlannerError("the instruction is empty")
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise PlannerError(
            f"the instruction has {len(text)} characters; at most {MAX_INSTRUCTION_CHARS}"
        )
    if not re.search(r"\w", text):
        raise PlannerError(f"the instruction {text!r} contains no word")
    return text


@dataclass
class PlanResult:
    """A plan and how it was made."""

    instruction: str
    sub_goals: list[str]
    mode: str
    model: str
    raw_output: str = ""  # free mode: the generated text
    score: float | None = None  # constrained: the chosen plan's (normalised) score
    ranking: list[tuple[list[str], float]] = field(default_factory=list)  # best first


class Planner:
    """Instruction -> plan; see the module docstring.

    Args:
        scorer: an :class:`ActionScorer` (its model and tokenizer are used).
        prompt: the few-shot prompt config.
        captions: the caption set.
        mode, search, scoring, length_norm, calibration, symmetry, length_prior,
            plans_per_batch, max_new_tokens, max_plans: see
            :class:`~.planner_config.PlannerConfig`.
        model_name: reported in results.
    """

    def __init__(
        self,
        scorer: ActionScorer,
        prompt: PromptConfig,
        captions: Sequence[str],
        *,
        mode: str = "constrained",
        search: str = "plan",
        scoring: str = "direct",
        length_norm: str = "none",
        calibration: str = "none",
        symmetry: str = "none",
        length_prior: float = 0.0,
        plans_per_batch: int = 64,
        max_new_tokens: int = 96,
        max_plans: int = 5000,
        model_name: str = "",
    ):
        settings = PlannerConfig(
            model=model_name or "model",
            mode=mode,
            search=search,
            scoring=scoring,
            length_norm=length_norm,
            calibration=calibration,
            symmetry=symmetry,
            length_prior=length_prior,
            plans_per_batch=plans_per_batch,
            max_new_tokens=max_new_tokens,
            max_plans=max_plans,
        )
        self.settings = settings
        self.scorer = scorer
        self.model_name = model_name or type(scorer.model).__name__
        try:
            self.space = PlanSpace(captions)
        except ValueError as exc:
            raise PlannerConfigError(str(exc)) from exc
        plannable = [c for c in self.space.captions if c in self.space.parsed]
        self.prompt = RenderedPrompt.build(prompt, scorer.tokenizer, plannable)
        for i, example in enumerate(prompt.examples):
            reason = self.space.check(list(example.plan))
            if reason is not None:
                raise PlannerConfigError(
                    f"{prompt.source}: example {i + 1} ({example.instruction!r}) is not an "
                    f"executable plan over the caption set: {reason}"
                )
        self._null_cache: dict[tuple[str, str], float] = {}
        # The renamings every score is averaged over ({} alone: no symmetry).
        self._renamings: list[dict[str, str]] = [{}]
        if symmetry == "objects":
            try:
                self._renamings = object_renamings(self.space.objects)
            except ValueError as exc:
                raise PlannerConfigError(str(exc)) from exc
        self.plans: list[tuple[str, ...]] = []
        if mode == "constrained" and search == "plan":
            self.plans = self.space.enumerate()
            if len(self.plans) > max_plans:
                raise PlannerConfigError(
                    f"the caption set allows {len(self.plans)} plans (> max_plans={max_plans}); "
                    "use search=greedy"
                )

    @property
    def mode(self) -> str:
        return self.settings.mode

    @classmethod
    def load(cls, config: PlannerConfig | None = None, **overrides) -> Planner:
        """Load the model, prompt and caption set named by ``config`` (+ overrides)."""
        from ..vision.config import CaptionerConfigError, load_caption_set

        config = (config or PlannerConfig()).replace(**overrides)
        prompt_path = Path(config.prompt_file) if config.prompt_file else default_prompt_file()
        prompt = load_prompt_config(prompt_path)
        try:
            caption_set = load_caption_set(config.caption_file or None)
        except CaptionerConfigError as exc:
            raise PlannerConfigError(str(exc)) from exc
        scorer = ActionScorer.from_pretrained(config.model, value_head=False, device=config.device)
        adapter = resolve_adapter(config.adapter)
        if adapter:
            from .planner_tuning import AdapterBaseMismatchError, merge_adapter

            try:
                merge_adapter(scorer.model, adapter, base_model=config.model)
            except AdapterBaseMismatchError as exc:
                # The shipped config names SmolLM2's adapter; another model (a test model,
                # Flan-T5) plans untuned rather than failing. Said loudly, never silently.
                _log.warning("planner: %s: planning without it", exc)
                adapter = ""
        return cls(
            scorer,
            prompt,
            caption_set.captions,
            mode=config.mode,
            search=config.search,
            scoring=config.scoring,
            length_norm=config.length_norm,
            calibration=config.calibration,
            symmetry=config.symmetry,
            length_prior=config.length_prior,
            plans_per_batch=config.plans_per_batch,
            max_new_tokens=config.max_new_tokens,
            max_plans=config.max_plans,
            model_name=config.model + (f" + {config.adapter}" if adapter else ""),
        )

    # --- planning --------------------------------------------------------------------

    def plan(
        self,
        instruction: str,
        *,
        on_progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> PlanResult:
        """Plan ``instruction``.

        Args:
            on_progress: called with (stage, sub-goals so far) as planning proceeds.
            should_stop: polled between stages; true -> :class:`PlanCanceledError`.

        Raises:
            PlannerError: empty/unusable instruction; ``InvalidPlanError`` (free mode)
                when the generated text is not a valid plan; ``PlanCanceledError``.
        """
        text = check_instruction(instruction)
        report = on_progress or (lambda stage, goals: None)
        stop = should_stop or (lambda: False)
        if self.mode == "free":
            return self._free(text, report, stop)
        if self.settings.search == "greedy":
            return self._greedy(text, report, stop)
        _check_stop(stop)
        report(f"scoring {len(self.plans)} executable plans", [])
        ranking = self.rank(text, on_progress=report, should_stop=stop)
        _check_stop(stop)
        best, score = ranking[0]
        report("done", list(best))
        return PlanResult(
            text, list(best), "constrained", self.model_name, score=score, ranking=ranking
        )

    def rank(
        self,
        instruction: str,
        *,
        on_progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[tuple[list[str], float]]:
        """Every executable plan with its score, best first (constrained, ``search=plan``).

        Plans are scored ``plans_per_batch`` at a time; between batches ``on_progress``
        gets the best plan so far and ``should_stop`` is polled.
        """
        text = check_instruction(instruction)
        report = on_progress or (lambda stage, goals: None)
        stop = should_stop or (lambda: False)
        plans = self.plans or self.space.enumerate()
        size = self.settings.plans_per_batch
        scores: list[float] = []
        for start in range(0, len(plans), size):
            _check_stop(stop)
            chunk = plans[start : start + size]
            channel = self.settings.scoring == "channel"
            chunk_scores = self._averaged(
                text, chunk, self._channel_many if channel else self._plan_scores
            )
            scores += [s - self._prior(len(p)) for s, p in zip(chunk_scores, chunk)]
            best = max(range(len(scores)), key=lambda i: (scores[i], -i))
            report(f"scored {len(scores)} of {len(plans)} plans", list(plans[best]))
        order = sorted(range(len(plans)), key=lambda i: (-scores[i], i))
        return [(list(plans[i]), scores[i]) for i in order]

    def raw_scores(self, instruction: str, *, channel: bool = False) -> dict[str, list]:
        """Per executable plan: the sum of its tokens' log-probabilities given the
        instruction's prompt (``logp``) and given the null-instruction prompt
        (``null_logp``), its token count, and (``channel=True``) the instruction's
        log-probability given the plan (``channel_logp``) -- every scoring rule derives
        from these (``bench/planner.py`` compares them)."""
        text = check_instruction(instruction)
        plans = self.plans or self.space.enumerate()
        completions = [self.prompt.completion(p) for p in plans]
        prompt = self.prompt

        def logp(texts, plan_lists):
            return self._log_probs_many(
                [prompt.prompt(t) for t in texts], self._completions(plan_lists)
            )

        def null_logp(texts, plan_lists):
            return [
                self._null_log_probs(prompt.null_prompt(), row)
                for row in self._completions(plan_lists)
            ]

        raw = {
            "plans": [list(p) for p in plans],
            "logp": self._averaged(text, plans, logp),
            "null_logp": self._averaged(text, plans, null_logp),
            "tokens": [len(row) for row in self.scorer.tokenize_actions(completions)],
        }
        if channel:
            raw["channel_logp"] = self._averaged(text, plans, self._channel_many)
        return raw

    def _prior(self, n_sub_goals: int) -> float:
        """What ``length_prior`` takes off a plan (or a next step) of that many sub-goals."""
        return self.settings.length_prior * n_sub_goals

    def _averaged(
        self,
        text: str,
        plans: Sequence[Sequence[str]],
        score_many: Callable[[list[str], list[list[tuple[str, ...]]]], list[list[float]]],
    ) -> list[float]:
        """Each plan's score, averaged over the object renamings (symmetry): one call
        ``score_many(texts, plan_lists)`` scores every renamed instruction (``texts[r]``)
        with its renamed plans (``plan_lists[r]``), so they share one batched forward."""
        texts = [rename_objects(text, m) for m in self._renamings]
        plan_lists = [
            [tuple(rename_objects(g, m) for g in p) for p in plans] for m in self._renamings
        ]
        rows = score_many(texts, plan_lists)
        return [sum(column) / len(rows) for column in zip(*rows)]

    def _completions(self, plan_lists: list[list[tuple[str, ...]]]) -> list[list[str]]:
        return [[self.prompt.completion(p) for p in plans] for plans in plan_lists]

    def _plan_scores(self, texts: list[str], plan_lists) -> list[list[float]]:
        """Direct scores of whole plans (``rank``), one row per instruction text."""
        return self._score_many(
            [self.prompt.prompt(t) for t in texts], self._completions(plan_lists)
        )

    def _channel_many(self, texts: list[str], plan_lists) -> list[list[float]]:
        return [self._channel(t, plans) for t, plans in zip(texts, plan_lists)]

    def _channel(self, text: str, plans: Sequence[Sequence[str]]) -> list[float]:
        prompt = self.prompt
        middles = [prompt.channel_middle(p) for p in plans]
        return channel_log_probs(
            self.scorer, prompt.channel_prefix(), middles, prompt.channel_target(text)
        )

    def _log_probs_many(
        self, prompts: list[str], completions: list[list[str]]
    ) -> list[list[float]]:
        """Log-probabilities of ``completions[i]`` after ``prompts[i]``, in one call."""
        return self.scorer.score(prompts, completions).tolist()

    def _null_log_probs(self, prompt: str, completions: list[str]) -> list[float]:
        # The null prompt does not depend on the instruction: cache its scores.
        missing = [c for c in completions if (prompt, c) not in self._null_cache]
        if missing:
            for c, value in zip(missing, self._log_probs_many([prompt], [missing])[0]):
                self._null_cache[(prompt, c)] = value
        return [self._null_cache[(prompt, c)] for c in completions]

    def _score_many(
        self,
        prompts: list[str],
        completions: list[list[str]],
        null_prompts: list[str] | None = None,
    ) -> list[list[float]]:
        """The configured score of each ``completions[i]`` after ``prompts[i]``."""
        rows = self._log_probs_many(prompts, completions)
        if self.settings.calibration == "pmi":
            nulls = null_prompts or [self.prompt.null_prompt()] * len(prompts)
            rows = [
                [s - n for s, n in zip(row, self._null_log_probs(null, comps))]
                for row, null, comps in zip(rows, nulls, completions)
            ]
        if self.settings.length_norm == "mean":
            rows = [
                [s / len(ids) for s, ids in zip(row, self.scorer.tokenize_actions(comps))]
                for row, comps in zip(rows, completions)
            ]
        return rows

    def _next_scores(
        self, done: int, texts: list[str], extended_lists: list[list[tuple[str, ...]]]
    ) -> list[list[float]]:
        """Greedy search: for each instruction text, the scores of the last step of its
        ``extended`` plans -- their first ``done`` sub-goals are the plan so far (the
        same in every entry), then one more line (a sub-goal, or a step in the steps
        plan style), or none for the end marker. Taking whole plans lets ``_averaged``
        rename the plan so far with the rest."""
        prompts, nulls, completions = [], [], []
        for text, extended in zip(texts, extended_lists):
            so_far = list(extended[0][:done])
            partial = self.prompt.completion(so_far, finished=False)
            prompts.append(self.prompt.prompt(text) + partial)
            nulls.append(self.prompt.null_prompt() + partial)
            completions.append(
                [
                    self.prompt.next_line(so_far, p[done:])
                    if len(p) > done
                    else self.prompt.end_marker
                    for p in extended
                ]
            )
        return self._score_many(prompts, completions, nulls)

    def _greedy(self, text: str, report: Progress, stop: Callable[[], bool]) -> PlanResult:
        plan: list[str] = []
        total = 0.0
        # A next line is one sub-goal, or one whole step in the steps plan style.
        steps = self.prompt.plan_style == "steps"
        while True:
            _check_stop(stop)
            if steps:
                options = next_steps(self.space, plan)
            else:
                options = [(goal,) for goal in self.space.next_sub_goals(plan)]
            if not options:
                break
            step = len(plan) + 1
            report(f"scoring sub-goal {step} ({len(options)} options)", list(plan))
            # Each option is scored as the next line after the plan so far (the last
            # entry: the end marker); symmetry renames all of it with the instruction.
            extended = [(*plan, *option) for option in options] + ([tuple(plan)] if plan else [])
            scores = self._averaged(text, extended, functools.partial(self._next_scores, len(plan)))
            # length_prior charges each option its added sub-goals (the end marker: none).
            added = [len(e) - len(plan) for e in extended]
            scores = [s - self._prior(n) for s, n in zip(scores, added)]
            best = max(range(len(scores)), key=lambda i: (scores[i], -i))
            total += scores[best]
            if best == len(options):  # the end marker
                break
            plan += options[best]
            if steps and len(options[best]) == 1:
                break  # a step that only grasps ends the plan (the object stays held)
        report("done", list(plan))
        return PlanResult(text, plan, "constrained", self.model_name, score=total)

    def _free(self, text: str, report: Progress, stop: Callable[[], bool]) -> PlanResult:
        _check_stop(stop)
        report("generating", [])
        raw = self.generate(self.prompt.prompt(text))
        _check_stop(stop)
        report("parsing", [])
        plan = parse_plan_text(raw, self.space, self.prompt.end_marker, self.prompt.plan_style)
        report("done", list(plan))
        return PlanResult(text, plan, "free", self.model_name, raw_output=raw)

    def generate(self, prompt: str) -> str:
        """Greedy continuation of ``prompt`` (up to ``max_new_tokens``), as text."""
        scorer = self.scorer
        tokenizer = scorer.tokenizer
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        ids = ids.to(scorer.device)
        end_ids = tokenizer(self.prompt.end_marker, add_special_tokens=False)["input_ids"]
        stop_id = end_ids[0] if len(end_ids) == 1 else tokenizer.eos_token_id
        with scorer.acting(), torch.no_grad():
            out = scorer.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=self.settings.max_new_tokens,
                do_sample=False,
                eos_token_id=stop_id,
                pad_token_id=scorer.pad_token_id,
            )
        new = out[0, ids.shape[1] :] if scorer.kind == "causal" else out[0, 1:]
        raw = tokenizer.decode(new, skip_special_tokens=False)
        # Padding after the end (seq2seq) is not part of what the model wrote.
        pad = tokenizer.pad_token or ""
        if pad and pad != self.prompt.end_marker:
            raw = raw.replace(pad, "")
        return raw.strip()


def _check_stop(stop: Callable[[], bool]) -> None:
    if stop():
        raise PlanCanceledError("planning was canceled")

"""The generalisation table of MISSION A6 (the paper's Fig. 4) in one call.

Six tests, each a (level, variant) pair evaluated on new seeds (:mod:`.evaluation`):

=================  ======================  ===================
test               level                   variant
=================  ======================  ===================
in-distribution    MixedTrainLocal         none
OOV nouns          MixedTrainLocal         oov_nouns
invented words     MixedTrainLocal         invented_words
new composition    PickUpSeqPickUpLocal    none
synonym actions    MixedTrainLocal         synonym_actions
French             MixedTrainLocal         french
=================  ======================  ===================

(GLAM's post-training script runs its word-substitution tests on MixedTrainLocal with
seeds far from the training ones; new composition is the separate
PickUpSeqPickUpLocal level.) Every agent is evaluated on the same episodes. The result
is printed as a table and written as CSV (one row per test and agent, with the Wilson
interval) and markdown (success rates side by side, with the paper's numbers for
reference).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .evaluation import DEFAULT_EVAL_SEED, Agent, EvalResult, evaluate

__all__ = [
    "GENERALISATION_TESTS",
    "PAPER_RESULTS",
    "GeneralisationTest",
    "format_markdown",
    "generalisation_table",
    "to_csv",
    "write_table",
]


@dataclass(frozen=True)
class GeneralisationTest:
    key: str
    title: str
    level: str
    variant: str


GENERALISATION_TESTS: tuple[GeneralisationTest, ...] = (
    GeneralisationTest("in_distribution", "in-distribution", "MixedTrainLocal", "none"),
    GeneralisationTest("oov_nouns", "OOV nouns", "MixedTrainLocal", "oov_nouns"),
    GeneralisationTest("invented_words", "invented words", "MixedTrainLocal", "invented_words"),
    GeneralisationTest("new_composition", "new composition", "PickUpSeqPickUpLocal", "none"),
    GeneralisationTest("synonym_actions", "synonym actions", "MixedTrainLocal", "synonym_actions"),
    GeneralisationTest("french", "French", "MixedTrainLocal", "french"),
)

# MISSION A6 (paper Fig. 4), success rates; French GFlan-T5 is "~0.01" in the paper.
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "in_distribution": {
        "GFlan-T5": 0.89,
        "NPAE": 0.17,
        "DRRN": 0.14,
        "Random": 0.15,
        "Flan-T5 zero-shot": 0.11,
    },
    "oov_nouns": {
        "GFlan-T5": 0.87,
        "NPAE": 0.16,
        "DRRN": 0.15,
        "Random": 0.15,
        "Flan-T5 zero-shot": 0.09,
    },
    "invented_words": {
        "GFlan-T5": 0.77,
        "NPAE": 0.16,
        "DRRN": 0.16,
        "Random": 0.15,
        "Flan-T5 zero-shot": 0.11,
    },
    "new_composition": {
        "GFlan-T5": 0.12,
        "NPAE": 0.06,
        "DRRN": 0.06,
        "Random": 0.05,
        "Flan-T5 zero-shot": 0.02,
    },
    "synonym_actions": {
        "GFlan-T5": 0.12,
        "NPAE": 0.16,
        "DRRN": 0.17,
        "Random": 0.15,
        "Flan-T5 zero-shot": 0.01,
    },
    "french": {
        "GFlan-T5": 0.01,
        "NPAE": 0.30,
        "DRRN": 0.31,
        "Random": 0.30,
        "Flan-T5 zero-shot": 0.03,
    },
}


def generalisation_table(
    agents: Sequence[Agent],
    episodes: int = 100,
    *,
    tests: Sequence[GeneralisationTest] = GENERALISATION_TESTS,
    seed: int = DEFAULT_EVAL_SEED,
    num_envs: int = 32,
    confidence: float = 0.95,
    on_result: Callable[[GeneralisationTest, EvalResult], None] | None = None,
    progress: bool = False,
) -> list[tuple[GeneralisationTest, EvalResult]]:
    """Evaluate every agent on every test; ``on_result`` sees each result as it lands."""
    if not agents:
        raise ValueError("give at least one agent")
    names = [agent.name for agent in agents]
    if len(set(names)) != len(names):
        raise ValueError(f"agent names must be unique, got {names}")
    rows = []
    for test in tests:
        for agent in agents:
            result = evaluate(
                agent,
                test.level,
                test.variant,
                episodes,
                num_envs=num_envs,
                seed=seed,
                confidence=confidence,
                progress=progress,
            )
            rows.append((test, result))
            if on_result is not None:
                on_result(test, result)
    return rows


_CSV_FIELDS = (
    "test",
    "agent",
    "level",
    "variant",
    "episodes",
    "successes",
    "success_rate",
    "ci_low",
    "ci_high",
    "confidence",
    "mean_return",
    "mean_length",
    "seed",
)


def to_csv(rows: Sequence[tuple[GeneralisationTest, EvalResult]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for test, result in rows:
        data = result.to_dict()
        writer.writerow({"test": test.key, **{k: data[k] for k in _CSV_FIELDS if k != "test"}})
    return out.getvalue()


def format_markdown(
    rows: Sequence[tuple[GeneralisationTest, EvalResult]], *, with_paper: bool = True
) -> str:
    """Success rates (with the CI) per test and agent, plus the paper's columns."""
    tests: list[GeneralisationTest] = []
    agents: list[str] = []
    cell: dict[tuple[str, str], EvalResult] = {}
    for test, result in rows:
        if test not in tests:
            tests.append(test)
        if result.agent not in agents:
            agents.append(result.agent)
        cell[(test.key, result.agent)] = result
    paper_columns = list(PAPER_RESULTS["in_distribution"]) if with_paper else []
    header = ["test", *agents, *(f"paper {name}" for name in paper_columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for test in tests:
        values = []
        for agent in agents:
            result = cell.get((test.key, agent))
            values.append(
                ""
                if result is None
                else f"{result.success_rate:.2f} [{result.ci_low:.2f}, {result.ci_high:.2f}]"
            )
        paper = PAPER_RESULTS.get(test.key, {})
        values.extend(f"{paper[name]:.2f}" if name in paper else "" for name in paper_columns)
        lines.append("| " + " | ".join([test.title, *values]) + " |")
    if rows:
        first = rows[0][1]
        pct = round(first.confidence * 100)
        counts = {result.episodes for _, result in rows}
        if len(counts) == 1:
            over = f"over {first.episodes} episodes per cell"
        else:
            per_agent = []
            for agent in agents:
                n = sorted({r.episodes for _, r in rows if r.agent == agent})
                per_agent.append(f"{agent} {'/'.join(str(k) for k in n)}")
            over = "over N episodes per cell (" + "; ".join(per_agent) + ")"
        lines.append("")
        lines.append(
            f"Success rate [{pct}% Wilson interval] {over} (episode j on seed {first.seed} + j)."
        )
    return "\n".join(lines) + "\n"


def write_table(
    rows: Sequence[tuple[GeneralisationTest, EvalResult]],
    out_dir: str | Path,
    stem: str = "generalisation",
) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` into ``out_dir``; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / f"{stem}.csv", out / f"{stem}.md"
    csv_path.write_text(to_csv(rows), encoding="utf-8")
    md_path.write_text(format_markdown(rows), encoding="utf-8")
    return csv_path, md_path

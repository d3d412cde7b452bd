"""``grounded-plan``: turn an instruction into sub-goals from the command line (MISSION B3).

Examples::

    grounded-plan "stack the red object on the blue object"
    grounded-plan --raw "put the green block onto the red one"
    grounded-plan --model google/flan-t5-large --mode free --raw "grasp the blue object"
    grounded-plan --config config/planner.yaml --json "stack all three objects"
    grounded-plan --adapter "" "put the red block on the blue one"   # untuned LLM

Settings come from the shipped ``config/planner.yaml`` (the planner node's file) unless
``--config`` names another; the flags override single keys. Prints the plan as numbered
sub-goals. ``--raw`` adds what the model produced: the
generated text (free mode) or the candidate plans with their scores (constrained).
Exit code 0 on success, 2 on a bad instruction, configuration or model, or an invalid
generated plan (the raw text is printed with the error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .planner_config import (
    LENGTH_NORMS,
    MODES,
    SEARCHES,
    SYMMETRIES,
    default_config_file,
    load_planner_config,
)

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grounded-plan",
        description="Plan an instruction into sub-goals written as captions (MISSION B3).",
    )
    parser.add_argument("instruction", help="e.g. 'stack the red object on the blue object'")
    parser.add_argument(
        "--config", help="planner config (default: the shipped config/planner.yaml)"
    )
    parser.add_argument(
        "--model",
        help="special name, local model directory or HF hub id (the config's adapter "
        "applies only to the model it was tuned on)",
    )
    parser.add_argument(
        "--adapter", help="LoRA adapter directory from grounded-plan-tune ('' = none)"
    )
    parser.add_argument("--prompt", dest="prompt_file", help="few-shot prompt YAML")
    parser.add_argument("--captions", dest="caption_file", help="caption set YAML")
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--search", choices=SEARCHES)
    parser.add_argument("--length-norm", choices=LENGTH_NORMS)
    parser.add_argument(
        "--symmetry", choices=SYMMETRIES, help="objects: average over object renamings"
    )
    parser.add_argument(
        "--length-prior", type=float, help="nats taken off a plan's score per sub-goal"
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--max-new-tokens", type=int, help="free mode: generation budget")
    parser.add_argument("--raw", action="store_true", help="also print the model's raw output")
    parser.add_argument("--top", type=int, default=5, help="--raw: candidate plans to show")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .errors import LLMError
    from .planner import Planner
    from .planner_errors import InvalidPlanError

    try:
        config = load_planner_config(args.config or default_config_file()).replace(
            model=args.model,
            adapter=args.adapter,
            prompt_file=args.prompt_file,
            caption_file=args.caption_file,
            mode=args.mode,
            search=args.search,
            length_norm=args.length_norm,
            symmetry=args.symmetry,
            length_prior=args.length_prior,
            device=args.device,
            max_new_tokens=args.max_new_tokens,
        )
        planner = Planner.load(config)
        result = planner.plan(args.instruction)
    except InvalidPlanError as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        print(f"raw model output:\n{exc.raw_text}", file=sys.stderr)
        return 2
    except (LLMError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = {
            "instruction": result.instruction,
            "sub_goals": result.sub_goals,
            "mode": result.mode,
            "model": result.model,
            "raw_output": result.raw_output,
            "score": result.score,
            "candidates": [
                {"sub_goals": plan, "score": score} for plan, score in result.ranking[: args.top]
            ],
        }
        print(json.dumps(payload, indent=2))
        return 0
    for i, goal in enumerate(result.sub_goals, start=1):
        print(f"{i}. {goal}")
    if args.raw:
        print(f"\n# model: {result.model}, mode: {result.mode}")
        if result.mode == "free":
            print(f"# raw output:\n{result.raw_output}")
        elif result.ranking:
            print(f"# best {min(args.top, len(result.ranking))} of {len(result.ranking)} plans:")
            for plan, score in result.ranking[: args.top]:
                print(f"{score:9.3f}  " + " | ".join(plan))
        else:
            print(f"# score (greedy, sum over steps): {result.score:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

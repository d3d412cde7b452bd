"""``grounded-plan-tune``: tune the planner LLM in-domain with a LoRA adapter (MISSION B3).

Examples::

    grounded-plan-tune --out models/planner_lora \\
        --exclude config/planner_instructions.yaml          # the shipped adapter
    grounded-plan-tune --model tiny-llama --steps 4 --examples 16 --out /tmp/lora

Settings of the planner (model, prompt, caption set) come from ``config/planner.yaml``
unless ``--config`` names another; the adapter is tuned *without* the config's adapter.
``--exclude`` takes instruction-set YAML files (``config/planner_instructions.yaml``
format): none of their instructions is trained on. Prints a progress bar and writes
the adapter directory atomically; a killed run started again continues from its last
checkpoint (``<out>.resume/``). Use the result with ``grounded-plan --adapter DIR`` or
the ``adapter`` key of the planner config. Exit code 0 on success, 2 on bad settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from .planner_config import default_config_file, default_prompt_file, load_planner_config
from .planner_errors import PlannerConfigError
from .planner_eval import load_instruction_set
from .planner_tuning import TuningConfig

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grounded-plan-tune",
        description="Tune the planner LLM on generated instructions (a LoRA adapter).",
    )
    parser.add_argument("--out", required=True, help="adapter directory to write")
    parser.add_argument("--config", help="planner config (default: config/planner.yaml)")
    parser.add_argument("--model", help="base model (default: the config's)")
    parser.add_argument("--prompt", dest="prompt_file", help="few-shot prompt YAML")
    parser.add_argument("--captions", dest="caption_file", help="caption set YAML")
    parser.add_argument(
        "--exclude", action="append", default=[], help="instruction-set YAML never trained on"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    for f in dataclasses.fields(TuningConfig):
        parser.add_argument(
            "--" + f.name.replace("_", "-"), type=type(f.default), default=f.default
        )
    return parser


def read_instructions(path: str, space) -> list[str]:
    """The instruction texts of an instruction-set YAML file (checked as bench/planner.py
    reads it)."""
    try:
        return [case.text for case in load_instruction_set(path, space)]
    except PlannerConfigError as exc:
        raise ValueError(f"{path}: not an instruction set ({exc})") from exc


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from tqdm import tqdm

    from .errors import LLMError
    from .planner import Planner
    from .planner_tuning import tune_planner

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        tuning = TuningConfig(
            **{f.name: getattr(args, f.name) for f in dataclasses.fields(TuningConfig)}
        )
        config = load_planner_config(args.config or default_config_file()).replace(
            model=args.model, prompt_file=args.prompt_file, caption_file=args.caption_file
        )
        config = config.replace(adapter="", mode="constrained")
        planner = Planner.load(config)
        exclude = [t for path in args.exclude for t in read_instructions(path, planner.space)]
        prompt_file = config.prompt_file or default_prompt_file()
        with tqdm(total=tuning.steps, desc="tuning planner", unit="step") as bar:

            def on_step(step: int, steps: int, loss: float) -> None:
                bar.n = step
                bar.set_postfix(loss=f"{loss:.3f}")
                bar.refresh()

            result = tune_planner(
                planner,
                args.out,
                tuning,
                base_model=config.model,
                prompt_file=prompt_file,
                exclude=exclude,
                on_step=on_step,
            )
    except (LLMError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    first, last = result.losses[0], result.losses[-1]
    print(
        f"wrote {result.out_dir} ({result.steps} steps, loss {first:.3f} -> {last:.3f}, "
        f"{result.seconds:.0f} s this run"
        + (f", resumed from step {result.resumed_from}" if result.resumed_from else "")
        + ")"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

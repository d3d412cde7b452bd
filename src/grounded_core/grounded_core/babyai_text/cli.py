"""Command line for BabyAI-Text: play a level, replay actions, list levels/variants, export
bot demonstrations. Meant for people debugging prompts.

    grounded-babyai levels
    grounded-babyai variants
    grounded-babyai play GoToLocal --seed 3 [--variant french] [--prompt]
    grounded-babyai replay GoToLocal --seed 3 --actions "go forward,turn left" [--json]
    grounded-babyai expert MixedTrainLocal --seeds 0:100 --out demos.jsonl

(also ``python -m grounded_core.babyai_text ...``). Bad level, action, variant or task
kind names print one ``error:`` line naming the allowed values and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from .env import BabyAITextEnv, TextObservation
from .errors import BabyAITextError
from .expert import expert_dataset, run_expert, write_jsonl
from .levels import LEVELS
from .prompt import PromptHistory
from .variants import VARIANTS
from .vocab import GRAMMARS

__all__ = ["main"]

EXIT_USAGE = 2


def _env_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("level", help="level name, e.g. GoToLocal or BabyAI-GoToLocal-v0")
    parser.add_argument("--variant", default="none", help="variant name (see 'variants')")
    parser.add_argument("--grammar", default="compat", choices=GRAMMARS)
    parser.add_argument(
        "--task-kind", default=None, help="Mixed levels: goto, pickup, open, putnext or seq"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grounded-babyai", description="Play and inspect BabyAI-Text (GLAM's text BabyAI)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("levels", help="list the levels")
    sub.add_parser("variants", help="list the generalisation variants")

    play = sub.add_parser("play", help="play a level in the terminal")
    _env_options(play)
    play.add_argument("--seed", type=int, default=None, help="seed of the first episode")
    play.add_argument("--prompt", action="store_true", help="show GLAM's prompt at each step")

    replay = sub.add_parser("replay", help="replay a fixed list of actions")
    _env_options(replay)
    replay.add_argument("--seed", type=int, required=True)
    replay.add_argument(
        "--actions", required=True, help='comma-separated texts or indices: "go forward,1"'
    )
    replay.add_argument("--json", action="store_true", help="print the transcript as JSON")
    replay.add_argument("--prompt", action="store_true", help="include GLAM's prompts")

    expert = sub.add_parser("expert", help="BabyAI-bot demonstrations as (prompt, action)")
    _env_options(expert)
    expert.add_argument("--seeds", default="0:10", help="START:STOP range or comma list")
    expert.add_argument("--out", default=None, help="write JSONL here instead of stdout")
    return parser


def _parse_seeds(text: str) -> list[int]:
    try:
        if ":" in text:
            start, stop = (int(x) for x in text.split(":", 1))
            seeds = list(range(start, stop))
        else:
            seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BabyAITextError(f"--seeds must be START:STOP or a comma list, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise BabyAITextError(f"--seeds must give at least one non-negative seed, got {text!r}")
    return seeds


def _make_env(args: argparse.Namespace) -> BabyAITextEnv:
    return BabyAITextEnv(
        args.level, variant=args.variant, grammar=args.grammar, task_kind=args.task_kind
    )


def _cmd_levels(out: TextIO) -> int:
    for spec in LEVELS.values():
        kinds = f" [task kinds: {', '.join(spec.task_kinds)}]" if spec.task_kinds else ""
        out.write(f"{spec.name:22s} {spec.gym_id:32s} ({spec.source}) {spec.description}{kinds}\n")
    return 0


def _cmd_variants(out: TextIO) -> int:
    for variant in VARIANTS.values():
        alias = f" (GLAM: {variant.original_name})" if variant.original_name else ""
        out.write(f"{variant.name:24s} {variant.description}{alias}\n")
    return 0


def _show(out: TextIO, obs: TextObservation, history: PromptHistory | None) -> None:
    out.write(f"Mission: {obs.mission}\n")
    for sentence in obs.descriptions:
        out.write(f"  - {sentence}\n")
    if history is not None:
        out.write("Prompt:\n" + history.prompt(obs.mission) + "\n")


def _read_line(stdin: TextIO, out: TextIO, prompt: str) -> str | None:
    out.write(prompt)
    out.flush()
    line = stdin.readline()
    return None if line == "" else line.strip()


def _cmd_play(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    env = _make_env(args)
    history = PromptHistory(variant=env.variant)
    obs = env.reset(seed=args.seed)
    history.reset(obs.descriptions)
    actions = ", ".join(f"{i}={name}" for i, name in enumerate(env.action_space))
    out.write(f"{env.level} seed={env.seed} variant={env.variant.name}\n")
    out.write(f"Actions: {actions}. Also: reset, prompt, help, quit.\n")
    show_prompt = args.prompt
    episode_return = 0.0
    _show(out, obs, history if show_prompt else None)
    while True:
        line = _read_line(stdin, out, "action> ")
        if line is None or line.lower() in ("q", "quit", "exit"):
            out.write("\n" if line is None else "")
            return 0
        if not line:
            continue
        if line.lower() in ("?", "help"):
            out.write(f"Actions: {actions}. Commands: reset, prompt (toggle), quit.\n")
            continue
        if line.lower() == "prompt":
            show_prompt = not show_prompt
            _show(out, obs, history if show_prompt else None)
            continue
        if line.lower() == "reset":
            obs = env.reset()
            history.reset(obs.descriptions)
            episode_return = 0.0
            out.write(f"-- new episode {env.episode} (seed {env.seed})\n")
            _show(out, obs, history if show_prompt else None)
            continue
        try:
            obs, reward, done, info = env.step(line)
        except BabyAITextError as exc:
            out.write(f"error: {exc}\n")
            continue
        episode_return += reward
        history.step(info["action_name"], obs.descriptions, False)
        out.write(f"[{info['step_count']}/{info['max_steps']}] {info['action_name']}")
        out.write(f" -> reward {reward:.4f}\n")
        if done:
            verdict = "success" if info["success"] else "failure"
            out.write(
                f"Episode over: {verdict}, return {episode_return:.4f}, "
                f"{info['step_count']} steps\n"
            )
            obs = env.reset()
            history.reset(obs.descriptions)
            episode_return = 0.0
            out.write(f"-- new episode {env.episode} (seed {env.seed})\n")
        _show(out, obs, history if show_prompt else None)


def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    env = _make_env(args)
    actions = [a.strip() for a in args.actions.split(",") if a.strip()]
    obs = env.reset(seed=args.seed)
    history = PromptHistory(variant=env.variant)
    history.reset(obs.descriptions)
    record: dict = {
        "level": env.level,
        "seed": args.seed,
        "variant": env.variant.name,
        "grammar": env.grammar,
        "task_kind": env.task_kind,
        "mission": obs.mission,
        "max_steps": env.max_steps,
        "action_space": env.action_space,
        "initial_descriptions": obs.descriptions,
        "steps": [],
    }
    if args.prompt:
        record["initial_prompt"] = history.prompt(obs.mission)
    episode_return, done, info = 0.0, False, {"success": False}
    for t, action in enumerate(actions):
        if done:
            record["ignored_actions"] = actions[t:]
            break
        obs, reward, done, info = env.step(action)
        episode_return += reward
        history.step(info["action_name"], obs.descriptions, done)
        step = {
            "t": t + 1,
            "action": info["action_name"],
            "action_id": info["action"],
            "reward": reward,
            "done": done,
            "success": info["success"],
            "descriptions": obs.descriptions,
        }
        if args.prompt and not done:
            step["prompt"] = history.prompt(obs.mission)
        record["steps"].append(step)
    record.update(
        {
            "done": done,
            "success": info["success"],
            "return": episode_return,
            "length": len(record["steps"]),
        }
    )
    if args.json:
        out.write(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
        return 0
    out.write(f"{record['level']} seed={args.seed} variant={record['variant']}\n")
    out.write(f"Mission: {record['mission']}\n")
    for sentence in record["initial_descriptions"]:
        out.write(f"  - {sentence}\n")
    if args.prompt:
        out.write("Prompt:\n" + record["initial_prompt"] + "\n")
    for step in record["steps"]:
        out.write(f"[{step['t']}] {step['action']} -> reward {step['reward']:.4f}")
        out.write(" (done)\n" if step["done"] else "\n")
        for sentence in step["descriptions"]:
            out.write(f"  - {sentence}\n")
        if "prompt" in step:
            out.write("Prompt:\n" + step["prompt"] + "\n")
    if record.get("ignored_actions"):
        out.write(f"Episode ended; ignored: {', '.join(record['ignored_actions'])}\n")
    verdict = "success" if record["success"] else ("failure" if record["done"] else "not done")
    out.write(f"Result: {verdict}, return {record['return']:.4f}, {record['length']} steps\n")
    return 0


def _cmd_expert(args: argparse.Namespace, out: TextIO) -> int:
    seeds = _parse_seeds(args.seeds)
    options = {"variant": args.variant, "grammar": args.grammar, "task_kind": args.task_kind}
    if args.out is None and len(seeds) == 1:
        traj = run_expert(args.level, seeds[0], **options)
        out.write(json.dumps(traj.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return 0
    records = expert_dataset(args.level, seeds, skip_failures=True, **options)
    if args.out is None:
        for rec in records:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    else:
        count = write_jsonl(records, args.out)
        out.write(f"wrote {count} (prompt, action) pairs from {len(seeds)} seeds to {args.out}\n")
    return 0


def main(
    argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Entry point of ``grounded-babyai``; returns the exit status."""
    args = _parser().parse_args(argv)
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    try:
        if args.command == "levels":
            return _cmd_levels(out)
        if args.command == "variants":
            return _cmd_variants(out)
        if args.command == "play":
            return _cmd_play(args, stdin, out)
        if args.command == "replay":
            return _cmd_replay(args, out)
        return _cmd_expert(args, out)
    except BabyAITextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

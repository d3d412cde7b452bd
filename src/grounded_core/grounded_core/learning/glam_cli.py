"""``grounded-glam``: GLAM training, evaluation and baselines without ROS (MISSION A4-A6).

Subcommands::

    grounded-glam train [--config config/glam.yaml] [--run-dir DIR] [--resume]
                        [--updates N | --env-steps N] [section.key=value ...]
    grounded-glam config [--config FILE] [section.key=value ...]   # print the resolved config
    grounded-glam eval  (--model M | --random) --level L [--variant V] [--episodes N]
    grounded-glam table [--model M] [--zero-shot M] [--episodes N] [--out DIR]
    grounded-glam bc    [--model tiny-t5] [--level L] [--demos N] [--epochs N] [--out DIR]

Under torchrun (``torchrun --nproc_per_node N -m grounded_core.learning.glam_cli train
...``) ``train`` runs data-parallel: rank 0 is the learner (envs, logs, checkpoints) and
every rank scores a shard of the prompts and takes part in the updates
(:mod:`.distributed_training`); gloo on CPU, NCCL on GPU (``model.device=cuda`` means
``cuda:<LOCAL_RANK>``).

``--model`` takes a model name (``tiny-t5``, ``smollm2-135m-instruct``), a model or policy
directory, a training checkpoint, or a run directory (its latest checkpoint). Bad input
(unknown level, variant, config key, model...) prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2


def _checked(convert, accept, expected: str):
    """An argparse type: convert the text, keep it if accept(value), else say what was expected."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _checked(float, lambda v: v > 0, "a positive number")


def build_parser() -> argparse.ArgumentParser:
    from .evaluation import DEFAULT_EVAL_SEED

    parser = argparse.ArgumentParser(
        prog="grounded-glam",
        description="GLAM on BabyAI-Text: PPO fine-tuning of an LLM policy, evaluation, baselines.",
    )
    parser.add_argument(
        "--threads",
        type=_non_negative_int,
        default=0,
        help="torch CPU threads (0 = torch's default; train also reads train.torch_threads)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="PPO training (config file + key=value overrides)")
    train.add_argument("--config", type=Path, help="YAML config (default: built-in paper values)")
    train.add_argument("--run-dir", type=Path, help="checkpoints, TensorBoard logs, config.yaml")
    train.add_argument(
        "--resume", action="store_true", help="continue the latest checkpoint of --run-dir"
    )
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--updates", type=_positive_int, help="run this many more updates")
    budget.add_argument(
        "--env-steps", type=_positive_int, help="run at least this many more env steps"
    )
    train.add_argument("overrides", nargs="*", metavar="section.key=value")

    config = sub.add_parser("config", help="print the resolved config (file + overrides) as YAML")
    config.add_argument("--config", type=Path)
    config.add_argument("overrides", nargs="*", metavar="section.key=value")

    def add_eval_options(p: argparse.ArgumentParser, episodes: int) -> None:
        p.add_argument("--episodes", type=_positive_int, default=episodes)
        p.add_argument("--num-envs", type=_positive_int, default=32, help="episodes played at once")
        p.add_argument(
            "--seed",
            type=_non_negative_int,
            default=DEFAULT_EVAL_SEED,
            help="episode j uses seed SEED + j",
        )
        p.add_argument(
            "--greedy", action="store_true", help="argmax actions (default: sample, as GLAM)"
        )
        p.add_argument("--device", default="cpu")

    ev = sub.add_parser("eval", help="success rate with a Wilson interval")
    who = ev.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="model name/dir, policy dir, checkpoint or run dir")
    who.add_argument("--random", action="store_true", help="the uniformly random baseline")
    ev.add_argument("--level", required=True)
    ev.add_argument("--variant", default="none")
    ev.add_argument("--max-steps", type=_non_negative_int, default=0, help="0 = the level's budget")
    ev.add_argument("--json", type=Path, help="also write the result here")
    add_eval_options(ev, 100)

    table = sub.add_parser("table", help="the generalisation table of MISSION A6")
    table.add_argument("--model", help="trained policy (checkpoint, run dir or model)")
    table.add_argument("--name", default="", help="column name of --model (default: GLAM)")
    table.add_argument(
        "--zero-shot", help="untrained model for the zero-shot column (e.g. tiny-t5)"
    )
    table.add_argument("--no-random", action="store_true", help="leave out the random baseline")
    table.add_argument("--out", type=Path, default=Path("runs/glam/generalisation"))
    add_eval_options(table, 100)

    bc = sub.add_parser("bc", help="behaviour cloning on BabyAI-bot demonstrations (Q4 baseline)")
    bc.add_argument("--model", default="tiny-t5", help="initial model (default tiny-t5)")
    bc.add_argument("--init", choices=("pretrained", "npae", "random"), default="pretrained")
    bc.add_argument("--dropout", type=float, default=-1.0, help="< 0 keeps the model's")
    bc.add_argument("--level", default="MixedTrainLocal")
    bc.add_argument("--variant", default="none")
    bc.add_argument("--demos", type=_positive_int, default=200, help="bot episodes")
    bc.add_argument("--demo-seed", type=_non_negative_int, default=0)
    bc.add_argument("--epochs", type=_positive_int, default=4)
    bc.add_argument("--minibatch-size", type=_positive_int, default=64)
    bc.add_argument("--lr", type=_positive_float, default=1e-4)
    bc.add_argument("--train-seed", type=_non_negative_int, default=0)
    bc.add_argument(
        "--eval-episodes", type=_non_negative_int, default=100, help="0 = no evaluation"
    )
    bc.add_argument("--out", type=Path, default=Path("runs/glam/bc"))
    bc.add_argument("--num-envs", type=_positive_int, default=32)
    bc.add_argument("--seed", type=_non_negative_int, default=DEFAULT_EVAL_SEED)
    bc.add_argument("--greedy", action="store_true")
    bc.add_argument("--device", default="cpu")
    return parser


def _model_label(model: str) -> str:
    path = Path(model)
    return path.name if path.exists() else model


def _cmd_train(args) -> int:
    from .distributed_training import is_distributed

    if not is_distributed():
        return _train(args, distributed=False)
    import torch.distributed as dist

    from ..distributed import init_from_env
    from .distributed_training import abort_replicas, serve_replica

    rank, _ = init_from_env()
    try:
        if rank != 0:
            return serve_replica()
        return _train(args, distributed=True, on_start_failure=abort_replicas)
    finally:
        dist.destroy_process_group()


def _train(args, *, distributed: bool, on_start_failure=None) -> int:
    try:
        trainer = _build_trainer(args, distributed)
    except BaseException as exc:
        if on_start_failure is not None:
            on_start_failure(str(exc) or type(exc).__name__)
        raise
    return _run_training(args, trainer)


def _build_trainer(args, distributed: bool):
    from .glam_config import load_config
    from .glam_trainer import GlamTrainer

    if args.resume:
        if args.config is not None:
            raise _UsageError(
                "--resume takes the config stored in the checkpoint; drop --config "
                "(use key=value overrides to change settings)"
            )
        if args.run_dir is None:
            raise _UsageError("--resume needs --run-dir")
        return GlamTrainer.from_checkpoint(args.run_dir, args.overrides, distributed=distributed)
    config = load_config(args.config, args.overrides)
    return GlamTrainer(config, args.run_dir, distributed=distributed)


def _run_training(args, trainer) -> int:
    print(f"run directory: {trainer.run_dir}", file=sys.stderr)
    with trainer:
        try:
            result = trainer.train(num_updates=args.updates, env_steps=args.env_steps)
        except KeyboardInterrupt:
            # Ctrl-C: checkpoint the current state unless an update was cut half-way, in
            # which case the previous checkpoint (every update by default) stands.
            path = trainer.save_checkpoint() if trainer.can_checkpoint else trainer.last_checkpoint
            print(f"interrupted; checkpoint: {path}", file=sys.stderr)
            return 130
    report = result.last_report
    print(result.message)
    if report is not None:
        window = trainer.config.train.stats_window
        print(f"success rate (last {window} episodes): {report.success_rate:.3f}")
    print(f"checkpoint: {result.checkpoint}")
    return 0


def _cmd_config(args) -> int:
    from .glam_config import load_config

    print(load_config(args.config, args.overrides).to_yaml(), end="")
    return 0


def _load_agent(model: str, args, name: str):
    from .evaluation import PolicyAgent
    from .policy_loading import load_policy

    policy = load_policy(model, device=args.device)
    return PolicyAgent(policy, greedy=args.greedy, seed=0, name=name)


def _cmd_eval(args) -> int:
    from .evaluation import RandomAgent, evaluate

    agent = (
        RandomAgent(seed=0)
        if args.random
        else _load_agent(args.model, args, _model_label(args.model))
    )
    result = evaluate(
        agent,
        args.level,
        args.variant,
        args.episodes,
        num_envs=args.num_envs,
        seed=args.seed,
        max_steps=args.max_steps or None,
        progress=sys.stderr.isatty(),
    )
    print(result.summary())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


def _cmd_table(args) -> int:
    from .evaluation import RandomAgent
    from .generalisation import format_markdown, generalisation_table, write_table

    agents = []
    if args.model:
        agents.append(_load_agent(args.model, args, args.name or "GLAM"))
    if args.zero_shot:
        agents.append(
            _load_agent(args.zero_shot, args, f"zero-shot {_model_label(args.zero_shot)}")
        )
    if not args.no_random:
        agents.append(RandomAgent(seed=0))
    if not agents:
        raise _UsageError(
            "nothing to evaluate: give --model and/or --zero-shot, or keep the random baseline"
        )

    def show(test, result) -> None:
        print(f"{test.title:>16}: {result.summary()}", file=sys.stderr)

    rows = generalisation_table(
        agents, args.episodes, seed=args.seed, num_envs=args.num_envs, on_result=show
    )
    print(format_markdown(rows), end="")
    csv_path, md_path = write_table(rows, args.out)
    print(f"written: {csv_path} {md_path}", file=sys.stderr)
    return 0


def _cmd_bc(args) -> int:
    from .behaviour_cloning import BCConfig, bot_demonstrations, train_behaviour_cloning
    from .evaluation import PolicyAgent, evaluate
    from .policy_loading import load_policy

    config = BCConfig(
        level=args.level,
        variant=args.variant,
        demos=args.demos,
        demo_seed=args.demo_seed,
        epochs=args.epochs,
        minibatch_size=args.minibatch_size,
        lr=args.lr,
        seed=args.train_seed,
    )
    policy = load_policy(args.model, init=args.init, device=args.device, dropout=args.dropout)
    records = bot_demonstrations(config)
    print(
        f"{len(records)} (prompt, action) pairs from {config.demos} bot episodes", file=sys.stderr
    )

    def show(report) -> None:
        print(
            f"epoch {report.epoch}: loss {report.loss:.4f}, accuracy {report.accuracy:.3f}",
            file=sys.stderr,
        )

    reports = train_behaviour_cloning(policy, records, config, on_epoch=show)
    args.out.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(args.out / "policy")
    summary = {
        "config": config.to_dict(),
        "model": args.model,
        "init": args.init,
        "samples": len(records),
        "epochs": [r.__dict__ for r in reports],
    }
    if args.eval_episodes:
        agent = PolicyAgent(policy, greedy=args.greedy, name="bc")
        result = evaluate(
            agent,
            config.level,
            config.variant,
            args.eval_episodes,
            num_envs=args.num_envs,
            seed=args.seed,
        )
        print(result.summary())
        summary["evaluation"] = result.to_dict()
    (args.out / "bc_result.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"policy: {args.out / 'policy'}", file=sys.stderr)
    return 0


class _UsageError(Exception):
    """A command-line combination that cannot work."""


_COMMANDS = {
    "train": _cmd_train,
    "config": _cmd_config,
    "eval": _cmd_eval,
    "table": _cmd_table,
    "bc": _cmd_bc,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..babyai_text import BabyAITextError
    from ..data import CheckpointError
    from ..llm import LLMError
    from .glam_config import ConfigError

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return _COMMANDS[args.command](args)
    except (_UsageError, ConfigError, BabyAITextError, CheckpointError, LLMError) as exc:
        print(f"grounded-glam {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

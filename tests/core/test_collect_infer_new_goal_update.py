"""Collect & Infer ``update_on_new_goal``: a round ends right after a goal's first
demonstration (and the bench's run names tell update-schedule variants apart)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from grounded_core.learning.buffers import EpisodeStore
from grounded_core.learning.collect_infer import (
    CollectInfer,
    CollectInferConfig,
    CollectInferConfigError,
    load_collect_infer_config,
)
from tests.core.test_collect_infer import fast_config as tiny_collect_infer_config

ROOT = Path(__file__).resolve().parents[2]


def fast_config(**changes) -> CollectInferConfig:
    # test_collect_infer's tiny config with longer rounds, so that an early round end
    # shows, and no lifelong reuse.
    base = {
        "episodes_per_update": 6,
        "bc_steps": 5,
        "eval_max_steps": 1,
        "max_env_steps": 14,
        "reuse_lifelong": False,
    }
    return tiny_collect_infer_config(**{**base, **changes})


def test_config_default_on_and_validated():
    assert CollectInferConfig().update_on_new_goal is True
    shipped = load_collect_infer_config(ROOT / "config" / "collect_infer.yaml")
    assert shipped.update_on_new_goal is True
    with pytest.raises(CollectInferConfigError, match="update_on_new_goal"):
        CollectInferConfig.from_dict({"update_on_new_goal": "yes"})


def _run(tmp_path: Path, name: str, **changes):
    run = tmp_path / name
    with CollectInfer(fast_config(**changes), run, progress=False, log=lambda m: None) as ci:
        report = ci.run_task("grasp_red")
    episodes = sorted(EpisodeStore(run / "lifelong"), key=lambda e: e.episode_id)
    return report, episodes


def test_round_ends_after_the_first_demonstration_of_a_goal(tmp_path):
    report, episodes = _run(tmp_path, "new", update_on_new_goal=True)
    first = next(i for i, e in enumerate(episodes) if e.labels)
    assert first < 5  # the object-pointing prior grasps early (else the test proves nothing)
    # The first update (and evaluation) came right after that episode, not after 6.
    assert report.curve[0].episodes == first + 1
    assert report.curve[0].env_steps == sum(e.length for e in episodes[: first + 1])
    # Both goals of grasp_red (sub-goal and task label) were new together, so the
    # next round is a full one (or cut by the budget).
    if len(report.curve) > 1:
        full = report.curve[0].episodes + 6
        assert report.curve[1].episodes == full or report.env_steps >= 14

    # Same run without the rule: identical episodes up to the first update, which
    # comes only after the full round of 6.
    plain, plain_episodes = _run(tmp_path, "plain", update_on_new_goal=False)
    assert plain.curve[0].episodes == 6
    for a, b in zip(episodes[: first + 1], plain_episodes, strict=False):
        assert a.episode_id == b.episode_id and a.seed == b.seed
        assert (a.actions == b.actions).all()


def _bench_module():
    spec = importlib.util.spec_from_file_location(
        "bench_collect_infer", ROOT / "bench" / "collect_infer.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_run_names_mark_schedule_variants():
    bench = _bench_module()
    args = argparse.Namespace(
        judge="truth",
        seed=3,
        max_prefix=1,
        task_prefix=2,
        pointer_aux=None,
        shift=None,
        episodes_per_update=None,
        update_on_new_goal=False,
    )
    main = bench._suffix(args)
    assert main == "-truth-s3-p1t2-aux1-shift0.05"  # the main runs' names stay as they are
    args.episodes_per_update = 4
    assert bench._suffix(args) == main + "-epu4"
    assert bench._config(args).episodes_per_update == 4
    args.episodes_per_update, args.update_on_new_goal = None, True
    assert bench._suffix(args) == main + "-newgoal"
    assert bench._config(args).update_on_new_goal is True

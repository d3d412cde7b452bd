"""Benchmarks of the tabletop arm world (MISSION B1).

Measures, on this machine, in one process:

1. primitive steps per second (uniform random policy; and the scripted expert);
2. renders per second: one 128x128 camera and the 640x480 overview camera
   (pybullet tiny renderer, headless);
3. scripted-expert success rate per task over N seeds (target 100% on 200);
4. task sparseness = mean random-policy primitive steps per reward, next to the
   paper's ~10^1 (grasp), ~10^3 (stack two) and >10^6 (triple stack). The
   uniform random policy runs in seeded episodes as long as the longest step
   limit; each task's steps per reward follows exactly from the first step at
   which it succeeds in each episode, cut at that task's own step limit (as the
   environment resets on success or truncation). The triple stack is out of
   reach directly; it is estimated from measured ingredients with a small
   dynamic programme (see ``triple_stack_model``).

    python bench/tabletop.py            # full run (~15 min on 2 busy cores)
    python bench/tabletop.py --quick    # a smoke run with tiny counts
    python bench/tabletop.py --only throughput   # re-measure one section, merge into results

Writes bench/results/tabletop.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, git_commit, machine_info, write_results

from grounded_core.tabletop import (
    RandomPolicy,
    ScriptedExpert,
    TabletopWorld,
    build_tasks,
    get_task,
    is_grasping,
    is_on_top,
    on_top_pairs,
    tower_of_all,
)

PAPER_SPARSENESS = {"grasp_red": "~10^1", "stack_two": "~10^3", "triple_stack": ">10^6"}


# ---------------------------------------------------------------------- throughput


def bench_primitive_rate(world: TabletopWorld, steps: int, seed: int) -> dict:
    """Random-policy primitives per second (reset every 20 primitives, excluded from timing)."""
    policy = RandomPolicy(world.config.workspace, seed=seed + 10_000)  # not a layout seed
    sim_steps = 0
    elapsed = 0.0
    picks = places = 0
    for i in range(steps):
        if i % 20 == 0:
            world.reset(seed=seed + i)
        start = time.perf_counter()
        result = world.act(*policy.act())
        elapsed += time.perf_counter() - start
        sim_steps += result.sim_steps
        picks += result.kind == "pick"
        places += result.kind == "place"
    dt = world.config.physics.time_step
    return {
        "primitives": steps,
        "primitives_per_s": steps / elapsed,
        "physics_steps_per_primitive": sim_steps / steps,
        "sim_seconds_per_primitive": sim_steps * dt / steps,
        "physics_steps_per_s": sim_steps / elapsed,
        "picks": picks,
        "places": places,
    }


def bench_renders(world: TabletopWorld, n_small: int, n_large: int) -> dict:
    world.reset(seed=0)
    small = world.config.enabled_cameras[0].name
    out = {}
    for name, n in ((small, n_small), ("overview", n_large)):
        world.render(name)  # warm-up
        start = time.perf_counter()
        for _ in range(n):
            world.render(name)
        elapsed = time.perf_counter() - start
        cam = world.config.camera(name)
        out[f"{cam.width}x{cam.height}"] = {
            "camera": name,
            "renders": n,
            "renders_per_s": n / elapsed,
            "ms_per_render": 1e3 * elapsed / n,
        }
    return out


# ---------------------------------------------------------------------- expert


def bench_expert(world: TabletopWorld, seeds: int) -> dict:
    tol = world.config.tolerances
    per_task = {}
    total_prims, total_time = 0, 0.0
    for task in build_tasks(world.config).values():
        solved, optimal, steps_used = 0, 0, []
        failures = []
        for seed in range(seeds):
            state = world.reset(seed=seed)
            expert = ScriptedExpert(world.config, task)
            for step in range(1, task.max_steps + 1):
                start = time.perf_counter()
                world.act(*expert.act(state))
                state = world.state()
                total_time += time.perf_counter() - start
                total_prims += 1
                if task.is_success(state, tol):
                    solved += 1
                    optimal += step == task.optimal_steps
                    steps_used.append(step)
                    break
            else:
                failures.append(seed)
        per_task[task.name] = {
            "episodes": seeds,
            "success_rate": solved / seeds,
            "optimal_rate": optimal / seeds,
            "mean_steps": statistics.fmean(steps_used) if steps_used else None,
            "optimal_steps": task.optimal_steps,
            "failed_seeds": failures,
        }
    return {
        "per_task": per_task,
        "overall_success_rate": statistics.fmean(t["success_rate"] for t in per_task.values()),
        "primitives": total_prims,
        "primitives_per_s": total_prims / total_time,
    }


# ---------------------------------------------------------------------- sparseness


def random_episodes(world: TabletopWorld, episodes: int, horizon: int, seed: int) -> dict:
    """Uniform random policy in episodes of ``horizon`` primitives from seeded resets.

    Records, per episode, the first step (1-based) at which each event holds:
    grasping red, each ordered pair stacked, any pair stacked, the triple
    tower; and every random pick's outcome. Sparseness for a task with step
    limit h then follows exactly as the environment would see it (reset on
    success or after h steps): sum over episodes of min(T, h) / number of
    episodes with T <= h.
    """
    tol = world.config.tolerances
    names = world.object_names
    pairs = [f"{a}_on_{b}" for a, b in itertools.permutations(names, 2)]
    rng = np.random.default_rng(seed)
    first: dict[str, list] = {k: [] for k in ("grasp_red", "any_pair", "triple", *pairs)}
    picks, picked = 0, 0
    left_workspace = fell_off = 0
    for _ in range(episodes):
        # Separate seeds: with one seed the policy's first (x, y) would reuse the
        # random draws that placed the first object (red) and pick it far too often.
        layout_seed, policy_seed = (int(v) for v in rng.integers(2**31, size=2))
        world.reset(seed=layout_seed)
        policy = RandomPolicy(world.config.workspace, seed=policy_seed)
        hit: dict[str, int | None] = dict.fromkeys(first)
        for step in range(1, horizon + 1):
            result = world.act(*policy.act())
            if result.kind == "pick":
                picks += 1
                picked += result.picked is not None
            state = world.state()
            if hit["grasp_red"] is None and is_grasping(state, "red", tol):
                hit["grasp_red"] = step
            stacked = on_top_pairs(state, tol)
            for a, b in stacked:
                if hit[f"{a}_on_{b}"] is None:
                    hit[f"{a}_on_{b}"] = step
            if stacked and hit["any_pair"] is None:
                hit["any_pair"] = step
            if hit["triple"] is None and tower_of_all(state, tol) is not None:
                hit["triple"] = step
        # Unreachable: a cube centre more than half a cube outside the workspace
        # (a pick there cannot straddle it), or fallen off the table.
        left_workspace += any(
            not world.config.workspace.contains(
                *state.position(n)[:2], tol=state.objects[n].size / 2
            )
            for n in names
        )
        fell_off += any(state.position(n)[2] < world.table_height - 0.1 for n in names)
        for key, value in hit.items():
            first[key].append(value)
    return {
        "episodes": episodes,
        "horizon": horizon,
        "primitives": episodes * horizon,
        "first_hit": first,
        "random_picks": picks,
        "p_pick_any": picked / picks,
        "p_pick_object": picked / picks / len(names),
        "episodes_ending_with_an_unreachable_cube": left_workspace,
        "episodes_ending_with_a_cube_off_the_table": fell_off,
        "pairs": pairs,
    }


def steps_per_reward(first_hits: list, h: int) -> dict:
    """Random steps per reward with episodes truncated at h (reset on success)."""
    hits = [t for t in first_hits if t is not None and t <= h]
    steps = sum(min(t, h) if t is not None else h for t in first_hits)
    return {
        "horizon": h,
        "episodes": len(first_hits),
        "rewards": len(hits),
        "steps": steps,
        "steps_per_reward": steps / len(hits) if hits else None,
    }


def place_outcomes(world: TabletopWorld, trials: int, onto_pair: bool, seed: int) -> dict:
    """One random place while holding an object, from constructed states.

    ``onto_pair=False``: three separate objects, one of them picked: how often
    the random place leaves it resting on another object. ``onto_pair=True``: a
    two-stack plus the third object picked: how often the place completes the
    tower, and how often it knocks the two-stack apart.
    """
    tol = world.config.tolerances
    rng = np.random.default_rng(seed)
    policy = RandomPolicy(world.config.workspace, seed=seed + 10_000)  # not a layout seed
    names = world.object_names
    done = on_other = tower = knocked = 0
    for _ in range(trials):
        layout = world.random_layout(seed=int(rng.integers(2**31)))
        order = [names[i] for i in rng.permutation(len(names))]
        if onto_pair:
            bottom, top, held = order
            layout = {bottom: layout[bottom], top: bottom, held: layout[held]}
        else:
            held = order[0]
        world.reset(layout=layout)
        state = world.state()
        if world.act(*state.position(held)[:2]).picked != held:
            continue  # the scripted pick failed (rare): not a trial of the place
        if onto_pair and not is_on_top(world.state(), top, bottom, tol):
            continue  # the hand brushed the stack while picking: not a trial either
        done += 1
        world.act(*policy.act())
        state = world.state()
        if onto_pair:
            tower += tower_of_all(state, tol) is not None
            knocked += not is_on_top(state, top, bottom, tol)
        else:
            on_other += any(is_on_top(state, held, other, tol) for other in names if other != held)
    out = {"trials": done}
    if onto_pair:
        out.update(p_complete_tower=tower / done, p_knock_stack=knocked / done)
    else:
        out.update(
            p_on_any_other=on_other / done,
            p_on_given_object=on_other / done / (len(names) - 1),
        )
    return out


def triple_stack_model(runs: dict, pair: dict, single: dict, horizon: int) -> dict:
    """Estimate random steps per triple-stack reward (episodes of ``horizon`` steps).

    The tower needs a two-stack first. g(t), the probability that the first
    two-stack of an episode appears at step t, is measured (random episodes).
    From a two-stack with the gripper empty, each random pick grasps its top
    with probability a (the stack is gone: treated as a fresh start) or the
    third cube with probability b (measured per-object pick probability), else
    nothing; holding the third cube, one random place completes the tower with
    probability ps, knocks the stack apart with pk (fresh start) or leaves it
    standing (ps, pk measured from constructed states). A dynamic programme
    over the remaining steps gives P(tower within the episode) = V_N(horizon)
    with V_N(r) = sum_t g(t) V_S(r - t), V_S(r) = b V_H(r-1) + a V_N(r-1) +
    (1 - a - b) V_S(r-1), V_H(r) = ps + pk V_N(r-1) + (1 - ps - pk) V_S(r-1),
    and steps per reward ~ horizon / P (nearly every episode runs to the end).

    The same ingredients give a check on stack two: per grasp-and-place cycle
    (1 / p_pick_any + 1 steps) the held cube lands on a given other cube with
    probability p_on_given_object, so steps per any-pair reward without a step
    limit ~ (1 / p_pick_any + 1) / (2 p_on_given_object).
    """
    a = b = runs["p_pick_object"]
    ps, pk = pair["p_complete_tower"], pair["p_knock_stack"]
    firsts = runs["first_hit"]["any_pair"]
    g = np.zeros(horizon + 1)
    for t in firsts:
        if t is not None and t <= horizon:
            g[t] += 1.0 / len(firsts)

    def p_tower(p_complete: float) -> float:
        v_n, v_s, v_h = (np.zeros(horizon + 1) for _ in range(3))
        for r in range(1, horizon + 1):
            v_s[r] = b * v_h[r - 1] + a * v_n[r - 1] + (1 - a - b) * v_s[r - 1]
            v_h[r] = p_complete + pk * v_n[r - 1] + (1 - p_complete - pk) * v_s[r - 1]
            v_n[r] = sum(g[t] * v_s[r - t] for t in range(1, r + 1))
        return float(v_n[horizon])

    out = {
        "horizon": horizon,
        "a_pick_top": a,
        "b_pick_third": b,
        "ps_complete": ps,
        "pk_knock": pk,
        "p_two_stack_within_horizon": float(g.sum()),
        "steps_per_triple_estimate": None,
    }
    if ps > 0:
        p_episode = p_tower(ps)
        out["p_tower_per_episode"] = p_episode
        out["steps_per_triple_estimate"] = horizon / p_episode if p_episode > 0 else None
    elif pair["trials"]:
        # No tower in the trials: ps < ~1/trials bounds the steps from below.
        p_episode = p_tower(1.0 / pair["trials"])
        out["steps_per_triple_lower_bound"] = horizon / p_episode if p_episode > 0 else None
    p_given = single["p_on_given_object"]
    if p_given > 0:
        p_any = runs["p_pick_any"]
        out["stack_two_any_pair_unlimited_model"] = (1.0 / p_any + 1.0) / (2.0 * p_given)
    return out


# ---------------------------------------------------------------------- report


def _fmt(x, digits=1) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and x >= 1000:
        return f"{x:,.0f} (10^{np.log10(x):.1f})"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def render_markdown(payload: dict) -> str:
    m, r = payload["machine"], payload["results"]
    prim, rend, exp = r["primitive_rate"], r["renders"], r["expert"]
    sp = r["sparseness"]
    world = payload["settings"]["world"]

    def when(section: str) -> str:
        info = payload["sections"][section]
        load = ", ".join(str(x) for x in info["load_average_1_5_15"])
        took = f"{info['wall_time_s']:.0f} s" if info.get("wall_time_s") else info.get("note", "")
        return f"measured {info['date_utc']} at `{info['commit']}`, {took}, load average {load}"

    lines = [
        "# Tabletop world (MISSION B1): speed, expert, sparseness",
        "",
        f"Commit `{payload['commit']}`, {m['cpu_model']} ({m['cpu_count']} cores, shared with "
        f"other jobs), {m['platform']}, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + ".",
        f"World `{world['name']}`: physics {world['physics_hz']:.0f} Hz, "
        f"workspace x {world['workspace']['x']} y {world['workspace']['y']} m, 5 cm cubes, "
        f"step limits {world['step_limits']}.",
        "",
        f"## Throughput (one process; {when('throughput')})",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| primitive steps/s, random policy ({prim['primitives']} primitives) | "
        f"{prim['primitives_per_s']:.1f} |",
        f"| physics steps per random primitive | {prim['physics_steps_per_primitive']:.0f} "
        f"({prim['sim_seconds_per_primitive']:.2f} s simulated) |",
    ]
    for size, v in rend.items():
        lines.append(
            f"| renders/s {size} (`{v['camera']}`, RGB+depth+segmentation, tiny renderer, "
            f"{v['renders']} renders) | {v['renders_per_s']:.1f} ({v['ms_per_render']:.1f} ms) |"
        )
    lines += [
        "",
        f"## Scripted expert ({payload['settings']['expert']['expert_seeds']} seeds per task; "
        f"{when('expert')})",
        "",
        f"{exp['primitives']} expert primitives at {exp['primitives_per_s']:.1f} primitive "
        "steps/s (including state queries and planning).",
        "",
        "| task | success | optimal length | mean steps (optimal) |",
        "|---|---|---|---|",
    ]
    for name, t in exp["per_task"].items():
        lines.append(
            f"| {name} | {100 * t['success_rate']:.1f}% | {100 * t['optimal_rate']:.1f}% | "
            f"{_fmt(t['mean_steps'], 2)} ({t['optimal_steps']}) |"
        )
    runs, tri = sp["random_episodes"], sp["triple_stack_model"]
    g, pair_pooled, any_pair, direct_tri = (
        sp["grasp_red"],
        sp["stack_given_pair"],
        sp["stack_any_pair"],
        sp["triple_direct"],
    )
    single, pair = sp["place_on_single"], sp["place_on_pair"]
    triple_value = tri.get("steps_per_triple_estimate")
    triple_text = (
        _fmt(triple_value)
        if triple_value is not None
        else f"> {_fmt(tri.get('steps_per_triple_lower_bound'))} (bound)"
    )
    lines += [
        "",
        f"## Task sparseness: random-policy primitive steps per reward ({when('sparseness')})",
        "",
        f"{runs['episodes']} episodes of the uniform random policy, {runs['horizon']} primitives "
        f"each ({runs['primitives']} primitives, seeded resets). A task with step limit h sees "
        "episodes cut at h and reset on success, so its steps per reward is "
        "sum(min(T, h)) / #(T <= h) over the episodes' first-success steps T.",
        "",
        "| task | step limit | this world | paper | measured |",
        "|---|---|---|---|---|",
        f"| grasp the red object | {g['horizon']} | {_fmt(g['steps_per_reward'])} | "
        f"{PAPER_SPARSENESS['grasp_red']} | direct: {g['rewards']} rewards in {g['steps']} steps |",
        f"| stack X on Y (mean of the 6 pairs) | {pair_pooled['horizon']} | "
        f"{_fmt(pair_pooled['steps_per_reward'])} | {PAPER_SPARSENESS['stack_two']} | direct: "
        f"{pair_pooled['rewards']} rewards over the 6 pair tasks in "
        f"{pair_pooled['steps']} task-steps |",
        f"| (any pair, for reference) | {any_pair['horizon']} | "
        f"{_fmt(any_pair['steps_per_reward'])} | | {any_pair['rewards']} rewards |",
        f"| stack all three | {direct_tri['horizon']} | {triple_text} | "
        f"{PAPER_SPARSENESS['triple_stack']} | estimated (model below); direct: "
        f"{direct_tri['rewards']} rewards in {direct_tri['steps']} steps |",
        "",
        "Per pair: "
        + ", ".join(
            f"{k.replace('_on_', ' on ')} {_fmt(v['steps_per_reward'])} ({v['rewards']})"
            for k, v in sp["per_pair"].items()
        )
        + ".",
        "",
        "Triple-stack estimate. Measured ingredients: a random pick grasps a given cube with "
        f"p = {runs['p_pick_object']:.4f} ({runs['random_picks']} random picks); holding the third "
        "cube beside a two-stack (constructed states), one random place completes the tower with "
        f"ps = {pair['p_complete_tower']:.4f} and knocks the stack apart with "
        f"pk = {pair['p_knock_stack']:.4f} ({pair['trials']} trials); an episode reaches a "
        f"two-stack within {tri['horizon']} steps with p = {tri['p_two_stack_within_horizon']:.3f} "
        "(first-hit times from the random episodes). A dynamic programme over the remaining steps "
        "(two-stack -> pick the third (p) -> place on top (ps), losing the stack when its top is "
        "picked (p) or it is knocked over (pk), then starting over) gives P(tower within an "
        f"episode) = {_fmt(tri.get('p_tower_per_episode'), 8)} and steps per reward ~ "
        "step limit / P.",
        "",
        "Model check on stack two (no step limit): per grasp-and-place cycle the held cube lands "
        f"on a given other cube with p = {single['p_on_given_object']:.4f} "
        f"({single['trials']} trials), predicting "
        f"{_fmt(tri.get('stack_two_any_pair_unlimited_model'))} steps per any-pair reward without "
        "a step limit.",
        "",
        f"{runs['episodes_ending_with_an_unreachable_cube']} of {runs['episodes']} random "
        "episodes ended with a cube more than half a cube outside the workspace "
        f"({runs['episodes_ending_with_a_cube_off_the_table']} with one fallen off the table): "
        "random picks and places push cubes around, which is why sparseness is measured in "
        "episodes with resets (an unbounded random run ends up with cubes out of reach).",
        "",
        "Produced by `python bench/tabletop.py`.",
    ]
    return "\n".join(lines)


SECTIONS = ("throughput", "expert", "sparseness")


def _section_info(started: float) -> dict:
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
        "wall_time_s": time.perf_counter() - started,
        "commit": git_commit(),
    }


def run_sparseness(world: TabletopWorld, args: argparse.Namespace, limits: dict) -> dict:
    h_grasp, h_stack, h_all = limits["grasp"], limits["stack"], limits["stack_all"]
    print("random episodes ...", flush=True)
    runs = random_episodes(world, args.episodes, max(limits.values()), args.seed + 1)
    print("place trials ...", flush=True)
    single = place_outcomes(world, args.place_trials // 2, onto_pair=False, seed=args.seed + 2)
    pair = place_outcomes(world, args.place_trials, onto_pair=True, seed=args.seed + 3)
    first = runs["first_hit"]
    per_pair = {k: steps_per_reward(first[k], h_stack) for k in runs["pairs"]}
    pooled_steps = sum(v["steps"] for v in per_pair.values())
    pooled_rewards = sum(v["rewards"] for v in per_pair.values())
    return {
        "random_episodes": runs,
        "grasp_red": steps_per_reward(first["grasp_red"], h_grasp),
        "per_pair": per_pair,
        "stack_given_pair": {
            "horizon": h_stack,
            "rewards": pooled_rewards,
            "steps": pooled_steps,
            "steps_per_reward": pooled_steps / pooled_rewards if pooled_rewards else None,
        },
        "stack_any_pair": steps_per_reward(first["any_pair"], h_stack),
        "triple_direct": steps_per_reward(first["triple"], h_all),
        "place_on_single": single,
        "place_on_pair": pair,
        "triple_stack_model": triple_stack_model(runs, pair, single, h_all),
        "paper": PAPER_SPARSENESS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="tabletop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate-steps", type=int, default=400)
    parser.add_argument("--renders-small", type=int, default=200)
    parser.add_argument("--renders-large", type=int, default=30)
    parser.add_argument("--expert-seeds", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=450, help="random-policy episodes")
    parser.add_argument("--place-trials", type=int, default=800)
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run only this section (repeatable) and merge it into the existing results file, "
        "e.g. to re-measure throughput on a quiet machine",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args(argv)
    if args.quick:
        args.rate_steps, args.renders_small, args.renders_large = 40, 10, 3
        args.expert_seeds, args.episodes, args.place_trials = 2, 6, 20
    sections = args.only or list(SECTIONS)
    if args.only:
        previous = RESULTS_DIR / "tabletop.json"
        if not previous.is_file():
            parser.error(f"--only merges into {previous}, which does not exist: run all first")
        payload = json.loads(previous.read_text())
    else:
        payload = {"benchmark": "tabletop", "sections": {}, "results": {}, "settings": {}}
    results = payload["results"]

    with TabletopWorld(args.world, seed=args.seed) as world:
        tasks = build_tasks(world.config)
        limits = {
            "grasp": tasks["grasp_red"].max_steps,
            "stack": tasks["stack_red_on_blue"].max_steps,
            "stack_all": get_task("stack_all", world.config).max_steps,
        }
        for section in sections:
            started = time.perf_counter()
            print(f"{section} ...", flush=True)
            if section == "throughput":
                results["primitive_rate"] = bench_primitive_rate(world, args.rate_steps, args.seed)
                results["renders"] = bench_renders(world, args.renders_small, args.renders_large)
            elif section == "expert":
                results["expert"] = bench_expert(world, args.expert_seeds)
            else:
                results["sparseness"] = run_sparseness(world, args, limits)
            payload["sections"][section] = _section_info(started)
            payload["settings"][section] = {
                k: v
                for k, v in vars(args).items()
                if k
                in {
                    "throughput": ("rate_steps", "renders_small", "renders_large", "seed"),
                    "expert": ("expert_seeds",),
                    "sparseness": ("episodes", "place_trials", "seed"),
                }[section]
            }
        config = world.config
        payload["settings"]["world"] = {
            "name": args.world,
            "physics_hz": 1.0 / config.physics.time_step,
            "workspace": {"x": list(config.workspace.x), "y": list(config.workspace.y)},
            "step_limits": limits,
        }
    payload["commit"] = git_commit()
    payload["machine"] = machine_info(("pybullet", "numpy", "gymnasium"))
    markdown = render_markdown(payload)
    print(markdown)
    if not args.no_write:
        json_path, md_path = write_results("tabletop", payload, markdown)
        print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

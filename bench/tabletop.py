"""Benchmarks of the tabletop arm world (MISSION B1).

Measures, on this machine, in one process:

1. primitive steps per second (uniform random policy; and the scripted expert);
2. renders per second: one 128x128 camera and the 640x480 overview camera
   (pybullet tiny renderer, headless);
3. scripted-expert success rate per task over N seeds (target 100% on 200);
4. task sparseness = mean random-policy primitive steps per reward, next to the
   paper's ~10^1 (grasp), ~10^3 (stack two) and >10^6 (triple stack):
   * grasp the red object: measured directly (reset after every success);
   * stack two: the random policy runs until *any* ordered pair is stacked,
     then resets; by symmetry of the 6 pairs a given pair ("stack X on Y")
     takes ~6x the steps per reward of "any pair";
   * triple stack: estimated (it is out of reach directly) from measured
     per-primitive probabilities with a renewal model; the same model is
     checked against the direct stack-two number. See ``triple_stack_model``.

    python bench/tabletop.py            # full run (~10-15 min on 2 cores)
    python bench/tabletop.py --quick    # a smoke run with tiny counts

Writes bench/results/tabletop.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine_info, write_results

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
    policy = RandomPolicy(world.config.workspace, seed=seed)
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


def sparseness_grasp_red(world: TabletopWorld, max_rewards: int, max_steps: int, seed: int) -> dict:
    """Random steps per 'grasp red' reward; also the per-pick grasp probabilities."""
    tol = world.config.tolerances
    rng = np.random.default_rng(seed)
    policy = RandomPolicy(world.config.workspace, seed=seed)
    world.reset(seed=int(rng.integers(2**31)))
    steps = rewards = picks = 0
    picked: dict[str, int] = dict.fromkeys(world.object_names, 0)
    while rewards < max_rewards and steps < max_steps:
        result = world.act(*policy.act())
        steps += 1
        if result.kind == "pick":
            picks += 1
            if result.picked is not None:
                picked[result.picked] += 1
        if is_grasping(world.state(), "red", tol):
            rewards += 1
            world.reset(seed=int(rng.integers(2**31)))
    p_any = sum(picked.values()) / picks
    return {
        "steps": steps,
        "rewards": rewards,
        "steps_per_reward": steps / rewards if rewards else None,
        "random_picks": picks,
        "picked": picked,
        "p_pick_any": p_any,
        "p_pick_object": p_any / len(world.object_names),
    }


def sparseness_stack_two(world: TabletopWorld, max_steps: int, seed: int) -> dict:
    """Random steps until any ordered pair is stacked (then reset)."""
    tol = world.config.tolerances
    rng = np.random.default_rng(seed)
    policy = RandomPolicy(world.config.workspace, seed=seed)
    world.reset(seed=int(rng.integers(2**31)))
    steps = 0
    events: dict[str, int] = {}
    since_reset, times = 0, []
    while steps < max_steps:
        world.act(*policy.act())
        steps += 1
        since_reset += 1
        pairs = on_top_pairs(world.state(), tol)
        if pairs:
            key = "_on_".join(pairs[0])
            events[key] = events.get(key, 0) + 1
            times.append(since_reset)
            since_reset = 0
            world.reset(seed=int(rng.integers(2**31)))
    n = sum(events.values())
    n_pairs = len(list(itertools.permutations(world.object_names, 2)))
    any_rate = steps / n if n else None
    return {
        "steps": steps,
        "any_pair_rewards": n,
        "events_per_pair": events,
        "steps_per_any_pair": any_rate,
        "steps_per_given_pair_estimate": any_rate * n_pairs if any_rate else None,
        "median_steps_to_any_pair": statistics.median(times) if times else None,
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
    policy = RandomPolicy(world.config.workspace, seed=seed)
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


def triple_stack_model(grasp: dict, stack_two: dict, single: dict, pair: dict) -> dict:
    """Renewal-model estimate of random steps per triple-stack reward.

    From a two-stack with the gripper empty, every random pick grasps the
    stack's top with probability a (stack destroyed), the third object with
    probability b (then one random place completes the tower with probability
    ps, knocks the stack apart with pk, else leaves the two-stack standing), or
    nothing (1 step, still a two-stack). a = b = p_pick_object (measured).
    An excursion from the two-stack succeeds with q = b ps / (b ps + a + b pk)
    and lasts E = (1 + b) / (b ps + a + b pk) steps. A failed excursion is
    treated as a fresh start, which again needs T2 (measured steps to any
    two-stack) steps. Hence steps per triple ~ (T2 + E) / q.

    The same ingredients predict stack two: per grasp-and-place cycle
    (1 / p_pick_any + 1 steps) the held object lands on a given other object
    with probability p_on_given_object, so steps per any-pair ~
    (1 / p_pick_any + 1) / (2 p_on_given_object); compared with the direct
    measurement as a check of the model.
    """
    p_obj, p_any = grasp["p_pick_object"], grasp["p_pick_any"]
    ps, pk = pair["p_complete_tower"], pair["p_knock_stack"]
    t2 = stack_two["steps_per_any_pair"]
    a = b = p_obj

    def steps_per_triple(p_complete: float) -> tuple[float, float, float]:
        leave = b * p_complete + a + b * pk
        q = b * p_complete / leave
        excursion = (1 + b) / leave
        return q, excursion, (t2 + excursion) / q

    out = {
        "a_pick_top": a,
        "b_pick_third": b,
        "ps_complete": ps,
        "pk_knock": pk,
        "T2_steps_to_any_pair": t2,
        "steps_per_triple_estimate": None,
    }
    if t2 and ps > 0:
        q, excursion, steps = steps_per_triple(ps)
        out.update(q_excursion_success=q, excursion_steps=excursion)
        out["steps_per_triple_estimate"] = steps
    elif t2:
        # No tower in the trials: ps < ~1/trials, which bounds the steps from below.
        out["steps_per_triple_lower_bound"] = steps_per_triple(1.0 / pair["trials"])[2]
    p_given = single["p_on_given_object"]
    if p_given > 0:
        out["stack_two_any_pair_model"] = (1.0 / p_any + 1.0) / (2.0 * p_given)
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
    lines = [
        "# Tabletop world (MISSION B1): speed, expert, sparseness",
        "",
        f"Commit `{payload['commit']}`, {m['cpu_model']} ({m['cpu_count']} cores, shared), "
        f"{m['platform']}, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + f", {m['date_utc']}.",
        f"World `{payload['settings']['world']}`: physics {payload['settings']['physics_hz']:.0f} Hz, "
        f"workspace {payload['settings']['workspace']}, 5 cm cubes. "
        f"Total wall time {payload['wall_time_s']:.0f} s.",
        "",
        "## Throughput",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| primitive steps/s, random policy ({prim['primitives']} primitives) | "
        f"{prim['primitives_per_s']:.1f} |",
        f"| primitive steps/s, scripted expert ({exp['primitives']} primitives) | "
        f"{exp['primitives_per_s']:.1f} |",
        f"| physics steps per random primitive | {prim['physics_steps_per_primitive']:.0f} "
        f"({prim['sim_seconds_per_primitive']:.2f} s simulated) |",
    ]
    for size, v in rend.items():
        lines.append(
            f"| renders/s {size} (`{v['camera']}`, tiny renderer, {v['renders']} renders) | "
            f"{v['renders_per_s']:.1f} ({v['ms_per_render']:.1f} ms) |"
        )
    lines += [
        "",
        f"## Scripted expert ({payload['settings']['expert_seeds']} seeds per task)",
        "",
        "| task | success | optimal-length | mean steps (optimal) |",
        "|---|---|---|---|",
    ]
    for name, t in exp["per_task"].items():
        lines.append(
            f"| {name} | {100 * t['success_rate']:.1f}% | {100 * t['optimal_rate']:.1f}% | "
            f"{_fmt(t['mean_steps'], 2)} ({t['optimal_steps']}) |"
        )
    g, s2, tri = sp["grasp_red"], sp["stack_two"], sp["triple_stack_model"]
    single, pair = sp["place_on_single"], sp["place_on_pair"]
    lines += [
        "",
        "## Task sparseness: random-policy primitive steps per reward",
        "",
        "| task | this world | paper | how |",
        "|---|---|---|---|",
        f"| grasp red | {_fmt(g['steps_per_reward'])} | {PAPER_SPARSENESS['grasp_red']} | "
        f"direct: {g['rewards']} rewards in {g['steps']} steps |",
        f"| stack X on Y (given pair) | {_fmt(s2['steps_per_given_pair_estimate'])} | "
        f"{PAPER_SPARSENESS['stack_two']} | 6 x steps per any-pair reward "
        f"({s2['any_pair_rewards']} in {s2['steps']} steps: {_fmt(s2['steps_per_any_pair'])}) |",
        f"| triple stack | {_fmt(tri.get('steps_per_triple_estimate'))} | "
        f"{PAPER_SPARSENESS['triple_stack']} | renewal model (below), not reached directly |",
        "",
        "Ingredients (measured):",
        f"- a random pick grasps some object with p = {g['p_pick_any']:.3f} "
        f"({g['random_picks']} picks), a given object with {g['p_pick_object']:.4f};",
        f"- a random place of a held cube leaves it on a given other cube with p = "
        f"{single['p_on_given_object']:.4f} ({single['trials']} trials);",
        f"- holding the third cube next to a two-stack, a random place completes the tower with "
        f"p = {pair['p_complete_tower']:.4f} and knocks the stack apart with "
        f"p = {pair['p_knock_stack']:.4f} ({pair['trials']} trials);",
        f"- model check on stack two: predicted {_fmt(tri.get('stack_two_any_pair_model'))} "
        f"steps per any-pair reward vs measured {_fmt(s2['steps_per_any_pair'])}.",
        "",
        "Triple-stack model: from a two-stack, each random pick takes the stack's top (a) or the "
        "third cube (b); q = b ps / (b ps + a + b pk) of the excursions from a two-stack end in a "
        "tower, each lasting E = (1 + b) / (b ps + a + b pk) steps, and a failed one starts over "
        "(T2 steps to the next two-stack): steps per triple ~ (T2 + E) / q"
        + (
            f" = ({_fmt(tri['T2_steps_to_any_pair'])} + {_fmt(tri['excursion_steps'])}) / "
            f"{tri['q_excursion_success']:.4f}."
            if tri.get("q_excursion_success")
            else "."
        ),
        "",
        "Produced by `python bench/tabletop.py`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="tabletop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate-steps", type=int, default=400)
    parser.add_argument("--renders-small", type=int, default=200)
    parser.add_argument("--renders-large", type=int, default=30)
    parser.add_argument("--expert-seeds", type=int, default=200)
    parser.add_argument("--grasp-rewards", type=int, default=150)
    parser.add_argument("--grasp-max-steps", type=int, default=8000)
    parser.add_argument("--stack-steps", type=int, default=16000)
    parser.add_argument("--place-trials", type=int, default=800)
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args(argv)
    if args.quick:
        args.rate_steps, args.renders_small, args.renders_large = 40, 10, 3
        args.expert_seeds, args.grasp_rewards, args.grasp_max_steps = 2, 5, 300
        args.stack_steps, args.place_trials = 300, 20

    wall = time.perf_counter()
    results: dict = {}
    with TabletopWorld(args.world, seed=args.seed) as world:
        get_task("stack_all", world.config)  # fail early on a world without the tasks
        print("primitive rate ...", flush=True)
        results["primitive_rate"] = bench_primitive_rate(world, args.rate_steps, args.seed)
        print("renders ...", flush=True)
        results["renders"] = bench_renders(world, args.renders_small, args.renders_large)
        print("expert ...", flush=True)
        results["expert"] = bench_expert(world, args.expert_seeds)
        print("sparseness: grasp red ...", flush=True)
        grasp = sparseness_grasp_red(world, args.grasp_rewards, args.grasp_max_steps, args.seed)
        print("sparseness: stack two ...", flush=True)
        stack_two = sparseness_stack_two(world, args.stack_steps, args.seed + 1)
        print("sparseness: place trials ...", flush=True)
        single = place_outcomes(world, args.place_trials, onto_pair=False, seed=args.seed + 2)
        pair = place_outcomes(world, args.place_trials, onto_pair=True, seed=args.seed + 3)
        results["sparseness"] = {
            "grasp_red": grasp,
            "stack_two": stack_two,
            "place_on_single": single,
            "place_on_pair": pair,
            "triple_stack_model": triple_stack_model(grasp, stack_two, single, pair),
            "paper": PAPER_SPARSENESS,
        }
        config = world.config
        settings = {
            **vars(args),
            "physics_hz": 1.0 / config.physics.time_step,
            "workspace": {"x": list(config.workspace.x), "y": list(config.workspace.y)},
        }
    payload = {
        "benchmark": "tabletop",
        "commit": git_commit(),
        "machine": machine_info(("pybullet", "numpy", "gymnasium")),
        "settings": settings,
        "wall_time_s": time.perf_counter() - wall,
        "results": results,
    }
    markdown = render_markdown(payload)
    print(markdown)
    if not args.no_write:
        json_path, md_path = write_results("tabletop", payload, markdown)
        print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

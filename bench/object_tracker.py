"""Accuracy and speed of the colour object tracker on simulator renders.

For N random layouts (seeded) of the tabletop world, rendered by both 128x128
cameras, the tracker (grounded_core.vision.object_tracker) estimates every cube's
3-D centre from RGB + depth + intrinsics + camera pose; the error is the distance
to the simulator's ground truth (WorldState object positions). Layout kinds, in
turn: ``flat`` (reset by seed), ``stack2`` (one cube on another), ``stack3`` (a
tower of all three), ``cluster`` (cubes close together, so they occlude each
other) and ``held`` (the arm has picked a cube: fingers occlude it, it hangs in
the air). An object counts as *visible* in a camera when the simulator's
segmentation shows at least ``min_pixels`` of it; a visible object the tracker
does not report is a miss, a reported invisible one a false positive.

Targets (issue 8): mean error <= 1 cm, no missed visible objects.

    python bench/object_tracker.py                 # 200 layouts, both cameras, both methods
    python bench/object_tracker.py --layouts 20    # quick

Writes bench/results/object_tracker.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine_info, write_results

from grounded_core.tabletop import TabletopWorld
from grounded_core.vision.object_tracker import (
    CameraModel,
    ObjectTracker,
    load_tracker_config,
)

KINDS = ("flat", "stack2", "stack3", "cluster", "held")
CAMERAS = ("front_left", "front_right")


def make_layout(world: TabletopWorld, kind: str, seed: int) -> None:
    """Reset ``world`` into a layout of ``kind`` drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    names = list(world.object_names)
    order = [names[i] for i in rng.permutation(len(names))]
    base = world.random_layout(seed)
    if kind == "flat":
        world.reset(seed=seed)
    elif kind == "stack2":
        top, bottom, other = order
        world.reset(layout={top: bottom, bottom: base[bottom], other: base[other]})
    elif kind == "stack3":
        a, b, c = order
        world.reset(layout={a: b, b: c, c: base[c]})
    elif kind == "cluster":
        centre = rng.uniform([0.44, -0.06], [0.56, 0.06])
        for _ in range(1000):
            xy = centre + rng.uniform(-0.06, 0.06, size=(3, 2))
            d = [np.linalg.norm(xy[i] - xy[j]) for i in range(3) for j in range(i)]
            if min(d) >= 0.075:
                break
        layout = {n: (*xy[i], float(rng.uniform(-0.3, 0.3))) for i, n in enumerate(names)}
        world.reset(layout=layout)
    elif kind == "held":
        state = world.reset(seed=seed)
        target = state.position(order[0])
        world.act(float(target[0]), float(target[1]))
    else:
        raise ValueError(f"unknown layout kind {kind!r}")


def evaluate(world, trackers: dict, layouts: int, progress: bool = True) -> dict:
    """Per variant: errors and detections over ``layouts`` layouts and both cameras.

    ``trackers``: variant label -> (tracker, depth noise sigma in metres); the noise
    (Gaussian, per pixel, seeded) imitates a real depth sensor.
    """
    noise_rng = np.random.default_rng(12345)
    labels = {v: k for k, v in world.segmentation_labels().items()}
    models = {c: CameraModel.from_sim_camera(world.cameras[c]) for c in CAMERAS}
    out = {
        m: {"errors": defaultdict(list), "missed": [], "false_pos": 0, "seconds": []}
        for m in trackers
    }
    min_pixels = next(iter(trackers.values()))[0].config.min_pixels
    visible_count = 0
    for i in tqdm(range(layouts), desc="layouts", disable=not progress):
        kind = KINDS[i % len(KINDS)]
        make_layout(world, kind, seed=i)
        state = world.state()
        for cam in CAMERAS:
            frame = world.render(cam)
            for method, (tracker, sigma) in trackers.items():
                depth = frame.depth
                if sigma > 0:
                    noise = noise_rng.normal(0.0, sigma, depth.shape)
                    depth = (depth + noise).astype(np.float32)
                t0 = time.perf_counter()
                found = tracker.locate(frame.rgb, depth, models[cam])
                out[method]["seconds"].append(time.perf_counter() - t0)
                for name, obj in found.items():
                    seen = int((frame.segmentation == labels[name]).sum()) >= min_pixels
                    if method == next(iter(trackers)):
                        visible_count += seen
                    if seen and not obj.visible:
                        out[method]["missed"].append((i, kind, cam, name))
                    elif obj.visible and not seen:
                        out[method]["false_pos"] += 1
                    if obj.visible:
                        err = float(np.linalg.norm(obj.position_world - state.position(name)))
                        out[method]["errors"][(kind, cam, name)].append(err)
                        if obj.visible_fraction is not None:
                            band = "visible >= 50%" if obj.visible_fraction >= 0.5 else "< 50%"
                            out[method]["errors"][("fraction", band)].append(err)
    return out, visible_count


def summarise(errors: dict, key) -> dict:
    groups = defaultdict(list)
    for k, values in errors.items():
        groups[key(k)].extend(values)
    return {
        g: {
            "n": len(v),
            "mean_mm": 1000 * float(np.mean(v)),
            "median_mm": 1000 * float(np.median(v)),
            "p95_mm": 1000 * float(np.percentile(v, 95)),
            "max_mm": 1000 * float(np.max(v)),
        }
        for g, v in sorted(groups.items())
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", type=int, default=200)
    parser.add_argument("--methods", default="box_fit,ray")
    parser.add_argument(
        "--depth-noise-mm",
        default="2",
        help="comma-separated depth noise sigmas (mm) for extra runs of every method",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    sigmas = [float(x) for x in args.depth_noise_mm.split(",") if x.strip()]
    trackers = {}
    for sigma in [0.0, *sigmas]:
        for m in methods:
            label = m if sigma == 0 else f"{m}, depth noise {sigma:g} mm"
            trackers[label] = (
                ObjectTracker(load_tracker_config(None, {"method": m})),
                sigma / 1000,
            )
    started = time.time()
    with TabletopWorld("tabletop", seed=0) as world:
        results, visible = evaluate(world, trackers, args.layouts)
    wall = time.time() - started
    report = {
        "settings": {
            "layouts": args.layouts,
            "kinds": list(KINDS),
            "cameras": list(CAMERAS),
            "world": "tabletop",
            "config": "config/object_tracker.yaml",
            "visible_object_views": visible,
            "depth_noise_mm": sigmas,
        },
        "wall_s": wall,
        "methods": {},
    }
    for method, r in results.items():
        bands = {k[1]: v for k, v in r["errors"].items() if k[0] == "fraction"}
        r["errors"] = {k: v for k, v in r["errors"].items() if k[0] != "fraction"}
        all_err = [e for v in r["errors"].values() for e in v]
        report["methods"][method] = {
            "overall": summarise(r["errors"], lambda k: "all")["all"],
            "per_object": summarise(r["errors"], lambda k: k[2]),
            "per_camera": summarise(r["errors"], lambda k: k[1]),
            "per_kind": summarise(r["errors"], lambda k: k[0]),
            "per_object_camera": {
                f"{o}/{c}": v
                for (o, c), v in summarise(r["errors"], lambda k: (k[2], k[1])).items()
            },
            "per_visible_fraction": summarise(bands, lambda k: k),
            "missed": len(r["missed"]),
            "missed_examples": [list(m) for m in r["missed"][:10]],
            "false_positives": r["false_pos"],
            "estimates": len(all_err),
            "locate_ms_mean": 1000 * float(np.mean(r["seconds"])),
            "locate_ms_p95": 1000 * float(np.percentile(r["seconds"], 95)),
            "meets_1cm_mean": bool(np.mean(all_err) <= 0.01),
        }
    report["machine"] = machine_info(("numpy", "opencv-python-headless", "pybullet"))
    report["machine"]["load_average"] = [round(x, 1) for x in os.getloadavg()]
    report["commit"] = git_commit()
    md = render_markdown(report)
    print(md)
    if not args.no_write:
        write_results("object_tracker", report, md)
    return 0


def render_markdown(report: dict) -> str:
    s = report["settings"]
    m = report["machine"]
    lines = [
        "# Colour object tracker: 3-D positions from RGB-D (issue 8)",
        "",
        f"Commit `{report['commit']}`, {m.get('cpu_model', '?')}, "
        f"load average {m['load_average']} (at the end); {s['layouts']} layouts "
        f"({', '.join(s['kinds'])} in turn, seeds 0..{s['layouts'] - 1}), cameras "
        f"{', '.join(s['cameras'])} (128x128), {s['visible_object_views']} visible object "
        f"views; wall {report['wall_s']:.0f} s. Error = |estimated centre - simulator centre|.",
        "",
        "| method | mean | median | p95 | max | missed | false pos. | ms/frame (3 objects) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, r in report["methods"].items():
        o = r["overall"]
        lines.append(
            f"| {method} | {o['mean_mm']:.2f} mm | {o['median_mm']:.2f} mm | {o['p95_mm']:.2f} mm "
            f"| {o['max_mm']:.2f} mm | {r['missed']} | {r['false_positives']} "
            f"| {r['locate_ms_mean']:.1f} |"
        )
    for method, r in report["methods"].items():
        lines += ["", f"## {method}: per object and camera", ""]
        lines += ["| object / camera | n | mean | max |", "|---|---|---|---|"]
        for key, v in r["per_object_camera"].items():
            lines.append(f"| {key} | {v['n']} | {v['mean_mm']:.2f} mm | {v['max_mm']:.2f} mm |")
        lines += ["", "| layout kind | n | mean | p95 | max |", "|---|---|---|---|---|"]
        for key, v in r["per_kind"].items():
            lines.append(
                f"| {key} | {v['n']} | {v['mean_mm']:.2f} mm | {v['p95_mm']:.2f} mm "
                f"| {v['max_mm']:.2f} mm |"
            )
        if r["per_visible_fraction"]:
            lines += [
                "",
                "| visible part of the cube (mask / fitted silhouette) | n | mean | max |",
            ]
            lines += ["|---|---|---|---|"]
            for key, v in r["per_visible_fraction"].items():
                lines.append(f"| {key} | {v['n']} | {v['mean_mm']:.2f} mm | {v['max_mm']:.2f} mm |")
        if r["missed_examples"]:
            lines += ["", f"Missed (first 10 of {r['missed']}): {r['missed_examples']}"]
    lines += [
        "",
        "## Reading these numbers",
        "",
        "- Targets: mean error <= 1 cm and no missed visible objects. `box_fit` meets both with "
        "a wide margin; `ray` (the simple median-plus-half-a-size estimator, used when no camera "
        "pose is known) meets the mean only barely and its worst cases (partly hidden cubes) "
        "exceed 1 cm.",
        "- The renders are ideal: flat colours, exact registered depth, no lens distortion, "
        "known cube size. Errors near 0 mm mean the cube model fits the surface points exactly; "
        "the depth-noise rows (Gaussian per pixel) show the sensitivity to a real sensor. "
        "Lighting, colour casts and depth holes of a real camera are not modelled.",
        "- The largest `box_fit` errors are cubes mostly hidden behind a stack, where the "
        "visible corner does not pin the hidden extent down; `visible_fraction` (mask pixels "
        "/ image area of the fitted cube) flags them (table above).",
        "- Intrinsics: pybullet's tiny renderer samples row i at v = i + 1 of `Camera.K` "
        "(`CameraModel.from_sim_camera` corrects it; the node's `cy_offset_px: 1.0`); "
        "without the correction the mean error is ~4.7 mm with a 4 mm bias in z.",
        "- ms/frame: one `locate` call (3 objects) on a shared, loaded CPU; the box fit "
        "restarts from two more yaws when the first fit's median residual exceeds 0.3 mm, "
        "which is what the noisy rows pay for.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

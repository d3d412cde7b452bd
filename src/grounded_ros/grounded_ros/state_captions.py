"""Captions judged from an ``ObjectStates`` message instead of camera frames.

The ``policy`` node normally reads the captioner's ``captions`` topic. With
``caption_source: state`` it judges the caption vocabulary from the simulator's
object states instead (the near-perfect captioner: for tests, and for running
Collect & Infer over ROS without a trained captioner), with the world's
tolerances:

* "The robot is grasping the X object": X is the message's ``held_object``
  (the simulator sets it with the same predicate as the grasp reward);
* "The X object is on top of the Y object": X is not held, its centre is
  within ``on_top_xy`` of Y's horizontally, and the vertical gap between the
  two cubes is within ``on_top_z`` (the success predicate's geometry).

The message carries no contacts or velocities, so unlike
``grounded_core.tabletop.captions`` this cannot tell a cube resting on another
from one still toppling off it; every other case agrees.
"""

from __future__ import annotations

from grounded_core.tabletop.captions import parse_caption
from grounded_core.tabletop.world_config import TolerancesConfig
from grounded_interfaces.msg import ObjectStates


def state_detections(
    msg: ObjectStates, captions: list[str], tolerances: TolerancesConfig
) -> list[bool]:
    """Truth of each caption in ``msg`` (see the module docstring)."""
    objects = {o.name: o for o in msg.objects}
    out = []
    for text in captions:
        caption = parse_caption(text, list(objects))
        if caption.kind == "grasp":
            out.append(msg.held_object == caption.objects[0])
            continue
        top, bottom = objects[caption.objects[0]], objects[caption.objects[1]]
        if top.held or msg.held_object == top.name:
            out.append(False)
            continue
        p, q = top.pose.position, bottom.pose.position
        dxy = ((p.x - q.x) ** 2 + (p.y - q.y) ** 2) ** 0.5
        gap = (p.z - q.z) - (top.size.z + bottom.size.z) / 2.0
        out.append(dxy <= tolerances.on_top_xy and abs(gap) <= tolerances.on_top_z)
    return out

"""Gymnasium interface to the tabletop world (MISSION B1), for standard RL tooling.

``TabletopEnv`` = one :class:`TabletopWorld` + one task:

* action: ``Box(2,)`` with the workspace bounds, an (x, y) pick/place location.
  Out-of-bounds, NaN or wrongly shaped actions raise
  :class:`~grounded_core.tabletop.errors.InvalidActionError` (never clipped).
  The space is in metres on purpose; wrap with
  ``gymnasium.wrappers.RescaleAction(env, -1, 1)`` for agents that want [-1, 1].
* observation: ``Dict`` with ``object_positions`` (n_objects x 3, world
  order of ``objects`` in the world file), ``ee_position`` (3) and ``gripper``
  (opening width in metres, 1.0 if holding something else 0.0): the policy
  input of MISSION B4. With ``images`` it also has ``images`` (a ``Dict`` of
  HxWx3 uint8 RGB frames per camera). Use
  ``gymnasium.wrappers.FlattenObservation`` for a flat vector.
* reward +1 on success else 0; ``terminated`` on success; ``truncated`` after
  the task's ``max_steps`` primitives.
* ``info``: ``success``/``is_success``, ``task``, ``instruction``, ``steps``,
  ``primitive`` (what the primitive did, see ``PrimitiveResult``) and
  ``captions`` (truth of every caption of MISSION B2).

``reset(seed=..., options={"task": name, "layout": {...}, "max_steps": n})``
switches task, places objects from a layout, or overrides the step limit.
:func:`register_gym_envs` registers ``GroundedTabletop-v0`` for ``gymnasium.make``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from .captions import caption_truth
from .errors import InvalidActionError
from .state import WorldState
from .tasks import Task, get_task
from .world import TabletopWorld
from .world_config import DEFAULT_WORLD, WorldConfig

ENV_ID = "GroundedTabletop-v0"
#: Upper bound of the gripper width in the observation space (m).
MAX_GRIPPER_WIDTH = 0.2
#: Bound of positions in the observation space (m); the world's floor is 3 m wide.
POSITION_BOUND = 10.0


class TabletopEnv(gym.Env):
    """Pick/place tabletop tasks as a ``gymnasium.Env``."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array", "human"], "render_fps": 4}

    def __init__(
        self,
        task: str = "stack_red_on_blue",
        world: TabletopWorld | WorldConfig | str | Path = DEFAULT_WORLD,
        *,
        images: bool | list[str] = False,
        max_steps: int | None = None,
        render_mode: str | None = None,
        render_camera: str = "overview",
        gui: bool | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self._owns_world = not isinstance(world, TabletopWorld)
        if isinstance(world, TabletopWorld):
            self.world = world
        else:
            # render_mode="human" needs the GUI; otherwise gui=None keeps the world file's choice.
            self.world = TabletopWorld(world, gui=True if render_mode == "human" else gui, seed=0)
        config = self.world.config
        self.task: Task = get_task(task, config, max_steps)
        self._max_steps_override = max_steps
        if images is True:
            self.image_cameras = [c.name for c in config.enabled_cameras]
        elif images is False:
            self.image_cameras = []
        else:
            unknown = [c for c in images if c not in self.world.cameras]
            if unknown:
                raise ValueError(
                    f"unknown camera(s) {unknown}; cameras are {list(self.world.cameras)}"
                )
            self.image_cameras = list(images)
        if render_camera not in self.world.cameras:
            raise ValueError(f"unknown render_camera {render_camera!r}")
        self.render_mode = render_mode
        self.render_camera = render_camera

        ws = config.workspace
        self.action_space = gym.spaces.Box(
            low=np.array(ws.low, dtype=np.float32), high=np.array(ws.high, dtype=np.float32)
        )
        n = len(config.objects)
        spaces: dict[str, gym.Space] = {
            "object_positions": gym.spaces.Box(-POSITION_BOUND, POSITION_BOUND, (n, 3), np.float32),
            "ee_position": gym.spaces.Box(-POSITION_BOUND, POSITION_BOUND, (3,), np.float32),
            "gripper": gym.spaces.Box(
                np.zeros(2, np.float32), np.array([MAX_GRIPPER_WIDTH, 1.0], np.float32)
            ),
        }
        if self.image_cameras:
            spaces["images"] = gym.spaces.Dict(
                {
                    name: gym.spaces.Box(
                        0, 255, (config.camera(name).height, config.camera(name).width, 3), np.uint8
                    )
                    for name in self.image_cameras
                }
            )
        self.observation_space = gym.spaces.Dict(spaces)
        self.state: WorldState = self.world.state()
        self.steps = 0

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"task", "layout", "max_steps"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; known: task, layout, max_steps")
        max_steps = options.get("max_steps", self._max_steps_override)
        if "task" in options or "max_steps" in options:
            self.task = get_task(options.get("task", self.task.name), self.world.config, max_steps)
        # Seeded once, later resets draw from the seeded generator (gymnasium semantics).
        world_seed = seed if seed is not None else int(self.np_random.integers(2**31))
        self.state = self.world.reset(seed=world_seed, layout=options.get("layout"))
        self.steps = 0
        return self._observation(), self._info(None)

    def step(self, action) -> tuple[dict, float, bool, bool, dict]:
        xy = np.asarray(action, dtype=float)
        if xy.shape != (2,):
            raise InvalidActionError(f"action must have shape (2,), got {xy.shape}")
        result = self.world.act(xy[0], xy[1])
        self.state = self.world.state()
        self.steps += 1
        success = self.task.is_success(self.state, self.world.config.tolerances)
        truncated = not success and self.steps >= self.task.max_steps
        return self._observation(), float(success), success, truncated, self._info(result)

    def render(self):
        if self.render_mode == "rgb_array":
            return self.world.render(self.render_camera).rgb
        return None  # "human": the pybullet GUI window shows the world live

    def close(self) -> None:
        if self._owns_world:
            self.world.close()

    # ------------------------------------------------------------------ helpers

    def _observation(self) -> dict:
        s = self.state
        obs = {
            "object_positions": s.positions_array().astype(np.float32),
            "ee_position": s.ee_position.astype(np.float32),
            "gripper": np.array([s.gripper_width, float(s.holding)], dtype=np.float32),
        }
        if self.image_cameras:
            obs["images"] = {name: self.world.render(name).rgb for name in self.image_cameras}
        return obs

    def _info(self, result) -> dict:
        tol = self.world.config.tolerances
        success = self.task.is_success(self.state, tol)
        return {
            "task": self.task.name,
            "instruction": self.task.instruction,
            "success": success,
            "is_success": success,
            "steps": self.steps,
            "primitive": result.to_dict() if result is not None else None,
            "captions": caption_truth(self.state, tol),
        }


def register_gym_envs() -> None:
    """Register ``GroundedTabletop-v0`` with gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="grounded_core.tabletop.gym_env:TabletopEnv")

"""A Collect & Infer actor: one tabletop world, one policy copy (MISSION B5).

An :class:`Actor` owns a private :class:`~grounded_core.tabletop.world.TabletopWorld`
(its own pybullet client, so many actors live in one process) and a copy of the
policy whose weights it receives as versioned :class:`~grounded_core.policy.io.PolicyBlob`
bytes (the same form the ``PolicyWeights`` ROS message will carry).

:meth:`Actor.run_episode` resets the world from a seed and runs the policy:

* with a ``plan`` (curriculum), the policy is conditioned at every step on the
  current sub-goal read off the judge's detections of the latest frame
  (``grounded_core.policy.progress.plan_index``);
* without one (environment-reward baseline), on the task instruction.

Place actions name where the held object's centre should go
(``object_relative_place``, see :meth:`Actor.gripper_action`). Actions are
sampled (collection) or the mode (``greedy``, evaluation). A goal
that the trainer has never had a demonstration of (``trained_goals``, sent with
the weights) is explored with the uniform random policy while collecting: the
network's output for an untrained goal is only an extrapolation from similar
goal texts (e.g. "red on blue" from "grasping red": put red back down where it
is), which would stop exploration of that sub-goal. With
``untrained_policy_share`` p > 0 such a goal is instead pursued with the policy
with probability p per step (uniform otherwise): worth it when the policy was
trained on related goals, e.g. every skill of earlier tasks (Collect & Infer's
``reuse_scope: all``). Every
frame is judged against every caption of the vocabulary once, as it arrives,
and the detections are logged with the states, actions and goals in an
:class:`~grounded_core.learning.buffers.Episode`. The actor also offers
``observe``/``act``/``wait`` for the skill scheduler.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..policy.io import PolicyBlob, from_bytes
from ..policy.model import GoalPolicy, state_features
from ..policy.progress import plan_index
from ..tabletop.tasks import Task
from ..tabletop.world import TabletopWorld
from ..tabletop.world_config import WorldConfig
from .buffers import Episode
from .judges import Judge, Observation


class Actor:
    """One world + one policy copy + a judge (shared)."""

    def __init__(
        self,
        actor_id: int,
        world: WorldConfig,
        policy: GoalPolicy,
        judge: Judge,
        vocabulary: Sequence[str],
        cameras: Sequence[str] = (),
        temperature: float = 1.0,
        epsilon: float = 0.0,
        object_relative_place: bool = True,
        untrained_policy_share: float = 0.0,
    ) -> None:
        if not 0.0 <= float(untrained_policy_share) <= 1.0:
            raise ValueError(
                f"untrained_policy_share must be in [0, 1], got {untrained_policy_share!r}"
            )
        self.untrained_policy_share = float(untrained_policy_share)
        self.actor_id = int(actor_id)
        self.object_relative_place = bool(object_relative_place)
        self.world = TabletopWorld(world, seed=0)
        self.policy = policy
        self.policy.eval()
        self.judge = judge
        self.vocabulary = list(vocabulary)
        self.cameras = list(cameras)
        self.temperature = float(temperature)
        self.epsilon = float(epsilon)
        self.version = 0
        #: Goals with demonstrations in the trainer's buffer (None: treat every goal as trained).
        self.trained_goals: frozenset[str] | None = None
        self.primitive_steps = 0  # every primitive this actor executed (collection + eval)

    # ------------------------------------------------------------------ weights

    def set_weights(self, blob: PolicyBlob, trained_goals=None) -> None:
        """Load new weights (checked SHA-256); remember their version and trained goals."""
        from_bytes(blob, into=self.policy)
        self.policy.eval()
        self.version = blob.version
        self.trained_goals = None if trained_goals is None else frozenset(trained_goals)

    # ------------------------------------------------------------------ world access

    def observe(self) -> Observation:
        state = self.world.state()
        frames = {}
        if self.judge.needs_frames:
            frames = {c: self.world.render(c).rgb for c in self.cameras}
        return Observation(state, frames)

    def detect(self, observation: Observation, captions: Sequence[str] | None = None) -> set[str]:
        captions = list(captions or self.vocabulary)
        row = self.judge.detect([observation], captions)[0]
        return {c for c, d in zip(captions, row, strict=True) if d}

    def gripper_action(self, xy) -> np.ndarray:
        """The (x, y) the arm is sent to for a policy action ``xy``.

        With ``object_relative_place`` a place action names where the *held
        object's centre* should go (as the scripted expert places): the arm goes
        to ``xy + (ee - held object)`` in the plane, clipped to the workspace. A
        cube grasped off-centre (random picks grasp anywhere along the fingers)
        would otherwise need a different place location every time, which no
        policy can infer from a few demonstrations. Picks are unchanged.
        """
        xy = np.asarray(xy, dtype=float)
        state = self.world.state()
        if not (self.object_relative_place and state.holding):
            return xy
        positions = state.positions_array()
        held = int(np.argmin(np.linalg.norm(positions - state.ee_position, axis=1)))
        shifted = xy + (state.ee_position[:2] - positions[held, :2])
        ws = self.world.config.workspace
        return np.array([np.clip(shifted[0], *ws.x), np.clip(shifted[1], *ws.y)])

    def act(self, xy) -> Observation:
        target = self.gripper_action(xy)
        self.world.act(float(target[0]), float(target[1]))
        self.primitive_steps += 1
        return self.observe()

    def wait(self, seconds: float) -> None:
        steps = round(seconds / self.world.config.physics.time_step)
        if steps > 0:
            self.world.step_simulation(steps)

    def reset(self, seed: int) -> Observation:
        self.world.reset(seed=int(seed))
        return self.observe()

    def choose(
        self, goal: str, observation: Observation, greedy: bool, rng: np.random.Generator | None
    ) -> np.ndarray:
        return self.policy.act_for_goal(
            goal,
            state_features(observation.state),
            greedy=greedy,
            rng=rng,
            temperature=self.temperature,
            epsilon=self.epsilon,
            trained_goals=self.trained_goals,
            untrained_policy_share=self.untrained_policy_share,
        )

    # ------------------------------------------------------------------ episodes

    def run_episode(
        self,
        task: Task,
        seed: int,
        *,
        plan: Sequence[str] | None = None,
        greedy: bool = False,
        max_steps: int | None = None,
        episode_id: str = "",
        rng: np.random.Generator | None = None,
    ) -> Episode:
        """One episode (see the module docstring); stops at task success or ``max_steps``."""
        limit = task.max_steps if max_steps is None else int(max_steps)
        if limit < 1:
            raise ValueError(f"max_steps must be >= 1, got {limit}")
        if not greedy and rng is None:
            rng = np.random.default_rng(seed)
        tol = self.world.config.tolerances
        obs = self.reset(seed)
        feats = [state_features(obs.state)]
        rows = [self.judge.detect([obs], self.vocabulary)[0]]
        actions, goals, rewards = [], [], []
        for _ in range(limit):
            if plan:
                detected = {c for c, d in zip(self.vocabulary, rows[-1], strict=True) if d}
                goal = plan[min(plan_index(plan, detected), len(plan) - 1)]
            else:
                goal = task.instruction
            xy = self.choose(goal, obs, greedy, rng)
            obs = self.act(xy)
            feats.append(state_features(obs.state))
            rows.append(self.judge.detect([obs], self.vocabulary)[0])
            reward = task.reward(obs.state, tol)
            actions.append(xy)
            goals.append(goal)
            rewards.append(reward)
            if reward > 0:
                break
        return Episode(
            episode_id=episode_id or f"a{self.actor_id}-s{seed}",
            task=task.name,
            instruction=task.instruction,
            seed=int(seed),
            policy_version=self.version,
            actor=self.actor_id,
            objects=np.stack([f["objects"] for f in feats]),
            ee=np.stack([f["ee"] for f in feats]),
            gripper=np.stack([f["gripper"] for f in feats]),
            actions=np.array(actions, dtype=np.float32).reshape(-1, 2),
            goals=goals,
            rewards=np.array(rewards, dtype=np.float32),
            captions=self.vocabulary,
            detections=np.array(rows, dtype=bool),
            judge=self.judge.name,
        )

    def close(self) -> None:
        self.world.close()

"""babyai_text_env: a batch of BabyAI-Text environments served over ROS 2 (MISSION A1).

Lets the GLAM learner and its environments live in different processes or
machines. The batch is a ``grounded_core.babyai_text.VectorBabyAITextEnv``;
this node only translates requests and replies.

Services (in the node's private namespace, e.g. /babyai_text_env/reset):
- ``~/reset`` (grounded_interfaces/TextEnvReset): reset every env, optionally
  rebuilding the batch with another level, variant or size.
- ``~/step`` (grounded_interfaces/TextEnvStep): one action per env (text or
  index); finished episodes reset automatically and their next observation is
  flagged ``episode_start``.
A bad request (unknown level, variant or action, wrong batch size, step before
reset) gets ``success: false`` and a message saying what was wrong; nothing is
stepped or changed, and the node keeps serving.

Publishes ``~/episode_stats`` (grounded_interfaces/TextEpisodeStats), one
message per finished episode.
"""

from __future__ import annotations

from rclpy.node import Node

from grounded_core.babyai_text import (
    VARIANTS,
    BabyAITextError,
    TextObservation,
    VectorBabyAITextEnv,
    parse_action,
    resolve_level_name,
)
from grounded_interfaces.msg import TextEpisodeStats
from grounded_interfaces.msg import TextObservation as TextObservationMsg
from grounded_interfaces.srv import TextEnvReset, TextEnvStep
from grounded_ros.node_runtime import run_node
from grounded_ros.parameters import Param, declare_parameters


def _level_problem(level: str) -> str | None:
    try:
        resolve_level_name(level)
    except BabyAITextError as error:
        return str(error)
    return None


PARAMS = (
    Param(
        "level",
        "MixedTrainLocal",
        "Level of the batch at start-up (see grounded-babyai levels).",
        check=_level_problem,
    ),
    Param("num_envs", 32, "Number of environments in the batch.", min=1, max=4096),
    Param("seed", 0, "Base seed: environment i starts from seed + i.", min=0, max=2**62),
    Param("variant", "none", "Text variant (generalisation tests).", choices=tuple(VARIANTS)),
    Param(
        "max_steps", 0, "Step budget per episode (0 = the level's, 64 or 128).", min=0, max=100_000
    ),
    Param(
        "task_kind",
        "",
        "Mixed levels: force a task kind (empty = drawn from the seed).",
        choices=("", "goto", "pickup", "open", "putnext", "seq"),
    ),
    Param(
        "grammar",
        "compat",
        "compat = the original text byte for byte; fixed = 'an open'.",
        choices=("compat", "fixed"),
    ),
)


def observation_msg(index: int, obs: TextObservation, episode_start: bool) -> TextObservationMsg:
    return TextObservationMsg(
        env_index=index,
        mission=obs.mission,
        descriptions=list(obs.descriptions),
        episode_start=episode_start,
    )


class BabyAITextEnvNode(Node):
    """Serves reset/step over a vector of BabyAI-Text environments."""

    def __init__(self) -> None:
        super().__init__("babyai_text_env")
        self.params = declare_parameters(self, PARAMS)
        p = self.params
        self.envs = self._build(p["level"], p["num_envs"], p["variant"])
        self.has_reset = False
        self.stats_pub = self.create_publisher(TextEpisodeStats, "~/episode_stats", 100)
        self.create_service(TextEnvReset, "~/reset", self.on_reset)
        self.create_service(TextEnvStep, "~/step", self.on_step)
        self.get_logger().info(
            f"serving {self.envs.num_envs} x {self.envs.level} (variant {p['variant']}) "
            f"on {self.get_fully_qualified_name()}/reset and /step"
        )

    def _build(self, level: str, num_envs: int, variant: str) -> VectorBabyAITextEnv:
        options: dict = {"variant": variant, "grammar": self.params["grammar"]}
        if self.params["max_steps"]:
            options["max_steps"] = self.params["max_steps"]
        if self.params["task_kind"]:
            options["task_kind"] = self.params["task_kind"]
        return VectorBabyAITextEnv(level, num_envs, base_seed=self.params["seed"], **options)

    # --- services --------------------------------------------------------------------

    def on_reset(self, request: TextEnvReset.Request, response: TextEnvReset.Response):
        envs = self.envs
        level = request.level or envs.level
        variant = request.variant or envs.variant
        num_envs = request.num_envs or envs.num_envs
        problems = []
        if request.level and (reason := _level_problem(request.level)):
            problems.append(reason)
        if variant not in VARIANTS:
            problems.append(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
        if request.seeds and len(request.seeds) != num_envs:
            problems.append(f"got {len(request.seeds)} seeds for {num_envs} environments")
        if any(seed < 0 for seed in request.seeds):
            problems.append("seeds must be non-negative")
        if problems:
            return self._refuse(response, "; ".join(problems))
        try:
            canonical = resolve_level_name(level)
            if (canonical, variant, num_envs) != (envs.level, envs.variant, envs.num_envs):
                envs = self._build(canonical, num_envs, variant)
            if request.seeds:
                observations = envs.reset(seeds=[int(seed) for seed in request.seeds])
            else:
                observations = envs.reset(base_seed=self.params["seed"])
        except BabyAITextError as error:
            return self._refuse(response, str(error))
        self.envs = envs
        self.has_reset = True
        response.success = True
        response.level = envs.level
        response.variant = envs.variant
        response.observations = [observation_msg(i, o, True) for i, o in enumerate(observations)]
        response.action_space = list(envs.action_space)
        response.max_steps = [env.max_steps for env in envs.envs]
        return response

    def on_step(self, request: TextEnvStep.Request, response: TextEnvStep.Response):
        envs = self.envs
        if not self.has_reset:
            return self._refuse(response, "call reset before step")
        if request.actions and request.action_ids:
            return self._refuse(response, "give either actions or action_ids, not both")
        actions = list(request.actions) if request.actions else list(request.action_ids)
        if len(actions) != envs.num_envs:
            return self._refuse(
                response, f"got {len(actions)} actions for a batch of {envs.num_envs} environments"
            )
        # Validate every action before stepping any env, so a bad request
        # changes nothing.
        ids, problems = [], []
        for i, action in enumerate(actions):
            try:
                ids.append(parse_action(action, envs.action_space))
            except BabyAITextError as error:
                problems.append(f"env {i}: {error}")
        if problems:
            return self._refuse(response, "; ".join(problems))
        observations, rewards, dones, infos = envs.step(ids)
        response.success = True
        response.observations = [
            observation_msg(i, o, bool(d)) for i, (o, d) in enumerate(zip(observations, dones))
        ]
        response.rewards = [float(r) for r in rewards]
        response.dones = [bool(d) for d in dones]
        response.successes = [bool(info["success"]) for info in infos]
        for i, info in enumerate(infos):
            if info["autoreset"]:
                self._publish_stats(i, info)
        return response

    # --- helpers ---------------------------------------------------------------------

    def _refuse(self, response, message: str):
        self.get_logger().warning(f"refused request: {message}")
        response.success = False
        response.message = message
        return response

    def _publish_stats(self, index: int, info: dict) -> None:
        episode = info["episode"]
        msg = TextEpisodeStats(
            env_index=index,
            level=self.envs.level,
            variant=self.envs.variant,
            mission=info["final_observation"].mission,
            episode_return=float(episode["return"]),
            length=int(episode["length"]),
            success=bool(episode["success"]),
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self.stats_pub.publish(msg)


def main(args: list[str] | None = None) -> int:
    return run_node(BabyAITextEnvNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

"""The language-conditioned pick/place policy: a small transformer (MISSION B4).

Tokens (each its own token, ``d_model`` wide, plus a learned role embedding):

==========  =================================================================
goal        the sub-goal text embedded by the text encoder (text.py), projected
object i    the i-th object's 3-D position (Fourier features), + an object-slot
            embedding (slot order = the world's object order)
ee          the end-effector position (Fourier features)
gripper     opening width (scaled) and holding flag
query       a learned action-query token whose output is read out
==========  =================================================================

Action distribution: a categorical over a ``grid`` of workspace cells
(grid.py; 30 x 30 cells of 1 cm for the default workspace), computed by one of
two heads (``PolicyConfig.action_head``):

``pointer`` (default): a mixture, evaluated on the grid, of one free
    categorical over all cells and one component per object centred on that
    object's current (x, y) (a discretised Gaussian of ``pointer_sigma`` m).
    The query token's output gives the free cell logits (a linear layer) and
    the mixture weights (dot products of the query with each object token's
    output, plus a learned logit for the free component). Picking an object or
    placing onto it is then "point at the right token", which a few dozen
    successful demonstrations teach; free spots remain reachable through the
    free component. This is the Transporter/CLIPort spatial-action idea in
    token form.
``grid``: a plain linear layer from the query token to the cell logits.

Both heads start as the uniform random policy over the workspace (zero-initialised
layers; the free component's logit starts at ``init_free_logit``, so about 2%
of the initial mass sits on the objects), the exploration the paper's agents
start from.

While collecting, an action is *sampled* (a cell from the softmax at a
temperature, optionally mixed with uniform exploration, then a uniform point in
that cell); when evaluating, the *mode* (the centre of the most probable cell).
Why a grid and not a Gaussian: pick/place targets are multi-modal (any of
several cubes, any free spot), which a categorical represents exactly and a
single Gaussian cannot; 1 cm cells are well inside the 2.5 cm stacking tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import PolicyConfig
from .grid import ActionGrid
from .text import TextEncoder, make_text_encoder

#: Gripper widths are divided by this to be ~[0, 1] (the Panda opens 8 cm).
GRIPPER_SCALE = 0.08
#: Heights above the table are divided by this (a three-cube tower is 15 cm).
HEIGHT_SCALE = 0.15
#: The pointer head's free-component logit is a parameter times this.
FREE_LOGIT_SCALE = 10.0


@dataclass
class PolicyInput:
    """A batch of states: ``objects [B, n, 3]``, ``ee [B, 3]``, ``gripper [B, 2]``."""

    objects: np.ndarray
    ee: np.ndarray
    gripper: np.ndarray

    def __post_init__(self) -> None:
        self.objects = np.asarray(self.objects, dtype=np.float32)
        self.ee = np.asarray(self.ee, dtype=np.float32)
        self.gripper = np.asarray(self.gripper, dtype=np.float32)
        if self.objects.ndim == 2:  # one state
            self.objects, self.ee, self.gripper = (
                self.objects[None],
                self.ee[None],
                self.gripper[None],
            )
        b = self.objects.shape[0]
        if (
            self.objects.ndim != 3
            or self.objects.shape[2] != 3
            or self.ee.shape != (b, 3)
            or self.gripper.shape != (b, 2)
        ):
            raise ValueError(
                "PolicyInput needs objects [B, n, 3], ee [B, 3], gripper [B, 2]; got "
                f"{self.objects.shape}, {self.ee.shape}, {self.gripper.shape}"
            )
        if not (
            np.all(np.isfinite(self.objects))
            and np.all(np.isfinite(self.ee))
            and np.all(np.isfinite(self.gripper))
        ):
            raise ValueError("PolicyInput contains NaN or infinite values")

    def __len__(self) -> int:
        return self.objects.shape[0]

    @classmethod
    def from_states(cls, states: Sequence) -> PolicyInput:
        """From :class:`~grounded_core.tabletop.state.WorldState` objects."""
        return cls.stack([state_features(s) for s in states])

    @classmethod
    def stack(cls, features: Sequence[Mapping[str, np.ndarray]]) -> PolicyInput:
        """From per-state feature dicts (``objects``, ``ee``, ``gripper``)."""
        if not features:
            raise ValueError("no states given")
        return cls(
            np.stack([np.asarray(f["objects"]) for f in features]),
            np.stack([np.asarray(f["ee"]) for f in features]),
            np.stack([np.asarray(f["gripper"]) for f in features]),
        )


def state_features(state) -> dict[str, np.ndarray]:
    """Policy input of one ``WorldState`` (positions relative to the table top)."""
    objects = np.array(state.positions_array(), dtype=np.float32)
    objects[:, 2] -= state.table_height
    ee = np.array(state.ee_position, dtype=np.float32)
    ee[2] -= state.table_height
    gripper = np.array([state.gripper_width, float(state.holding)], dtype=np.float32)
    return {"objects": objects, "ee": ee, "gripper": gripper}


def fourier(x: torch.Tensor, bands: int) -> torch.Tensor:
    """``[..., k]`` -> ``[..., k * (1 + 2 * bands)]``: x, sin(2^j pi x), cos(2^j pi x)."""
    if bands == 0:
        return x
    freqs = (2.0 ** torch.arange(bands, dtype=x.dtype, device=x.device)) * math.pi
    angles = x[..., None] * freqs  # [..., k, bands]
    parts = [x, torch.sin(angles).flatten(-2), torch.cos(angles).flatten(-2)]
    return torch.cat(parts, dim=-1)


def _mlp(n_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, d), nn.GELU(), nn.Linear(d, d))


class GoalPolicy(nn.Module):
    """f(state, goal text) -> categorical over workspace cells (see module docstring)."""

    def __init__(self, config: PolicyConfig, text_encoder: TextEncoder | None = None) -> None:
        super().__init__()
        self.config = config
        self.grid = ActionGrid(config.workspace_x, config.workspace_y, *config.grid)
        self.text_encoder = text_encoder if text_encoder is not None else make_text_encoder(config)
        if self.text_encoder.dim != config.text_dim:
            raise ValueError(
                f"text encoder gives {self.text_encoder.dim}-d embeddings, "
                f"config.text_dim is {config.text_dim}"
            )
        d, bands = config.d_model, config.fourier_bands
        pos_in = 3 * (1 + 2 * bands)
        self.goal_proj = nn.Sequential(nn.Linear(config.text_dim, d), nn.GELU(), nn.Linear(d, d))
        self.object_proj = _mlp(pos_in, d)
        self.object_slot = nn.Embedding(config.n_objects, d)
        self.ee_proj = _mlp(pos_in, d)
        self.gripper_proj = nn.Linear(2, d)
        self.query = nn.Parameter(torch.zeros(d))
        self.role = nn.Embedding(config.n_tokens, d)
        layer = nn.TransformerEncoderLayer(
            d,
            config.n_heads,
            dim_feedforward=config.ff_mult * d,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(d)
        self.free_head = nn.Linear(d, config.n_cells)
        nn.init.zeros_(self.free_head.weight)
        nn.init.zeros_(self.free_head.bias)
        if config.action_head == "pointer":
            self.pointer_query = nn.Linear(d, d)
            self.pointer_key = nn.Linear(d, d)
            # Stored /FREE_LOGIT_SCALE so Adam moves it at a useful speed.
            self.free_logit = nn.Parameter(
                torch.tensor(float(config.init_free_logit) / FREE_LOGIT_SCALE)
            )
            nn.init.zeros_(self.pointer_query.weight)
            nn.init.zeros_(self.pointer_query.bias)
        centres = torch.tensor(self.grid.centres(), dtype=torch.float32)
        self.register_buffer("cell_xy", centres, persistent=False)
        self.register_buffer(
            "roles", torch.arange(config.n_tokens, dtype=torch.long), persistent=False
        )

    # ------------------------------------------------------------------ features

    def _normalise_xy(self, xy: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        cx, hx = sum(cfg.workspace_x) / 2, (cfg.workspace_x[1] - cfg.workspace_x[0]) / 2
        cy, hy = sum(cfg.workspace_y) / 2, (cfg.workspace_y[1] - cfg.workspace_y[0]) / 2
        return torch.stack([(xy[..., 0] - cx) / hx, (xy[..., 1] - cy) / hy], dim=-1)

    def _normalise_xyz(self, xyz: torch.Tensor) -> torch.Tensor:
        xy = self._normalise_xy(xyz[..., :2])
        return torch.cat([xy, xyz[..., 2:3] / HEIGHT_SCALE], dim=-1)

    def goal_embeddings(self, goals: Sequence[str]) -> torch.Tensor:
        return torch.from_numpy(self.text_encoder.encode(goals))

    # ------------------------------------------------------------------ forward

    def forward(
        self, goal_emb: torch.Tensor, objects: torch.Tensor, ee: torch.Tensor, gripper: torch.Tensor
    ) -> torch.Tensor:
        """Cell log-probabilities ``[B, n_cells]`` (normalised logits)."""
        return self.forward_with_weights(goal_emb, objects, ee, gripper)[0]

    def forward_with_weights(
        self, goal_emb: torch.Tensor, objects: torch.Tensor, ee: torch.Tensor, gripper: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Cell log-probabilities and the pointer head's log mixture weights.

        The weights are ``[B, 1 + n_objects]`` (free component first), or None
        for the ``grid`` head. Behaviour cloning can supervise them directly
        (``GoalBCTrainer(pointer_aux_weight=...)``).
        """
        cfg = self.config
        b = objects.shape[0]
        if objects.shape[1] != cfg.n_objects:
            raise ValueError(f"policy expects {cfg.n_objects} objects, got {objects.shape[1]}")
        bands = cfg.fourier_bands
        goal = self.goal_proj(goal_emb)[:, None]
        obj = self.object_proj(fourier(self._normalise_xyz(objects), bands))
        obj = obj + self.object_slot.weight[None]
        eff = self.ee_proj(fourier(self._normalise_xyz(ee), bands))[:, None]
        grip = torch.stack([gripper[:, 0] / GRIPPER_SCALE, gripper[:, 1]], dim=-1)
        grip = self.gripper_proj(grip)[:, None]
        query = self.query.expand(b, 1, -1)
        tokens = torch.cat([goal, obj, eff, grip, query], dim=1) + self.role(self.roles)[None]
        encoded = self.out_norm(self.encoder(tokens))
        out = encoded[:, -1]
        free = torch.log_softmax(self.free_head(out), dim=-1)  # [B, C]
        if cfg.action_head == "grid":
            return free, None
        # Pointer mixture: components at the objects' (x, y), weights from attention.
        obj_out = encoded[:, 1 : 1 + cfg.n_objects]  # [B, n, d]
        scores = torch.einsum("bd,bnd->bn", self.pointer_query(out), self.pointer_key(obj_out))
        scores = scores / math.sqrt(cfg.d_model)
        weights = torch.log_softmax(
            torch.cat([(FREE_LOGIT_SCALE * self.free_logit).expand(b, 1), scores], dim=1), dim=-1
        )  # [B, 1 + n]
        d2 = ((self.cell_xy[None, None] - objects[:, :, None, :2]) ** 2).sum(-1)  # [B, n, C]
        kernels = torch.log_softmax(-0.5 * d2 / cfg.pointer_sigma**2, dim=-1)
        components = torch.cat([free[:, None], kernels], dim=1)  # [B, 1 + n, C]
        return torch.logsumexp(weights[:, :, None] + components, dim=1), weights

    def logits(self, goals: Sequence[str], inputs: PolicyInput) -> torch.Tensor:
        """Cell logits for goal texts and states (one goal per state)."""
        if len(goals) != len(inputs):
            raise ValueError(f"{len(goals)} goals for {len(inputs)} states")
        return self(
            self.goal_embeddings(goals),
            torch.from_numpy(inputs.objects),
            torch.from_numpy(inputs.ee),
            torch.from_numpy(inputs.gripper),
        )

    @torch.no_grad()
    def probabilities(self, goals: Sequence[str], inputs: PolicyInput) -> np.ndarray:
        """``[B, n_cells]`` action-cell probabilities."""
        was_training = self.training
        self.eval()
        try:
            return torch.softmax(self.logits(goals, inputs), dim=-1).numpy()
        finally:
            self.train(was_training)

    def act_for_goal(
        self,
        goal: str,
        features,
        *,
        greedy: bool,
        rng: np.random.Generator | None,
        temperature: float = 1.0,
        epsilon: float = 0.0,
        trained_goals: Sequence[str] | None = None,
        untrained_policy_share: float = 0.0,
    ) -> np.ndarray:
        """One action ``[2]`` for ``goal`` from one state's features (``state_features``).

        While collecting (``greedy`` false), a goal outside ``trained_goals`` (no
        demonstrations yet) is explored uniformly over the grid instead of sampled
        from the untrained head; ``trained_goals=None`` means every goal is trained.
        With ``untrained_policy_share`` p > 0, such a goal's action is sampled from
        the policy with probability p and uniform otherwise: when the policy was
        trained on related goals (other objects, other stacks), its extrapolation
        through the goal embedding is a guess worth trying, while the uniform part
        keeps exploring in case the guess is wrong (p = 0: uniform only, no extra
        random number drawn).
        """
        untrained = trained_goals is not None and goal not in trained_goals
        if not greedy and untrained and rng is not None:
            if not 0.0 <= untrained_policy_share <= 1.0:
                raise ValueError(
                    f"untrained_policy_share must be in [0, 1], got {untrained_policy_share}"
                )
            if untrained_policy_share == 0.0 or rng.random() >= untrained_policy_share:
                return self.grid.xy_of(int(rng.integers(self.grid.n_cells)), rng)
        return self.act(
            [goal],
            PolicyInput.stack([features]),
            mode=greedy,
            rng=rng,
            temperature=temperature,
            epsilon=epsilon,
        )[0]

    def act(
        self,
        goals: Sequence[str],
        inputs: PolicyInput,
        *,
        mode: bool = False,
        rng: np.random.Generator | None = None,
        temperature: float = 1.0,
        epsilon: float = 0.0,
    ) -> np.ndarray:
        """Actions ``[B, 2]``: the mode's cell centre, or a sample (see module docstring)."""
        probs = self.probabilities(goals, inputs)
        if mode:
            return self.grid.xy_of(np.argmax(probs, axis=1))
        if rng is None:
            raise ValueError("sampling needs an rng (numpy Generator)")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        if temperature != 1.0:
            logp = np.log(np.clip(probs, 1e-30, None)) / temperature
            probs = np.exp(logp - logp.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
        probs = (1.0 - epsilon) * probs + epsilon / probs.shape[1]
        cells = np.array([rng.choice(probs.shape[1], p=p / p.sum()) for p in probs])
        return self.grid.xy_of(cells, rng)

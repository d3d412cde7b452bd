"""The MLP heads put on the LLM's hidden state: GLAM's value head and action heads.

MISSION A3: the value head is ``hidden -> 1024 -> 1024 -> 1`` with sigmoid activations
(``Linear, Sigmoid, Linear, Sigmoid, Linear`` -- the output is linear, as in GLAM's
code), kept in float32 whatever the LLM's dtype, applied to the decoder's last-layer
state at position 0 (seq2seq) or at the last prompt token (decoder-only). It is trained
jointly with the whole LLM. The "action heads" baseline of the paper uses the same MLP
with ``n_actions`` outputs instead of scoring the action texts (:mod:`.variants`).

Heads are saved next to the Hugging Face files of a checkpoint as
``<name>.safetensors``; their shape is recorded in the checkpoint's metadata
(:meth:`MLPHead.spec`) so they can be rebuilt before loading.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

__all__ = ["MLPHead", "ValueHead"]


class MLPHead(torch.nn.Module):
    """``Linear(in, inner) -> Sigmoid -> Linear(inner, inner) -> Sigmoid -> Linear(inner, out)``.

    Always float32 (A3): inputs are cast to float32 before the first layer, so a bf16/fp16
    LLM still gets a float32 head (call ``.to(device)``, not ``.to(dtype)``, on policies).
    """

    def __init__(self, in_features: int, out_features: int, inner: int = 1024):
        super().__init__()
        if in_features < 1 or out_features < 1 or inner < 1:
            raise ValueError(
                f"head sizes must be positive, got in={in_features}, inner={inner}, "
                f"out={out_features}"
            )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.inner = int(inner)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(self.in_features, self.inner, dtype=torch.float32),
            torch.nn.Sigmoid(),
            torch.nn.Linear(self.inner, self.inner, dtype=torch.float32),
            torch.nn.Sigmoid(),
            torch.nn.Linear(self.inner, self.out_features, dtype=torch.float32),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[..., in_features]`` -> ``[..., out_features]`` (float32)."""
        return self.net(hidden.to(torch.float32))

    def spec(self) -> dict:
        """Constructor arguments, stored in checkpoint metadata."""
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "inner": self.inner,
        }

    def save(self, path: str | Path) -> None:
        """Write the weights as safetensors."""
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path))

    def load(self, path: str | Path) -> None:
        """Read weights written by :meth:`save` (shapes must match)."""
        state = load_file(str(path), device=str(next(self.parameters()).device))
        self.load_state_dict(state, strict=True)


class ValueHead(MLPHead):
    """GLAM's value head: :class:`MLPHead` with one output, returned as ``[batch]``."""

    def __init__(self, in_features: int, inner: int = 1024):
        super().__init__(in_features, 1, inner)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return super().forward(hidden).squeeze(-1)

    def spec(self) -> dict:
        return {"in_features": self.in_features, "inner": self.inner}

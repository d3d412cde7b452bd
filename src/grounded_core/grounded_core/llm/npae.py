"""Weight initialisation modes: pretrained, NPAE and random (MISSION A3 baselines).

GLAM's "NPAE" baseline is the same LLM architecture *not pretrained*, except for the
token embeddings, which keep their pretrained values: it isolates what pretraining of
the transformer itself brings. :func:`reinitialize_model` re-draws every weight with
the model's own initialiser (the one ``from_config`` uses), seeded, and can then put
the pretrained input embeddings back. If the model ties its output projection to the
input embeddings (GPT-2, SmolLM2, and every T5 under transformers 5.x, which always ties
T5's ``lm_head`` to the shared embeddings) the output projection is therefore
pretrained too; an untied ``lm_head`` is re-initialised.
"""

from __future__ import annotations

import torch

__all__ = ["INIT_MODES", "reinitialize_model"]

# "pretrained": weights as loaded; "npae": all but token embeddings re-initialised;
# "random": everything re-initialised (a non-pretrained LLM).
INIT_MODES: tuple[str, ...] = ("pretrained", "npae", "random")


def reinitialize_model(
    model: torch.nn.Module, *, keep_embeddings: bool = True, seed: int = 0
) -> torch.nn.Module:
    """Re-initialise ``model`` in place (seeded); keep its input embeddings if asked."""
    embeddings = model.get_input_embeddings().weight.detach().clone() if keep_embeddings else None
    # A fresh instance gets the architecture's own initialisation; only its weights are
    # used. The caller's global RNG stream is left untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = type(model)(model.config)
    with torch.no_grad():
        model.load_state_dict(fresh.state_dict(), strict=True)
        if embeddings is not None:
            model.get_input_embeddings().weight.copy_(embeddings)
    return model

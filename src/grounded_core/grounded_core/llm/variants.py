"""The paper's LLM baselines besides GLAM's scoring (MISSION A3).

* :class:`ActionHeadPolicy` -- "LLM with action heads": instead of scoring the action
  texts, an MLP (:class:`~.value_head.MLPHead`, same shape as the value head but with
  ``n_actions`` outputs) reads the same hidden state as the value head -- decoder
  position 0 (seq2seq) or the last prompt token (decoder-only) -- and outputs one logit
  per action of a fixed action set. It shares the value head, checkpoints, batching
  and eval/train conventions of :class:`~.backbone.LLMPolicy`.
* NPAE -- the non-pretrained LLM with pretrained embeddings: any policy's
  ``from_pretrained(..., init="npae")`` (see :mod:`.npae`); ``init="random"`` gives the
  fully non-pretrained model.

The zero-shot baseline is an untrained :class:`~.scoring.ActionScorer`; the random,
symbolic-PPO and DRRN baselines do not involve an LLM and live with the trainers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..babyai_text import ACTIONS
from .backbone import DEFAULT_MAX_BATCH_TOKENS, LLMPolicy, ScoreOutput
from .errors import CheckpointError, ScoringInputError
from .inputs import check_prompts
from .loading import LoadedModel
from .value_head import MLPHead, ValueHead

__all__ = ["ActionHeadPolicy"]


class ActionHeadPolicy(LLMPolicy):
    """LLM + action heads: logits over a fixed action set from the decision state.

    Args:
        model, tokenizer: a Hugging Face seq2seq or causal LM and its tokenizer.
        action_names: the fixed action set, in output order (default: BabyAI-Text's six).
        value_head: as for :class:`~.backbone.LLMPolicy`.
        max_batch_tokens: padded prompt tokens per forward.
        seed: seeds new heads (the action head uses ``seed + 1``).
        unpadded_encoder: as for :class:`~.backbone.LLMPolicy`.
    """

    policy_type = "ActionHeadPolicy"

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        action_names: Sequence[str] = ACTIONS,
        *,
        value_head: bool | ValueHead = True,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        seed: int = 0,
        unpadded_encoder: bool | None = None,
    ):
        super().__init__(
            model,
            tokenizer,
            value_head=value_head,
            max_batch_tokens=max_batch_tokens,
            seed=seed,
            unpadded_encoder=unpadded_encoder,
        )
        if isinstance(action_names, str) or not action_names:
            raise ValueError("action_names must be a non-empty list of action texts")
        self.action_names = tuple(str(a) for a in action_names)
        if len(set(self.action_names)) != len(self.action_names):
            raise ValueError(f"action_names has duplicates: {self.action_names}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            self.action_head = MLPHead(self.hidden_size, len(self.action_names))
        self.eval()

    def heads(self) -> dict[str, MLPHead]:
        return {**super().heads(), "action_head": self.action_head}

    def metadata(self) -> dict:
        return {**super().metadata(), "action_names": list(self.action_names)}

    @classmethod
    def _from_loaded(cls, loaded: LoadedModel, meta: dict, **kwargs):
        saved = meta.get("action_names")
        names = kwargs.pop("action_names", None)
        if names is not None and saved is not None and list(names) != list(saved):
            raise CheckpointError(
                f"{loaded.source}: its action head was trained for {saved}, not {list(names)}"
            )
        names = names if names is not None else (saved if saved is not None else ACTIONS)
        return cls(loaded.model, loaded.tokenizer, names, **kwargs)

    def forward(
        self,
        prompts: Sequence[str],
        actions: Sequence[str] | Sequence[Sequence[str]] | None = None,
        *,
        with_value: bool = False,
    ) -> ScoreOutput:
        """Action-head logits ``[n_prompts, n_actions]`` (and values), with the graph.

        ``actions``, if given, must be the policy's ``action_names`` (shared or per
        prompt): the heads cannot score other actions.
        """
        prompts = check_prompts(prompts)
        if with_value and self.value_head is None:
            raise RuntimeError("with_value=True but this policy has no value head")
        self._check_actions(actions, len(prompts))
        states = self.decision_states(prompts)
        values = self.value_head(states) if with_value else None
        return ScoreOutput(scores=self.action_head(states), values=values)

    def _check_actions(self, actions, n_prompts: int) -> None:
        if actions is None:
            return
        if isinstance(actions, str):
            raise ScoringInputError("actions must be a list of action texts, got a string")
        actions = list(actions)
        per_prompt = [actions] * n_prompts if all(isinstance(a, str) for a in actions) else actions
        if len(per_prompt) != n_prompts or any(
            isinstance(a, str) or tuple(a) != self.action_names for a in per_prompt
        ):
            raise ScoringInputError(
                f"an ActionHeadPolicy only scores its fixed actions {list(self.action_names)}"
            )

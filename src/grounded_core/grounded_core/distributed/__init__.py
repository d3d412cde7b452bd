"""Scale-out of the LLM policy with torch.distributed (MISSION A5).

- ``data_parallel``: every rank holds a replica; scoring requests are split
  across ranks and gathered back in order, and updates average gradients
  weighted by shard size, so results equal a single process (gloo on CPU,
  NCCL on GPU; launched with torchrun).
"""

from .data_parallel import DataParallelPolicy, init_from_env, shard_bounds

__all__ = ["DataParallelPolicy", "init_from_env", "shard_bounds"]

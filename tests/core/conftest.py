"""Shared by the core tests: torch runs with one intra-op thread.

On a few shared cores torch's OpenMP threads spin against other processes (a
100x slowdown of the tiny models was measured); one thread is the fastest and
the most repeatable for the small models the tests use.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

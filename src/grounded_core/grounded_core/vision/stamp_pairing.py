"""Approximate-time pairing of two streams by stamp (colour + depth frames), ROS-free.

A camera driver publishes the colour and the depth image of one exposure with the
same (or nearly the same) stamp, but on two topics whose messages arrive in any
order. :class:`StampPairer` keeps a short queue per stream and emits a pair as soon
as an item of one stream has a partner in the other within ``max_dt`` seconds (the
closest one); items older than an emitted pair can no longer be paired and are
dropped (counted). It is the rule of message_filters' ApproximateTimeSynchronizer
for two streams without its search for a globally optimal set, which is not needed
when one exposure gives both images (message_filters is not in the pip ROS wheels).
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["StampPairer"]


class StampPairer:
    """Pairs items of streams ``"a"`` and ``"b"`` whose stamps differ by <= ``max_dt``."""

    def __init__(self, max_dt: float = 0.02, queue_size: int = 10) -> None:
        if not max_dt >= 0:
            raise ValueError(f"max_dt must be >= 0 seconds, got {max_dt}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.max_dt = float(max_dt)
        self._queues: dict[str, deque[tuple[float, Any]]] = {
            "a": deque(maxlen=queue_size),
            "b": deque(maxlen=queue_size),
        }
        self.paired = 0
        self.dropped = 0

    def add(self, stream: str, stamp: float, item: Any) -> tuple[float, Any, Any] | None:
        """Offer an item; return ``(stamp_a, item_a, item_b)`` when it completes a pair."""
        if stream not in self._queues:
            raise ValueError(f"stream must be 'a' or 'b', got {stream!r}")
        other = "b" if stream == "a" else "a"
        partners = self._queues[other]
        best = None
        for index, (other_stamp, _) in enumerate(partners):
            gap = abs(other_stamp - stamp)
            if gap <= self.max_dt and (best is None or gap < best[0]):
                best = (gap, index)
        if best is None:
            queue = self._queues[stream]
            if len(queue) == queue.maxlen:
                self.dropped += 1
            queue.append((stamp, item))
            return None
        other_stamp, other_item = partners[best[1]]
        # Everything up to the partner in the other stream is older than this pair.
        for _ in range(best[1] + 1):
            partners.popleft()
        self.dropped += best[1]
        own = self._queues[stream]
        while own and own[0][0] <= stamp:
            own.popleft()
            self.dropped += 1
        self.paired += 1
        if stream == "a":
            return stamp, item, other_item
        return other_stamp, other_item, item

    def clear(self) -> None:
        for queue in self._queues.values():
            queue.clear()

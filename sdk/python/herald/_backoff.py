"""Full-jitter exponential backoff, as ``packages/client/src/backoff.ts``: a random delay between 0 and
min(max, initial × 2^attempt). The randomness spreads a crowd of publishers that lost the same hub, so
that they do not all come back at the same instant."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Retry delays in seconds: the first retry waits up to ``initial``, each later one up to twice the
    previous ceiling, never more than ``maximum``."""

    initial: float = 0.25
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.maximum >= self.initial):
            raise ValueError(f"Backoff needs 0 < initial <= maximum (got initial={self.initial}, maximum={self.maximum})")

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0 for the first)."""
        ceiling = min(self.maximum, self.initial * 2 ** min(attempt, 30))
        return random.random() * ceiling

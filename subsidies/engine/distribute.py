"""Distribution by consumption: split a received amount pro rata to members' eligible amounts.

* Shares are exact to the fen, by the largest-remainder method (ties: the larger weight, then member order).
* A member never gets more than its cap; what caps cut off is redistributed among the uncapped members
  (water-filling), so the shares add up to the received amount exactly …
* … unless every member with a weight is capped: then they all get their cap and the rest is reported as
  ``undistributed``. Never a negative share.

All arithmetic is on integers (fen and scaled weights), so there is no rounding except the one explicit
largest-remainder step.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, TypeVar

from .money import FEN, is_fen

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class ShareLine(Generic[K]):
    member: K
    weight: Decimal
    cap: Decimal | None
    share: Decimal
    capped: bool
    rounded_up: bool  # got one extra fen from the largest-remainder step


@dataclass(frozen=True, slots=True)
class Distribution(Generic[K]):
    received: Decimal
    shares: dict[K, Decimal]
    undistributed: Decimal
    lines: list[ShareLine[K]] = field(default_factory=list)

    @property
    def distributed(self) -> Decimal:
        return sum(self.shares.values(), Decimal("0.00"))


def _to_fen_int(value: Decimal, what: str) -> int:
    if not is_fen(value):
        raise ValueError(f"{what} {value} has a part smaller than one fen")
    if value < 0:
        raise ValueError(f"{what} {value} is negative")
    return int(value * 100)


def distribute(
    received: Decimal,
    weights: Mapping[K, Decimal],
    caps: Mapping[K, Decimal | None] | None = None,
) -> Distribution[K]:
    """Split ``received`` (exact fen) over ``weights`` (≥ 0, any precision) with optional per-member caps."""
    caps = caps or {}
    total = _to_fen_int(received, "received amount")
    members = list(weights)
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights may not be negative")
    # Integer weights: scale all by the same power of ten.
    exponent = max((-w.as_tuple().exponent for w in weights.values() if w), default=0)  # type: ignore[operator]
    exponent = max(exponent, 0)
    scale = 10**exponent
    w_int = {m: int(weights[m] * scale) for m in members}
    cap_int: dict[K, int | None] = {}
    for m in members:
        c = caps.get(m)
        cap_int[m] = None if c is None else _to_fen_int(c, f"cap of {m!r}")

    shares = dict.fromkeys(members, 0)
    capped: set[K] = set()
    active = [m for m in members if w_int[m] > 0]
    remaining = total
    # Water-filling: cap whoever's pro-rata share reaches its cap, redistribute, repeat.
    while active and remaining > 0:
        weight_sum = sum(w_int[m] for m in active)
        hit = [
            m
            for m in active
            if cap_int[m] is not None and remaining * w_int[m] >= cap_int[m] * weight_sum  # type: ignore[operator]
        ]
        if not hit:
            break
        for m in hit:
            shares[m] = cap_int[m]  # type: ignore[assignment]
            remaining -= cap_int[m]  # type: ignore[operator]
            capped.add(m)
        active = [m for m in active if m not in capped]

    rounded_up: set[K] = set()
    if active and remaining > 0:
        weight_sum = sum(w_int[m] for m in active)
        remainders = []
        given = 0
        for position, m in enumerate(active):
            q, r = divmod(remaining * w_int[m], weight_sum)
            shares[m] = q
            given += q
            remainders.append((-r, -w_int[m], position, m))
        leftover = remaining - given  # < len(active)
        remainders.sort(key=lambda item: item[:3])
        for _, _, _, m in remainders[:leftover]:
            # share < cap strictly (else it would have been capped), so one more fen stays within the cap
            shares[m] += 1
            rounded_up.add(m)
        remaining = 0

    result = {m: Decimal(shares[m]) * FEN for m in members}
    lines = [ShareLine(m, weights[m], caps.get(m), result[m], m in capped, m in rounded_up) for m in members]
    undistributed = Decimal(remaining) * FEN
    return Distribution(received, result, undistributed, lines)

"""Who the demo fleet's customers are: contract standing, channels and occupants.

These shares shape a plausible enrolled population so that every exclusion rule
has cases to act on. They are demo settings, not statistics of a real program.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coflex.domain.operations.notice import Channel

# Frequent US first names (Social Security Administration, popular names of
# the 1980s) and surnames (US Census Bureau, 2010 surname list).
FIRST_NAMES = (
    "James", "Mary", "Michael", "Patricia", "Robert", "Jennifer", "John", "Linda",
    "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph",
    "Jessica", "Thomas", "Sarah", "Christopher", "Karen", "Daniel", "Lisa",
    "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Maria", "Kevin",
)  # fmt: skip
SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson",
    "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez",
    "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
)  # fmt: skip


@dataclass(frozen=True)
class PopulationShares:
    terminated: float = 0.02
    in_cooling_off: float = 0.03
    consent_revoked: float = 0.015
    stricter_event_cap: float = 0.05
    medical_equipment: float = 0.03
    vulnerable_occupants: float = 0.15
    channels: tuple[tuple[Channel, float], ...] = (
        (Channel.SMS, 0.40),
        (Channel.EMAIL, 0.33),
        (Channel.APP, 0.22),
        (Channel.DEVICE_DISPLAY, 0.05),
    )


@dataclass(frozen=True)
class Population:
    """Per-customer attributes, one array entry per customer (and site)."""

    names: list[str]
    terminated: np.ndarray
    in_cooling_off: np.ndarray
    consent_revoked: np.ndarray
    stricter_cap: np.ndarray
    medical_equipment: np.ndarray
    vulnerable_occupants: np.ndarray
    channel: list[Channel]
    days_since_acceptance: np.ndarray


def draw_population(
    n: int, rng: np.random.Generator, shares: PopulationShares | None = None
) -> Population:
    """Draw the demo population; the same seed gives the same customers."""
    shares = shares or PopulationShares()
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(SURNAMES), n)
    names = [
        f"{FIRST_NAMES[f]} {SURNAMES[s]}" for f, s in zip(first, last, strict=True)
    ]

    standing = rng.random(n)
    terminated = standing < shares.terminated
    in_cooling_off = (standing >= shares.terminated) & (
        standing < shares.terminated + shares.in_cooling_off
    )
    # Contracts in cooling-off were accepted in the last 13 days; others 60 to
    # 400 days ago, so that they were active through the history window.
    days = np.where(in_cooling_off, rng.integers(1, 14, n), rng.integers(60, 400, n))

    kinds = [channel for channel, _ in shares.channels]
    weights = np.array([weight for _, weight in shares.channels])
    picks = rng.choice(len(kinds), size=n, p=weights / weights.sum())
    return Population(
        names=names,
        terminated=terminated,
        in_cooling_off=in_cooling_off,
        consent_revoked=rng.random(n) < shares.consent_revoked,
        stricter_cap=rng.random(n) < shares.stricter_event_cap,
        medical_equipment=rng.random(n) < shares.medical_equipment,
        vulnerable_occupants=rng.random(n) < shares.vulnerable_occupants,
        channel=[kinds[i] for i in picks],
        days_since_acceptance=days,
    )

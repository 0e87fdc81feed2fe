"""The demo's program offer, and its fleet's enrollment through the contract path.

The population shares decide who is still in cooling-off and who left; the
contract path decides their contract status from that history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.readers.weather import WeatherSeries
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Customer
from coflex.domain.enrollment.key_facts import Obligation, Parties
from coflex.domain.operations.notice import Channel
from coflex.domain.programs import ProgramTerms
from coflex.services.enrollment import AggregatorProfile, Enrolled
from coflex.services.fleet_contracts import (
    FleetCustomer,
    ProgramOffer,
    enroll_contracts,
    site_histories,
)
from coflex.services.population import Population

STRICTER_CAP = 2
TERMINATED_DAYS_BEFORE_EVENT = 5
# North Carolina's general state sales tax rate (N.C. Gen. Stat. 105-164.4).
NC_SALES_TAX = Decimal("0.0475")
COMPLAINT_DAYS = 10


def demo_offer(profile: AggregatorProfile, program_name: str) -> ProgramOffer:
    """Return what the demo program offers: no fees, a sign-up reward."""
    return ProgramOffer(
        program_name=program_name,
        parties=Parties(
            profile.name,
            profile.registration_number,
            profile.phone,
            profile.regulator,
            "www.ncuc.gov",
            COMPLAINT_DAYS,
        ),
        jurisdiction=profile.jurisdiction,
        sign_up_incentive=Decimal("50.00"),
        program_fee=Decimal("0.00"),
        sales_tax_rate=NC_SALES_TAX,
        obligations=(
            Obligation(
                "your power company",
                "keep your power account open and in your name while you are in "
                "the plan.",
            ),
            Obligation(
                "the grid operator",
                "nothing. If the grid operator fines us for a missed event, we pay "
                "it, not you.",
            ),
        ),
        data_uses=(
            "We use your meter data only to measure what you save and to pay you. "
            "We do not sell it.",
        ),
        permissions=(
            "control of your enrolled devices during events",
            "your 15-minute meter data",
        ),
    )


def _channel(preferred: Channel) -> str:
    if preferred is Channel.APP:
        return "app"
    if preferred is Channel.DEVICE_DISPLAY:
        return "phone"
    return "web"


def enroll_demo_contracts(
    factory: sessionmaker[Session],
    offer: ProgramOffer,
    terms: ProgramTerms,
    population: Population,
    enrolled: Enrolled,
    base_load_kw: np.ndarray,
    weather: WeatherSeries,
    timezone: str,
    history_days: int,
    event_start: datetime,
    output_dir: Path,
    on_customer: Callable[[], None] | None = None,
) -> np.ndarray:
    """Enroll every demo customer through the contract path; return contract ids."""
    histories = site_histories(base_load_kw, weather, timezone, history_days)
    with transaction(factory) as session:
        rows = session.execute(
            select(Customer.id, Customer.reference, Customer.name).where(
                Customer.aggregator_id == enrolled.aggregator_id
            )
        ).all()
        known = {row[0]: row for row in rows}
        customers = []
        for i, customer_id in enumerate(enrolled.customer_ids.tolist()):
            _, reference, name = known[customer_id]
            customers.append(
                FleetCustomer(
                    customer_id=customer_id,
                    site_id=int(enrolled.site_ids[i]),
                    reference=reference,
                    name=name,
                    timezone=timezone,
                    accepted_at=event_start
                    - timedelta(days=int(population.days_since_acceptance[i])),
                    acceptance_channel=_channel(population.channel[i]),
                    stricter_terms=bool(population.stricter_cap[i]),
                    in_cooling_off=bool(population.in_cooling_off[i]),
                    terminated_at=event_start
                    - timedelta(days=TERMINATED_DAYS_BEFORE_EVENT)
                    if population.terminated[i]
                    else None,
                )
            )
        return enroll_contracts(
            session,
            enrolled.program_id,
            offer,
            terms,
            customers,
            histories,
            output_dir,
            stricter_cap=STRICTER_CAP,
            on_customer=on_customer,
        )

"""Registering the demo aggregator and program, and enrolling its fleet.

Every enrolled customer has a site, a recorded consent to control, and the
devices that the fleet model gave their site. Their contracts are offered,
accepted and activated through the contract path in
:mod:`coflex.services.fleet_contracts`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.readers.household import BaseLoadAssignment
from coflex.adapters.store.bulk import insert_returning_ids, insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import (
    Aggregator,
    Consent,
    Customer,
    Device,
    Program,
    Site,
)
from coflex.domain.fleet import DeviceKind, HvacMode
from coflex.domain.programs import ProgramTerms
from coflex.services import oversight
from coflex.services.population import Population
from coflex.simulation.fleet import FleetModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AggregatorProfile:
    name: str
    jurisdiction: str
    registration_number: str
    phone: str
    regulator: str


@dataclass(frozen=True)
class Enrolled:
    """Stored ids of the fleet, in site order, and each device's model position."""

    aggregator_id: int
    program_id: int
    customer_ids: np.ndarray
    site_ids: np.ndarray
    device_ids: np.ndarray
    device_site_ids: np.ndarray
    device_kind: list[str]
    device_model_index: np.ndarray


def register_program(
    factory: sessionmaker[Session],
    profile: AggregatorProfile,
    program_name: str,
    terms: ProgramTerms,
    season: tuple[date, date],
    at: datetime,
    *,
    registration_expires_at: datetime | None = None,
) -> tuple[int, int]:
    """Store the aggregator and its program; return their ids.

    With ``registration_expires_at``, the aggregator's registration with the
    profile's regulator is recorded as in force from ``at`` to that time.
    Without one, events stay blocked until a registration is recorded.
    """
    with transaction(factory) as session:
        aggregator = Aggregator(
            name=profile.name,
            jurisdiction=profile.jurisdiction,
            registration_number=profile.registration_number,
            registered_at=at,
        )
        session.add(aggregator)
        session.flush()
        program = Program(
            aggregator_id=aggregator.id,
            name=program_name,
            event_class=terms.event_class.value,
            terms=terms.to_json(),
            terms_hash=terms.parameters_hash(),
            season_start=season[0],
            season_end=season[1],
            created_at=at,
        )
        session.add(program)
        session.flush()
        if registration_expires_at is not None:
            oversight.record_registration(
                session,
                aggregator.id,
                jurisdiction=profile.jurisdiction,
                authority=profile.regulator,
                number=profile.registration_number,
                valid_from=at,
                expires_at=registration_expires_at,
            )
        return aggregator.id, program.id


def _device_rows(fleet: FleetModel, site_ids: np.ndarray, cooling: bool) -> list[dict]:
    rows = []
    h = fleet.hvac
    for i, s in enumerate(h.site.tolist()):
        rows.append(
            {
                "site_id": int(site_ids[s]),
                "kind": DeviceKind.HVAC.value,
                "model_index": i,
                "parameters": {
                    "mode": (HvacMode.COOLING if cooling else HvacMode.HEATING).value,
                    "heat_pump": bool(h.heat_pump[i]),
                    "cooling_capacity_kw": round(
                        float(h.cooling_capacity_w[i]) / 1000, 2
                    ),
                    "cooling_setpoint_day_c": round(float(h.cooling_day_c[i]), 1),
                    "heating_setpoint_day_c": round(float(h.heating_day_c[i]), 1),
                },
            }
        )
    b = fleet.battery
    for i, s in enumerate(b.site.tolist()):
        rows.append(
            {
                "site_id": int(site_ids[s]),
                "kind": DeviceKind.BATTERY.value,
                "model_index": i,
                "parameters": {
                    "capacity_kwh": round(float(b.capacity_kwh[i]), 2),
                    "power_kw": round(float(b.power_kw[i]), 2),
                    "backup_only": bool(b.backup_only[i]),
                },
            }
        )
    e = fleet.ev
    for i, s in enumerate(e.site.tolist()):
        rows.append(
            {
                "site_id": int(site_ids[s]),
                "kind": DeviceKind.EV_CHARGER.value,
                "model_index": i,
                "parameters": {
                    "charger_kw": round(float(e.charger_kw[i]), 2),
                },
            }
        )
    w = fleet.water_heater
    for i, s in enumerate(w.site.tolist()):
        rows.append(
            {
                "site_id": int(site_ids[s]),
                "kind": DeviceKind.WATER_HEATER.value,
                "model_index": i,
                "parameters": {
                    "volume_l": round(float(w.volume_l[i]), 0),
                    "element_kw": round(float(w.element_kw[i]), 2),
                    "setpoint_c": round(float(w.setpoint_c[i]), 1),
                },
            }
        )
    return rows


def enroll_fleet(
    factory: sessionmaker[Session],
    aggregator_id: int,
    program_id: int,
    terms: ProgramTerms,
    population: Population,
    fleet: FleetModel,
    assignment: BaseLoadAssignment,
    locations: np.ndarray,
    timezone: str,
    event_start: datetime,
    *,
    cooling: bool = True,
) -> Enrolled:
    """Store customers, sites, consents and devices in one transaction."""
    n = fleet.n_sites
    with transaction(factory) as session:
        customer_ids = np.array(
            insert_returning_ids(
                session,
                Customer,
                [
                    {
                        "aggregator_id": aggregator_id,
                        "reference": f"A{aggregator_id}-C{i + 1:06d}",
                        "name": population.names[i],
                        "email": f"customer{i + 1}@example.org",
                        "phone": f"+1-336-555-{i % 10000:04d}",
                        "preferred_channel": population.channel[i].value,
                        "created_at": event_start
                        - timedelta(days=int(population.days_since_acceptance[i]) + 7),
                    }
                    for i in range(n)
                ],
            ),
            dtype=np.int64,
        )
        site_ids = np.array(
            insert_returning_ids(
                session,
                Site,
                [
                    {
                        "customer_id": int(customer_ids[i]),
                        "latitude": float(locations[i, 0]),
                        "longitude": float(locations[i, 1]),
                        "timezone": timezone,
                        "medical_equipment": bool(population.medical_equipment[i]),
                        "vulnerable_occupants": bool(
                            population.vulnerable_occupants[i]
                        ),
                        "base_load_day_offset": int(assignment.source_day_offset[i]),
                        "base_load_scale": float(assignment.scale[i]),
                    }
                    for i in range(n)
                ],
            ),
            dtype=np.int64,
        )
        insert_rows(
            session, Consent, _consent_rows(population, customer_ids, event_start)
        )
        devices = _device_rows(fleet, site_ids, cooling)
        device_ids = np.array(
            insert_returning_ids(session, Device, devices), dtype=np.int64
        )
    logger.info("enrolled %d customers with %d devices", n, len(device_ids))
    return Enrolled(
        aggregator_id,
        program_id,
        customer_ids,
        site_ids,
        device_ids,
        np.array([row["site_id"] for row in devices], dtype=np.int64),
        [row["kind"] for row in devices],
        np.array([row["model_index"] for row in devices], dtype=np.int64),
    )


def _consent_rows(
    population: Population, customer_ids: np.ndarray, event_start: datetime
) -> list[dict]:
    rows = []
    for i, customer_id in enumerate(customer_ids.tolist()):
        granted = event_start - timedelta(days=int(population.days_since_acceptance[i]))
        revoked = (
            event_start - timedelta(days=3) if population.consent_revoked[i] else None
        )
        for purpose, scope in (
            ("service_delivery", "control of the enrolled devices during events"),
            ("measurement", "15-minute meter data for baselines and settlement"),
        ):
            rows.append(
                {
                    "customer_id": customer_id,
                    "purpose": purpose,
                    "scope": scope,
                    "channel": "web",
                    "granted_at": granted,
                    "expires_at": None,
                    "revoked_at": revoked if purpose == "service_delivery" else None,
                }
            )
    return rows

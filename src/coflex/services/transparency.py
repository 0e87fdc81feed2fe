"""Automation transparency: a plain-language document per customer.

It states which devices are controlled, with which commands, within which
limits, how often, and how to override, from the same program terms the
event runner enforces.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

import coflex
from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models_operations import AutomationDocument
from coflex.domain.fleet import DeviceKind
from coflex.domain.programs import HealthSafetyLimits
from coflex.services.fleet_index import FleetIndex
from coflex.services.reporting import Parties, _environment

CHANNEL_WORDS = {
    "sms": "text message",
    "email": "email",
    "app": "a message in the app",
    "device_display": "a message on your thermostat",
}


def _device_lines(
    kind: str, limits: HealthSafetyLimits, vulnerable: bool
) -> dict[str, str]:
    if kind == DeviceKind.HVAC.value:
        return {
            "label": "Heating and cooling (smart thermostat)",
            "action": f"We change the set temperature by at most "
            f"{limits.max_offset_for(vulnerable):.1f} °C: warmer when cooling, cooler "
            "when heating.",
            "limit": "Your home stays between "
            f"{limits.indoor_min_for(vulnerable):.0f} °C and "
            f"{limits.indoor_max_for(vulnerable):.0f} °C while we control it.",
        }
    if kind == DeviceKind.BATTERY.value:
        return {
            "label": "Home battery",
            "action": "We use stored energy to power your home or the grid.",
            "limit": f"We always leave at least {limits.battery_reserve_fraction:.0%} "
            "charged for a power cut.",
        }
    if kind == DeviceKind.EV_CHARGER.value:
        return {
            "label": "Electric car charger",
            "action": "We slow down or pause charging for a while.",
            "limit": "Your car still gets the charge you need by the time you leave.",
        }
    return {
        "label": "Electric water heater",
        "action": "We switch the heating element off for a while.",
        "limit": "The water in the tank stays above "
        f"{limits.water_heater_min_c:.0f} °C.",
    }


def write_automation_documents(
    factory: sessionmaker[Session],
    index: FleetIndex,
    parties: Parties,
    output_dir: Path,
    issued_at: datetime,
) -> int:
    """Write and store the document for every customer of the program."""
    template = _environment().get_template("automation.html")
    kinds: dict[int, list[str]] = defaultdict(list)
    for d, site in enumerate(index.device_site.tolist()):
        kinds[site].append(index.device_kind[d])
    rows = []
    for s in range(index.n_sites):
        terms = index.terms[s]
        vulnerable = bool(index.vulnerable[s])
        html = template.render(
            version=coflex.__version__,
            generated_at=issued_at.strftime("%Y-%m-%d %H:%M UTC"),
            customer={
                "name": index.customer_name[s],
                "reference": index.customer_ref[s],
            },
            aggregator={"name": parties.aggregator_name},
            program={"name": parties.program_name},
            devices=[
                _device_lines(kind, terms.limits, vulnerable)
                for kind in sorted(kinds[s])
            ],
            protected=bool(index.medical[s]),
            vulnerable=vulnerable,
            terms=terms,
            channel=CHANNEL_WORDS.get(index.channel[s].value, index.channel[s].value),
            fleet={"sites": index.n_sites, "devices": len(index.device_id)},
            terms_hash=terms.parameters_hash(),
        )
        folder = output_dir / "customers" / index.customer_ref[s]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "automation.html").write_text(html, encoding="utf-8")
        rows.append(
            {
                "customer_id": int(index.customer_id[s]),
                "issued_at": issued_at,
                "terms_hash": terms.parameters_hash(),
                "content_hash": hashlib.sha256(html.encode()).hexdigest(),
                "html": html,
            }
        )
    with transaction(factory) as session:
        insert_rows(session, AutomationDocument, rows)
    return len(rows)

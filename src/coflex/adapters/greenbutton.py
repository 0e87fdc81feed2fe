"""Green Button usage data: interval energy as an ESPI Atom feed.

The feed follows the Energy Services Provider Interface of NAESB REQ.21
(ESPI), the format behind the Green Button Download My Data button: an Atom
(RFC 4287) feed whose entries carry one ``UsagePoint`` per site, its
``MeterReading``, the ``ReadingType`` that defines the unit and meaning of the
values, and one ``IntervalBlock`` per local day with an ``IntervalReading`` per
interval.

ReadingType codes used (ESPI enumerations, from IEC 61968-9):
accumulationBehaviour 4 (delta data: energy in each interval), commodity 1
(electricity, secondary metered), dataQualifier 12 (normal), flowDirection 1
(forward: delivered to the customer), kind 12 (energy), phase 769 (S1-S2-N),
uom 72 (Wh), powerOfTenMultiplier -3, so each ``value`` is in mWh. Interval
``start`` values are UTC epoch seconds, ``duration`` values seconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

ATOM_NS = "http://www.w3.org/2005/Atom"
ESPI_NS = "http://naesb.org/espi"
# mWh per kWh: values are written as whole mWh (powerOfTenMultiplier -3 of Wh).
MWH_PER_KWH = 1_000_000
POWER_OF_TEN_MULTIPLIER = -3
UOM_WH = 72

ET.register_namespace("", ATOM_NS)
ET.register_namespace("espi", ESPI_NS)

# Names stay in one namespace: uuid5 of these give stable entry ids per export.
_ID_NAMESPACE = uuid.UUID("6f1c1b52-3c1e-4d0e-9a53-5d8f0c3c7a01")


@dataclass(frozen=True)
class DayBlock:
    """One local day of interval energy [kWh] starting at local midnight ``start``."""

    start: datetime
    interval_s: int
    energy_kwh: list[float]


@dataclass(frozen=True)
class UsagePoint:
    """One metered site and its days of interval data."""

    site_id: int
    blocks: list[DayBlock]


def to_milliwatt_hours(energy_kwh: float) -> int:
    return round(energy_kwh * MWH_PER_KWH)


def _atom(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _espi(tag: str) -> str:
    return f"{{{ESPI_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, value: object) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = str(value)
    return child


def _entry(
    feed: ET.Element, key: str, title: str, links: dict[str, str], at: str
) -> ET.Element:
    entry = ET.SubElement(feed, _atom("entry"))
    _text(entry, _atom("id"), f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, key)}")
    for rel, href in links.items():
        ET.SubElement(entry, _atom("link"), {"rel": rel.split("#")[0], "href": href})
    _text(entry, _atom("title"), title)
    content = ET.SubElement(entry, _atom("content"))
    _text(entry, _atom("published"), at)
    _text(entry, _atom("updated"), at)
    return content


def _reading_type(content: ET.Element, interval_s: int) -> None:
    reading_type = ET.SubElement(content, _espi("ReadingType"))
    for tag, value in (
        ("accumulationBehaviour", 4),
        ("commodity", 1),
        ("dataQualifier", 12),
        ("flowDirection", 1),
        ("intervalLength", interval_s),
        ("kind", 12),
        ("phase", 769),
        ("powerOfTenMultiplier", POWER_OF_TEN_MULTIPLIER),
        ("timeAttribute", 0),
        ("uom", UOM_WH),
    ):
        _text(reading_type, _espi(tag), value)


def _interval_block(content: ET.Element, block: DayBlock) -> None:
    element = ET.SubElement(content, _espi("IntervalBlock"))
    start = int(block.start.timestamp())
    interval = ET.SubElement(element, _espi("interval"))
    _text(interval, _espi("duration"), block.interval_s * len(block.energy_kwh))
    _text(interval, _espi("start"), start)
    for i, energy in enumerate(block.energy_kwh):
        reading = ET.SubElement(element, _espi("IntervalReading"))
        period = ET.SubElement(reading, _espi("timePeriod"))
        _text(period, _espi("duration"), block.interval_s)
        _text(period, _espi("start"), start + i * block.interval_s)
        _text(reading, _espi("value"), to_milliwatt_hours(energy))


def feed(
    customer_reference: str, usage_points: list[UsagePoint], at: datetime
) -> bytes:
    """Return the ESPI Atom feed of ``usage_points`` as UTF-8 XML."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = ET.Element(_atom("feed"))
    _text(
        root, _atom("id"), f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, customer_reference)}"
    )
    _text(root, _atom("title"), f"Green Button usage data of {customer_reference}")
    _text(root, _atom("updated"), stamp)

    base = f"RetailCustomer/{customer_reference}/UsagePoint"
    for point in usage_points:
        own = f"{base}/{point.site_id}"
        interval_s = point.blocks[0].interval_s
        content = _entry(
            root,
            own,
            f"Site {point.site_id}",
            {"self": own, "up": base, "related": f"{own}/MeterReading"},
            stamp,
        )
        usage = ET.SubElement(content, _espi("UsagePoint"))
        category = ET.SubElement(usage, _espi("ServiceCategory"))
        _text(category, _espi("kind"), 0)  # 0: electricity

        reading = f"{own}/MeterReading/1"
        reading_type = f"ReadingType/{point.site_id}"
        content = _entry(
            root,
            reading,
            "Interval energy delivered",
            {
                "self": reading,
                "up": f"{own}/MeterReading",
                "related#blocks": f"{reading}/IntervalBlock",
                "related#type": reading_type,
            },
            stamp,
        )
        ET.SubElement(content, _espi("MeterReading"))
        content = _entry(
            root, reading_type, "Energy delivered [Wh]", {"self": reading_type}, stamp
        )
        _reading_type(content, interval_s)
        for number, block in enumerate(point.blocks, start=1):
            block_id = f"{reading}/IntervalBlock/{number}"
            content = _entry(
                root,
                block_id,
                block.start.date().isoformat(),
                {"self": block_id, "up": f"{reading}/IntervalBlock"},
                stamp,
            )
            _interval_block(content, block)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)

"""Competition rules: free exit for households, and one provider per service.

A household pays no switching or exit fee, so a program offer to households
with either fee is rejected. A site is enrolled with one provider per grid
service: a site that its customer declares, or that its utility service-point
id shows, as enrolled with another provider for the same service is flagged,
and a flagged site is not dispatched until the flag is resolved.

References
----------
DOE DER Aggregator Code of Conduct (November 2023), B. Consumer Enrollment,
Competition: aggregators comply with antitrust law. The controls here come
from the rules below.
Directive (EU) 2019/944, Article 12(2): no switching fees for households and
small enterprises.
UK SI 2021/1467 (Electric Vehicles (Smart Charge Points) Regulations 2021),
regulation 6: a charge point keeps its smart function when the owner changes
supplier.
PG&E Electric Rule 24: a customer cannot be enrolled in a utility demand
response program and a third-party demand response provider's program at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from coflex.errors import InputError, RuleViolation

CUSTOMER_CLASSES = ("household", "business")
DEMAND_RESPONSE = "demand_response"
RELEASE_MESSAGE = (
    "We no longer control any of your devices, and we have cancelled our access "
    "to them. They stay yours: you, and any other provider you choose, can "
    "control them."
)
_SERVICE_POINT_SEPARATORS = re.compile(r"[\s\-_.:/]+")


def check_no_exit_fees(
    customer_class: str, exit_fee: Decimal, switching_fee: Decimal
) -> None:
    """Raise if an offer to ``customer_class`` charges a household for leaving.

    Parameters
    ----------
    customer_class : str
        ``"household"`` or ``"business"``.
    exit_fee, switching_fee : Decimal
        Fees charged when the customer ends the contract or moves to another
        provider [currency units].

    Raises
    ------
    InputError
        If ``customer_class`` is unknown or a fee is negative.
    RuleViolation
        If a household offer has a switching or exit fee above zero.
    """
    if customer_class not in CUSTOMER_CLASSES:
        raise InputError(
            f"unknown customer class {customer_class!r}: use one of {CUSTOMER_CLASSES}",
            value=customer_class,
            field="customer_class",
        )
    for name, fee in (("exit_fee", exit_fee), ("switching_fee", switching_fee)):
        if fee < 0:
            raise InputError(
                f"{name} {fee} is negative: give 0 or more",
                value=str(fee),
                field=name,
            )
        if customer_class == "household" and fee > 0:
            raise RuleViolation(
                f"{name} {fee} is not allowed for households: a household "
                "leaves or switches provider at no cost, so set it to 0",
                value=str(fee),
                field=name,
            )


def normalize_service_point(service_point_id: str) -> str:
    """Return a utility meter or service-point id in a comparable form.

    Utilities print the same id with spaces, dashes or dots; upper case
    without separators compares equal across those spellings.

    Raises
    ------
    InputError
        If nothing but separators remains.
    """
    normalized = _SERVICE_POINT_SEPARATORS.sub("", service_point_id).upper()
    if not normalized:
        raise InputError(
            f"service-point id {service_point_id!r} is empty: give the id on the "
            "customer's utility bill",
            value=service_point_id,
            field="service_point_id",
        )
    return normalized


def normalize_service(service: str) -> str:
    """Return a grid service name in snake case, e.g. ``demand_response``."""
    normalized = _SERVICE_POINT_SEPARATORS.sub("_", service.strip()).lower()
    if not normalized.strip("_"):
        raise InputError(
            f"service {service!r} is empty: name the grid service, e.g. "
            f"{DEMAND_RESPONSE}",
            value=service,
            field="service",
        )
    return normalized.strip("_")


@dataclass(frozen=True)
class OtherEnrollment:
    """An enrollment of a site with another provider, declared or found.

    Attributes
    ----------
    provider : str
        The other aggregator or utility program operator.
    service : str
        The grid service, in :func:`normalize_service` form.
    program : str
        The other provider's program name.
    source : str
        ``"declaration"`` (declared by the customer) or ``"service_point"``
        (another aggregator in this store enrolls the same service point).
    """

    provider: str
    service: str
    program: str
    source: str


def conflicts(
    service: str, enrollments: list[OtherEnrollment]
) -> list[OtherEnrollment]:
    """Return the enrollments that provide the same ``service`` as this program."""
    program_service = normalize_service(service)
    return [e for e in enrollments if normalize_service(e.service) == program_service]

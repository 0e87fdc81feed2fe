"""Ownership: the rows each account may see, as SQL conditions.

A customer sees only their own customer record and what hangs off it, an
operator or sales representative only their aggregator's data, a grid operator
only the programs and events of the aggregator it contracts with, a regulator
only aggregators registered in its jurisdiction and a device only itself.
Rows outside an account's scope are reported as not found, so changing an id
reveals nothing about other customers.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, or_, select

from coflex.adapters.store.models import (
    Aggregator,
    Customer,
    Event,
    Notice,
    Participation,
    Program,
    Site,
)
from coflex.services.accounts import PermissionDenied, Principal, Role

STAFF = (Role.OPERATOR, Role.SALES_REPRESENTATIVE)


def forbidden(principal: Principal, what: str) -> PermissionDenied:
    return PermissionDenied(
        f"a {principal.role.value} account may not read {what}",
    )


def aggregator_ids(principal: Principal) -> Select[tuple[int]]:
    """Aggregators whose data the account may see."""
    if principal.role is Role.REGULATOR:
        return select(Aggregator.id).where(
            Aggregator.jurisdiction == principal.jurisdiction
        )
    if principal.role in (*STAFF, Role.GRID_OPERATOR):
        return select(Aggregator.id).where(Aggregator.id == principal.aggregator_id)
    raise forbidden(principal, "aggregators")


def customer_ids(principal: Principal) -> Select[tuple[int]]:
    if principal.role is Role.CUSTOMER:
        return select(Customer.id).where(Customer.id == principal.customer_id)
    if principal.role in STAFF:
        return select(Customer.id).where(
            Customer.aggregator_id == principal.aggregator_id
        )
    raise forbidden(principal, "customer data")


def site_ids(principal: Principal) -> Select[tuple[int]]:
    return select(Site.id).where(Site.customer_id.in_(customer_ids(principal)))


def program_ids(principal: Principal) -> Select[tuple[int]]:
    if principal.role is Role.CUSTOMER:
        from coflex.adapters.store.models import Contract

        return select(Contract.program_id).where(
            Contract.customer_id == principal.customer_id
        )
    return select(Program.id).where(
        Program.aggregator_id.in_(aggregator_ids(principal))
    )


def event_ids(principal: Principal) -> Select[tuple[int]]:
    """Events the account may see; a customer sees those that concern them."""
    if principal.role is Role.CUSTOMER:
        own_sites = site_ids(principal)
        return select(Event.id).where(
            or_(
                Event.id.in_(
                    select(Participation.event_id).where(
                        Participation.site_id.in_(own_sites)
                    )
                ),
                Event.id.in_(
                    select(Notice.event_id).where(
                        Notice.customer_id == principal.customer_id
                    )
                ),
            )
        )
    if principal.role in (Role.OPERATOR, Role.GRID_OPERATOR, Role.REGULATOR):
        return select(Event.id).where(Event.program_id.in_(program_ids(principal)))
    raise forbidden(principal, "events")


def operator_events(principal: Principal) -> Select[tuple[int]]:
    if principal.role is not Role.OPERATOR:
        raise forbidden(principal, "event operations")
    return event_ids(principal)


def in_scope(
    column: ColumnElement[int], ids: Select[tuple[int]]
) -> ColumnElement[bool]:
    return column.in_(ids)

"""The demo's accounts: one per role, with generated passwords.

coflex ships no default password. The demo creates its accounts with random
passwords, prints them once and writes them to ``credentials.txt`` readable
only by its owner (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Customer, Device
from coflex.adapters.store.models_web import Account
from coflex.services.accounts import (
    Role,
    create_account,
    generate_password,
    issue_token,
)
from coflex.services.events import PreparedEvent

DISPATCHED_CUSTOMERS = 3
OTHER_CUSTOMERS = 2


@dataclass(frozen=True)
class Credential:
    role: Role
    username: str
    secret: str  # a password, or an API token for a device
    note: str


def _demo_customers(
    prepared: PreparedEvent, overriding_sites: set[int]
) -> tuple[list[int], list[int]]:
    """Pick dispatched customers who do not override, and customers left out."""
    planned = prepared.plan.fraction > 0
    planned_sites = set(
        prepared.index.device_site[prepared.candidate_device_pos[planned]].tolist()
    )
    on_time = prepared.notice_on_time
    dispatched = sorted(
        s for s in planned_sites if s not in overriding_sites and bool(on_time[s])
    )
    others = sorted(set(range(prepared.index.n_sites)) - planned_sites)
    customer = prepared.index.customer_id
    chosen = [int(customer[s]) for s in dispatched[:DISPATCHED_CUSTOMERS]]
    left_out = [int(customer[s]) for s in others[:OTHER_CUSTOMERS]]
    return list(dict.fromkeys(chosen)), list(dict.fromkeys(left_out))


def _add(
    session: Session,
    credentials: list[Credential],
    role: Role,
    username: str,
    display_name: str,
    note: str,
    **owner: object,
) -> None:
    # A second demo on the same database keeps the first demo's accounts.
    taken = session.scalar(select(Account.id).where(Account.username == username))
    if taken is not None:
        username = f"{username}-{secrets.token_hex(3)}"
    password = generate_password()
    create_account(
        session,
        username,
        role,
        display_name,
        password,
        now=datetime.now(UTC),
        **owner,  # type: ignore[arg-type]
    )
    credentials.append(Credential(role, username, password, note))


def create_demo_accounts(
    factory: sessionmaker[Session],
    aggregator_id: int,
    jurisdiction: str,
    prepared: PreparedEvent,
    overriding_sites: set[int],
) -> list[Credential]:
    """Create one account per role and a handful of customer accounts."""
    dispatched, left_out = _demo_customers(prepared, overriding_sites)
    credentials: list[Credential] = []
    with transaction(factory) as session:
        for role, name, label in (
            (Role.OPERATOR, "operator", "Operations desk"),
            (Role.SALES_REPRESENTATIVE, "sales", "Sales representative"),
            (Role.GRID_OPERATOR, "grid-operator", "Distribution grid operator"),
        ):
            _add(
                session, credentials, role, name, label, "", aggregator_id=aggregator_id
            )
        _add(
            session,
            credentials,
            Role.REGULATOR,
            "regulator",
            "Regulator staff",
            "",
            jurisdiction=jurisdiction,
        )
        for customer_id in dispatched + left_out:
            customer = session.get(Customer, customer_id)
            assert customer is not None
            note = "in the event" if customer_id in dispatched else "not in the event"
            _add(
                session,
                credentials,
                Role.CUSTOMER,
                customer.reference.lower(),
                customer.name,
                note,
                customer_id=customer_id,
            )
        for customer_id in (dispatched + left_out)[:1]:
            credentials.append(_device_credential(session, customer_id))
    return credentials


def _device_credential(session: Session, customer_id: int) -> Credential:
    """Create the account and API token of the first device of a customer."""
    from coflex.adapters.store.models import Site

    device = session.scalar(
        select(Device)
        .join(Site, Site.id == Device.site_id)
        .where(Site.customer_id == customer_id)
        .order_by(Device.id)
        .limit(1)
    )
    assert device is not None
    account = create_account(
        session,
        f"device-{device.id}",
        Role.DEVICE,
        f"{device.kind} {device.id}",
        None,
        now=datetime.now(UTC),
        device_id=device.id,
    )
    token = issue_token(session, account, "demo device", datetime.now(UTC))
    return Credential(Role.DEVICE, account.username, token, "API token")


def write_credentials(path: Path, credentials: list[Credential]) -> None:
    """Write the credentials to ``path`` with mode 0600."""
    lines = ["# coflex demo accounts: role, username, password or token, note"]
    lines += [
        f"{c.role.value}\t{c.username}\t{c.secret}\t{c.note}".rstrip()
        for c in credentials
    ]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write("\n".join(lines) + "\n")


def print_credentials(
    console: Console, credentials: list[Credential], path: Path
) -> None:
    """Print one line per account: role, username, password or token, note."""
    console.print(f"Demo accounts (also in {path}):", highlight=False)
    for c in credentials:
        console.print(
            f"  {c.role.value:<21} {c.username:<14} {c.secret}  {c.note}".rstrip(),
            highlight=False,
            soft_wrap=True,
        )


def site_positions(prepared: PreparedEvent) -> dict[int, int]:
    """Map each site id of the event's fleet index to its position."""
    return {int(s): i for i, s in enumerate(np.asarray(prepared.index.site_id))}

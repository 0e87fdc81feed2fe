"""`coflex consent`: grant, revoke and list a customer's consents per purpose.

Every change is a row in the consent ledger and in the audit log (Code
section D, Privacy: customer data is used only with the customer's consent).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from coflex.entrypoints.cli import DatabaseOption, console
from coflex.entrypoints.cli_complaints import AtOption, parse_at, run_step

app = typer.Typer(
    help="The consent ledger: grant, revoke and list consents.", no_args_is_help=True
)

CustomerArgument = Annotated[str, typer.Argument(help="Customer reference.")]
PurposeOption = Annotated[
    str,
    typer.Option(
        help="Purpose: service_delivery, measurement, sharing_utility_iso, "
        "marketing or research."
    ),
]


@app.command("grant")
def grant(
    customer: CustomerArgument,
    purpose: PurposeOption,
    scope: Annotated[str, typer.Option(help="What the consent covers, in words.")],
    channel: Annotated[
        str, typer.Option(help="How it was given: web, phone, paper, app.")
    ] = "web",
    recipient: Annotated[
        str | None,
        typer.Option(help="Who receives the data (required for sharing)."),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option("--expires", help="Expiry, ISO 8601 with offset. Default: none."),
    ] = None,
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Record the customer's consent for one purpose."""
    from coflex.services import privacy

    request = privacy.Grant(
        customer_ref=customer,
        purpose=purpose,
        scope=scope,
        channel=channel,
        granted_at=parse_at(at),
        expires_at=parse_at(expires_at) if expires_at else None,
        recipient=recipient,
    )
    consent_id = run_step(database, lambda s: privacy.grant_consent(s, request).id)
    console.print(f"consent {consent_id} granted: {customer}, {purpose}")


@app.command("revoke")
def revoke(
    customer: CustomerArgument,
    purpose: PurposeOption,
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Revoke every live consent of the customer for the purpose."""
    from coflex.services import privacy

    when = parse_at(at)
    ids = run_step(
        database, lambda s: privacy.revoke_consent(s, customer, purpose, when)
    )
    console.print(
        f"revoked consent {', '.join(map(str, ids))}: {customer}, {purpose}",
        highlight=False,
    )


@app.command("list")
def list_(
    customer: CustomerArgument, at: AtOption = None, database: DatabaseOption = None
) -> None:
    """List the customer's consents, oldest first, and whether each is live."""
    from coflex.domain.administration.privacy import is_live
    from coflex.services import privacy

    when = parse_at(at)
    consents = run_step(database, lambda s: privacy.ledger(s, customer))
    table = Table("id", "purpose", "scope", "recipient", "granted", "expires", "status")
    for row in consents:
        live = is_live(row.granted_at, row.expires_at, row.revoked_at, when)
        status = "live" if live else "not live"
        if row.revoked_at is not None and row.revoked_at <= when:
            status = "revoked"
        table.add_row(
            str(row.id),
            row.purpose,
            row.scope,
            row.recipient or "",
            row.granted_at.isoformat(),
            row.expires_at.isoformat() if row.expires_at else "",
            status,
        )
    console.print(table)

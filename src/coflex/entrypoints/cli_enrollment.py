"""`coflex claims`, `coflex sales`, `coflex proposal` and `coflex contract`.

Every command opens the database, runs one transaction and prints one line.
When a rule rejects the action, the command prints one line on stderr, stores
nothing and exits with the error's status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.errors import CoflexError, InputError

app = typer.Typer()
claims_app = typer.Typer(help="Registered claims and the material that uses them.")
sales_app = typer.Typer(help="Sales representatives, training and interactions.")
proposal_app = typer.Typer(help="Written proposals that open a draft contract.")
contract_app = typer.Typer(help="The contract lifecycle, from offer to termination.")
for group, name in (
    (claims_app, "claims"),
    (sales_app, "sales"),
    (proposal_app, "proposal"),
    (contract_app, "contract"),
):
    group.info.no_args_is_help = True
    app.add_typer(group, name=name)

T = TypeVar("T")
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at", help="When it happens, ISO 8601 with a UTC offset. Default: now."
    ),
]
OutputOption = Annotated[
    Path, typer.Option(help="Folder for customers/<reference>/*.html.")
]


def _at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(
            f"{value!r} is not an ISO 8601 time: use e.g. 2026-07-21T15:00+00:00",
            value=value,
            field="at",
        ) from exc
    if parsed.tzinfo is None:
        raise InputError(
            f"time {value!r} has no UTC offset: add one, e.g. +00:00",
            value=value,
            field="at",
        )
    return parsed


@contextmanager
def _session(database: str | None) -> Iterator[Session]:
    from coflex.adapters.store.database import (
        default_database_url,
        migrate,
        open_engine,
        session_factory,
        transaction,
    )

    engine = open_engine(database or default_database_url(), must_exist=True)
    try:
        migrate(engine)
        with transaction(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _run(database: str | None, action: Callable[[Session], T]) -> T:
    """Run ``action`` in one transaction; a CoflexError ends the command."""
    try:
        with _session(database) as session:
            return action(session)
    except CoflexError as error:
        _fail(error)
        raise  # unreachable: _fail exits


# -- claims ---------------------------------------------------------------------


@claims_app.command("add")
def claims_add(
    statement: Annotated[str, typer.Option(help="The claim as published.")],
    kind: Annotated[str, typer.Option(help="performance, savings, payback, income.")],
    value: Annotated[float, typer.Option(help="The figure.")],
    unit: Annotated[str, typer.Option(help="Its unit, e.g. USD/season or kWh.")],
    source: Annotated[str, typer.Option(help="Citation or dataset reference.")] = "",
    method: Annotated[str, typer.Option(help="How the figure was computed.")] = "",
    assumptions: Annotated[str, typer.Option(help="Assumptions behind it.")] = "",
    population: Annotated[str, typer.Option(help="Who it applies to.")] = "",
    as_of: Annotated[str, typer.Option(help="Date it describes, YYYY-MM-DD.")] = "",
    risk: Annotated[
        str | None, typer.Option(help="Statement of the risk to revenue.")
    ] = None,
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Register a claim (unreviewed; expires 12 months after its as-of date)."""
    from coflex.domain.enrollment.claims import ClaimKind
    from coflex.services import claims

    def action(session: Session) -> int:
        try:
            claim_kind = ClaimKind(kind)
            day = date.fromisoformat(as_of) if as_of else _at(at).date()
        except ValueError as exc:
            raise InputError(
                f"invalid --kind {kind!r} or --as-of {as_of!r}: kind is one of "
                f"{[k.value for k in ClaimKind]}, as-of is YYYY-MM-DD",
                value=kind,
            ) from exc
        return claims.register_claim(
            session,
            statement=statement,
            kind=claim_kind,
            value=value,
            unit=unit,
            source=source,
            method=method,
            assumptions=assumptions,
            population=population,
            as_of=day,
            at=_at(at),
            risk_statement=risk,
        )

    console.print(f"claim {_run(database, action)} registered")


@claims_app.command("typical")
def claims_typical(
    statement: Annotated[str, typer.Option(help="The claim as published.")],
    risk: Annotated[str, typer.Option(help="Statement of the risk to revenue.")],
    as_of: Annotated[
        str, typer.Option(help="Last day of the 12-month window, YYYY-MM-DD.")
    ],
    currency: Annotated[str, typer.Option(help="Currency of the payments.")] = "USD",
    program: Annotated[
        int | None, typer.Option(help="Count only this program's events.")
    ] = None,
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Register a typical-customer claim computed from the stored settlements.

    The value is the median of each customer's settled payments over the 12
    months to --as-of; fewer than 30 settled customers is an error.
    """
    from coflex.services import claims_typical

    def action(session: Session) -> int:
        try:
            day = date.fromisoformat(as_of)
        except ValueError as exc:
            raise InputError(
                f"invalid --as-of {as_of!r}: use YYYY-MM-DD", value=as_of
            ) from exc
        return claims_typical.register_typical_claim(
            session,
            statement=statement,
            as_of=day,
            at=_at(at),
            currency=currency,
            risk_statement=risk,
            program_id=program,
        )

    console.print(f"claim {_run(database, action)} registered from settlements")


@claims_app.command("review")
def claims_review(
    claim_id: int,
    reviewer: Annotated[str, typer.Option(help="Name of the reviewer.")],
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Record a reviewer's sign-off of a claim."""
    from coflex.services import claims

    _run(database, lambda s: claims.review_claim(s, claim_id, reviewer, _at(at)))
    console.print(f"claim {claim_id} reviewed by {reviewer}")


@claims_app.command("material-add")
def claims_material_add(
    name: Annotated[str, typer.Option(help="Material name; versions share it.")],
    kind: Annotated[str, typer.Option(help="advert, script or web_page.")],
    body: Annotated[Path, typer.Option(help="File with the material's text.")],
    claim: Annotated[list[int], typer.Option(help="Id of a claim it uses.")],
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Store a new draft version of a material."""
    from coflex.services import claims

    text = body.read_text(encoding="utf-8")
    material_id = _run(
        database,
        lambda s: claims.add_material(s, name, kind, text, claim, _at(at)),
    )
    console.print(f"material {material_id} stored as a draft")


@claims_app.command("publish")
def claims_publish(
    material_id: int, database: DatabaseOption = None, at: AtOption = None
) -> None:
    """Publish a material version once every claim in it may be published."""
    from coflex.services import claims

    digest = _run(database, lambda s: claims.publish_material(s, material_id, _at(at)))
    console.print(f"material {material_id} published, sha256 {digest}")


@claims_app.command("withdraw")
def claims_withdraw(
    claim_id: int,
    reason: Annotated[str, typer.Option(help="Why the claim is withdrawn.")],
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Withdraw a claim and every material that uses it."""
    from coflex.services import claims

    withdrawn = _run(
        database, lambda s: claims.withdraw_claim(s, claim_id, _at(at), reason)
    )
    console.print(f"claim {claim_id} withdrawn with materials {withdrawn}")


# -- sales ----------------------------------------------------------------------


@sales_app.command("rep-add")
def sales_rep_add(
    name: Annotated[str, typer.Option(help="Representative's name.")],
    employer: Annotated[str, typer.Option(help="Who employs them.")],
    username: Annotated[str, typer.Option(help="Username of their account.")],
    third_party: Annotated[
        bool, typer.Option(help="They sell for the aggregator as a third party.")
    ] = False,
    agreement: Annotated[
        str | None,
        typer.Option(help="Reference of the third party's selling agreement."),
    ] = None,
    aggregator: Annotated[
        int | None,
        typer.Option(help="Aggregator id. Default: the only one stored."),
    ] = None,
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Add a sales representative and their user account (untrained at first)."""
    from coflex.adapters.store.models import Aggregator
    from coflex.services import sales

    def action(session: Session) -> int:
        aggregator_id = aggregator
        if aggregator_id is None:
            ids = session.scalars(select(Aggregator.id).limit(2)).all()
            if len(ids) != 1:
                raise InputError(
                    f"{len(ids) or 'no'} aggregators stored: give --aggregator",
                    field="aggregator",
                )
            aggregator_id = ids[0]
        return sales.add_representative(
            session,
            name,
            employer,
            third_party,
            _at(at),
            aggregator_id=aggregator_id,
            username=username,
            agreement_ref=agreement,
        )

    console.print(f"representative {_run(database, action)} added")


@sales_app.command("train")
def sales_train(
    representative_id: int,
    course: Annotated[str, typer.Option(help="Course completed.")],
    expires: Annotated[str, typer.Option(help="When it expires, ISO 8601.")],
    certified_by: Annotated[str, typer.Option(help="Who certified it.")],
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Record a completed training of a representative."""
    from coflex.services import sales

    training_id = _run(
        database,
        lambda s: sales.record_training(
            s, representative_id, course, _at(at), _at(expires), certified_by
        ),
    )
    console.print(f"training {training_id} recorded")


@sales_app.command("do-not-contact")
def sales_do_not_contact(
    customer: Annotated[str, typer.Option(help="Customer reference.")],
    reason: Annotated[str, typer.Option(help="What the customer asked.")],
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Flag a customer who asked not to be contacted."""
    from coflex.services import sales

    _run(
        database,
        lambda s: sales.flag_do_not_contact(
            s, _customer_id(s, customer), _at(at), reason
        ),
    )
    console.print(f"customer {customer} flagged: do not contact")


@sales_app.command("record")
def sales_record(
    representative_id: int,
    customer: Annotated[str, typer.Option(help="Customer reference.")],
    channel: Annotated[str, typer.Option(help="door_to_door, phone, web, ...")],
    told: Annotated[str, typer.Option(help="What the customer was told.")],
    answered: Annotated[str, typer.Option(help="What the customer answered.")],
    material: Annotated[
        int | None, typer.Option(help="Id of the material shown.")
    ] = None,
    sale: Annotated[bool, typer.Option(help="The interaction is a sale.")] = False,
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Record one contact with a customer, checking the sales rules."""
    from coflex.services import sales

    def action(session: Session) -> int:
        return sales.record_interaction(
            session,
            sales.Interaction(
                representative_id,
                _customer_id(session, customer),
                channel,
                _at(at),
                told,
                answered,
                material,
                sale,
            ),
        )

    console.print(f"interaction {_run(database, action)} recorded")


def _customer_id(session: Session, reference: str) -> int:
    from coflex.adapters.store.models import Customer
    from coflex.errors import NotFoundError

    found = session.scalar(select(Customer.id).where(Customer.reference == reference))
    if found is None:
        raise NotFoundError(
            f"customer {reference!r} not found: check the reference", value=reference
        )
    return found


# -- proposals and contracts ------------------------------------------------------


def _program_offer(session: Session, program: str):  # type: ignore[no-untyped-def]
    """Return the stored program's id, terms and offer.

    Raises
    ------
    NotFoundError
        If no program has that id or name, or it has no stored offer.
    """
    from coflex.domain.programs import ProgramTerms
    from coflex.services.program_offers import find_program, load_program_offer

    row = find_program(session, program)
    offer = load_program_offer(session, row)
    return row.id, ProgramTerms.from_json(row.terms), offer


@proposal_app.command("create")
def proposal_create(
    customer: Annotated[str, typer.Option(help="Customer reference.")],
    program: Annotated[str, typer.Option(help="Program id or name.")],
    weather: Annotated[
        Path | None,
        typer.Option(
            help="TMY3, TMY2 or EPW weather file from a station within 100 km "
            "of the site. Default: the bundled Greensboro, NC file."
        ),
    ] = None,
    output: OutputOption = Path("coflex-documents"),
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Open a draft contract and write the customer's proposal.

    The proposal uses the program's stored terms and offer, and the site's
    own meter days and the weather of those days.
    """
    from coflex.adapters.readers.weather import read_weather
    from coflex.services import offers

    when = _at(at)

    def action(session: Session) -> offers.Issued:
        program_id, terms, offer = _program_offer(session, program)
        # The history ends the day before; a typical-year file is mapped
        # onto that day's year.
        series = read_weather(weather, year=(when - timedelta(days=1)).year)
        return offers.create_proposal(
            session, customer, program_id, terms, offer, series, when, output
        )

    issued = _run(database, action)
    console.print(
        f"contract {issued.contract_id} drafted; proposal written to {issued.paths[0]}"
    )
    for flag in issued.flags:
        console.print(f"flagged: {flag}", highlight=False)


@contract_app.command("offer")
def contract_offer(
    contract_id: int,
    output: OutputOption = Path("coflex-documents"),
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Generate Key Facts and terms and offer the contract with its proposal."""
    from coflex.adapters.store.models import Contract
    from coflex.services import offers

    def action(session: Session) -> offers.Issued:
        contract = session.get(Contract, contract_id)
        if contract is None:
            raise InputError(f"contract {contract_id} not found", value=contract_id)
        _, _, offer = _program_offer(session, str(contract.program_id))
        return offers.offer_contract(session, contract_id, offer, _at(at), output)

    issued = _run(database, action)
    console.print(f"contract {contract_id} offered; wrote {len(issued.paths)} files")


@contract_app.command("accept")
def contract_accept(
    contract_id: int,
    accepted_by: Annotated[str, typer.Option(help="Who accepted.")],
    channel: Annotated[str, typer.Option(help="web, app, phone, in_person, mail.")],
    ip: Annotated[str | None, typer.Option(help="IP address (web, app).")] = None,
    user_agent: Annotated[
        str | None, typer.Option(help="Browser or app user agent (web, app).")
    ] = None,
    recording: Annotated[
        str | None, typer.Option(help="Call recording or signed-form reference.")
    ] = None,
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Record acceptance of the offered documents and start the cooling-off period."""
    from coflex.adapters.store.models import Aggregator, Contract, Customer, Site
    from coflex.domain.enrollment.contract import ConsentEvidence
    from coflex.services import contracting

    def action(session: Session) -> datetime:
        _, hashes = contracting.offered_hashes(session, contract_id)
        contract = session.get(Contract, contract_id)
        customer = session.get(Customer, contract.customer_id)  # type: ignore[union-attr]
        aggregator = session.get(Aggregator, customer.aggregator_id)  # type: ignore[union-attr]
        timezone = session.scalar(
            select(Site.timezone).where(Site.customer_id == customer.id)  # type: ignore[union-attr]
        )
        evidence = ConsentEvidence(
            accepted_by, _at(at), channel, hashes, ip, user_agent, recording
        )
        return contracting.accept(
            session,
            contract_id,
            evidence,
            aggregator.jurisdiction,  # type: ignore[union-attr]
            timezone or "UTC",
        )

    ends = _run(database, action)
    console.print(f"contract {contract_id} accepted; cooling-off ends {ends}")


@contract_app.command("activate")
def contract_activate(
    contract_id: int, database: DatabaseOption = None, at: AtOption = None
) -> None:
    """Activate a contract whose cooling-off period has ended."""
    from coflex.services import contracting

    _run(database, lambda s: contracting.activate(s, contract_id, _at(at), "operator"))
    console.print(f"contract {contract_id} active")


@contract_app.command("cancel")
def contract_cancel(
    contract_id: int,
    reason: Annotated[str, typer.Option(help="Why the customer cancels.")] = "",
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Cancel during the cooling-off period, at no cost."""
    from coflex.services import contracting

    _run(
        database,
        lambda s: contracting.cancel(s, contract_id, _at(at), "customer", reason),
    )
    console.print(f"contract {contract_id} cancelled at no cost")


@contract_app.command("amend")
def contract_amend(
    contract_id: int,
    effective: Annotated[str, typer.Option(help="When the change applies.")],
    max_events: Annotated[
        int | None, typer.Option(help="New season cap on events.")
    ] = None,
    payment_per_kwh: Annotated[
        float | None, typer.Option(help="New payment per kWh.")
    ] = None,
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Notify a change of terms, effective 30 days or more after the notice."""
    from dataclasses import replace

    from coflex.adapters.store.models import Contract
    from coflex.domain.programs import ProgramTerms
    from coflex.services import contracting

    def action(session: Session) -> int:
        contract = session.get(Contract, contract_id)
        if contract is None:
            raise InputError(f"contract {contract_id} not found", value=contract_id)
        terms = ProgramTerms.from_json(contract.terms)
        changes: dict[str, object] = {}
        if max_events is not None:
            changes["max_events_per_season"] = max_events
        if payment_per_kwh is not None:
            changes["payment_per_kwh"] = payment_per_kwh
        return contracting.notify_amendment(
            session, contract_id, replace(terms, **changes), _at(at), _at(effective)
        )

    amendment = _run(database, action)
    console.print(f"amendment {amendment} notified for contract {contract_id}")


@contract_app.command("apply-amendment")
def contract_apply_amendment(
    amendment_id: int, database: DatabaseOption = None, at: AtOption = None
) -> None:
    """Put a notified amendment into effect once its notice period has passed."""
    from coflex.services import contracting

    _run(
        database,
        lambda s: contracting.apply_amendment(s, amendment_id, _at(at), "operator"),
    )
    console.print(f"amendment {amendment_id} applied")


@contract_app.command("terminate")
def contract_terminate(
    contract_id: int,
    reason: Annotated[str, typer.Option(help="Why the contract ends.")] = "",
    output: OutputOption = Path("coflex-documents"),
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """End an active contract: release devices, issue the final statement."""
    from coflex.services import contracting
    from coflex.services.enrollment_documents import (
        DocumentRenderer,
        final_statement_html,
    )

    def action(session: Session) -> Path:
        customer = contracting.customer_of(session, contract_id)
        paid, events = contracting.settled_total(session, customer.id)
        when = _at(at)
        html = final_statement_html(
            DocumentRenderer(),
            customer.name,
            customer.reference,
            "the program",
            when,
            paid,
            events,
            "USD",
            contracting.termination_retain_until(session, contract_id, when),
        )
        contracting.terminate(session, contract_id, when, "customer", reason, html)
        folder = output / "customers" / customer.reference
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "final-statement.html").write_text(html, encoding="utf-8")
        return folder / "final-statement.html"

    path = _run(database, action)
    console.print(f"contract {contract_id} terminated; final statement {path}")


@contract_app.command("show")
def contract_show(contract_id: int, database: DatabaseOption = None) -> None:
    """Print a contract's status, every recorded transition and open flags."""
    from coflex.adapters.store.models import Contract, Site
    from coflex.adapters.store.models_enrollment import ContractTransition
    from coflex.services import competition

    def action(session: Session) -> list[str]:
        contract = session.get(Contract, contract_id)
        if contract is None:
            raise InputError(f"contract {contract_id} not found", value=contract_id)
        lines = [f"contract {contract_id}: {contract.status} ({contract.terms_hash})"]
        for t in session.scalars(
            select(ContractTransition)
            .where(ContractTransition.contract_id == contract_id)
            .order_by(ContractTransition.id)
        ):
            lines.append(
                f"{t.at.isoformat()} {t.action}: {t.from_status} -> {t.to_status} "
                f"by {t.actor}"
            )
        sites = session.scalars(
            select(Site.id).where(Site.customer_id == contract.customer_id)
        ).all()
        for site_flags in competition.open_flags(
            session, sites, contract.program_id
        ).values():
            lines += [
                f"flagged: site {f.site_id}, flag {f.id}: dual enrollment, "
                f"{f.detail}; not dispatched until resolved"
                for f in site_flags
            ]
        return lines

    for line in _run(database, action):
        console.print(line, highlight=False)

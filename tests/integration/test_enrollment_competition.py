"""Competition, typical-customer claims, retention and sellers on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from coflex.adapters.readers.weather import read_weather
from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.models import (
    Aggregator,
    Consent,
    Contract,
    Customer,
    Device,
    DeviceCommand,
    EligibilityDecision,
    Event,
    MeterDay,
    Participation,
    Program,
    Settlement,
    Site,
)
from coflex.adapters.store.models_enrollment import (
    ClaimRecord,
    ContractTermination,
    DualEnrollmentFlag,
    SalesInteraction,
)
from coflex.adapters.store.models_governance import AuditEntry
from coflex.adapters.store.models_web import Account, ApiToken
from coflex.domain.enrollment.competition import RELEASE_MESSAGE
from coflex.domain.enrollment.contract import ConsentEvidence
from coflex.domain.programs import ProgramTerms
from coflex.entrypoints.cli import app as cli_app
from coflex.errors import ClaimError, InputError, SalesRuleError
from coflex.services import (
    accounts,
    claims_typical,
    competition,
    contracting,
    events,
    program_offers,
    sales,
)
from coflex.services import demo as demo_service
from coflex.services.demo import PROFILE, DemoOptions, run_demo
from coflex.services.demo_contracts import demo_offer

NOW = datetime(2026, 5, 1, 14, tzinfo=UTC)
TERMS = ProgramTerms(payment_per_kwh=1.0)


@pytest.fixture
def factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def _aggregator(session: Session, name: str, jurisdiction: str = "US-NC") -> int:
    aggregator = Aggregator(
        name=name, jurisdiction=jurisdiction, registration_number=f"{name}-1",
        registered_at=NOW,
    )  # fmt: skip
    session.add(aggregator)
    session.flush()
    return aggregator.id


def _program(session: Session, aggregator_id: int, name: str) -> int:
    program = Program(
        aggregator_id=aggregator_id, name=name, event_class="reliability",
        terms=TERMS.to_json(), terms_hash=TERMS.parameters_hash(),
        season_start=date(2026, 5, 1), season_end=date(2026, 10, 31),
        created_at=NOW,
    )  # fmt: skip
    session.add(program)
    session.flush()
    return program.id


def _customer(session: Session, aggregator_id: int, reference: str) -> tuple[int, int]:
    customer = Customer(
        aggregator_id=aggregator_id, reference=reference, name="Mary Smith",
        email=None, phone=None, preferred_channel="sms", created_at=NOW,
    )  # fmt: skip
    session.add(customer)
    session.flush()
    site = Site(
        customer_id=customer.id, latitude=36.1, longitude=-79.9,
        timezone="America/New_York", medical_equipment=False,
        vulnerable_occupants=False, base_load_day_offset=0, base_load_scale=1.0,
    )  # fmt: skip
    session.add(site)
    session.flush()
    return customer.id, site.id


def _active_contract(
    factory: sessionmaker[Session], customer_id: int, program_id: int
) -> int:
    """Walk one contract from draft to active through the contracting service."""
    with transaction(factory) as session:
        contract_id = contracting.create_draft(
            session, customer_id, program_id, TERMS, NOW, "sales"
        )
        ids, hashes = [], {}
        for kind in ("proposal", "key_facts", "terms"):
            document = contracting.store_document(
                session, customer_id, kind, f"<p>{kind}</p>",
                TERMS.parameters_hash(), NOW,
            )  # fmt: skip
            ids.append(document.id)
            hashes[kind] = document.content_hash
        contracting.offer(
            session, contract_id, contracting.OfferedDocuments(*ids),
            NOW + timedelta(days=30), NOW, "sales",
        )  # fmt: skip
    with transaction(factory) as session:
        evidence = ConsentEvidence(
            "Mary Smith", NOW, "web", hashes, "198.51.100.7", "Firefox/140"
        )
        ends = contracting.accept(
            session, contract_id, evidence, "US-NC", "America/New_York"
        )
    with transaction(factory) as session:
        contracting.activate(session, contract_id, ends, "operator")
    return contract_id


def _world(factory: sessionmaker[Session]) -> dict[str, int]:
    """One aggregator, program, customer, site and device with a device account."""
    with transaction(factory) as session:
        aggregator_id = _aggregator(session, "Flex Co-op")
        program_id = _program(session, aggregator_id, "Peak")
        customer_id, site_id = _customer(session, aggregator_id, "C1")
        device = Device(site_id=site_id, kind="hvac", model_index=0, parameters={})
        session.add(device)
        session.add(
            Consent(
                customer_id=customer_id, purpose="service_delivery",
                scope="control", channel="web", granted_at=NOW, expires_at=None,
                revoked_at=None,
            )
        )  # fmt: skip
        session.flush()
        account = accounts.create_account(
            session, "thermostat-1", accounts.Role.DEVICE, "Thermostat", None,
            now=NOW, device_id=device.id,
        )  # fmt: skip
        accounts.issue_token(session, account, "device", NOW)
    contract_id = _active_contract(factory, customer_id, program_id)
    return {
        "aggregator": aggregator_id, "program": program_id, "customer": customer_id,
        "site": site_id, "contract": contract_id, "account": account.id,
    }  # fmt: skip


# -- exit: devices released, customer told, records kept ---------------------------


def test_termination_releases_devices(factory) -> None:  # type: ignore[no-untyped-def]
    """After exit, devices stay controllable by the customer and other providers.

    The control consent ends, the device account that this aggregator
    commands the device through is disabled, its tokens are revoked, and the
    message the customer is given is on record.
    """
    ids = _world(factory)
    ended = NOW + timedelta(days=40)
    with transaction(factory) as session:
        contracting.terminate(
            session, ids["contract"], ended, "customer", "moving", "<p>final</p>"
        )
    with factory() as session:
        account = session.get(Account, ids["account"])
        token = session.scalars(select(ApiToken)).one()
        consent = session.scalars(select(Consent)).one()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "devices_released")
        ).one()
    assert account.disabled_at == ended
    assert token.revoked_at == ended
    assert consent.revoked_at == ended
    assert entry.details["customer_told"] == RELEASE_MESSAGE
    assert entry.details["device_accounts_disabled"] == 1


@pytest.mark.parametrize(
    ("ended", "expected"),
    [
        # Six years from acceptance is the longest for a short contract.
        (datetime(2026, 6, 1, tzinfo=UTC), date(2032, 5, 1)),
        # For a five-year contract, its end plus two years is the longest.
        (datetime(2031, 5, 1, tzinfo=UTC), date(2033, 5, 1)),
    ],
)
def test_termination_retain_until(factory, ended: datetime, expected: date) -> None:  # type: ignore[no-untyped-def]
    ids = _world(factory)
    with transaction(factory) as session:
        contracting.terminate(
            session, ids["contract"], ended, "customer", "moving", "<p>final</p>"
        )
    with factory() as session:
        termination = session.scalars(select(ContractTermination)).one()
    assert termination.retain_until == expected


# -- dual enrollment ---------------------------------------------------------------


def _flags(factory: sessionmaker[Session]) -> list[DualEnrollmentFlag]:
    with factory() as session:
        return list(session.scalars(select(DualEnrollmentFlag)))


def test_declared_enrollment_flagged(factory) -> None:  # type: ignore[no-untyped-def]
    ids = _world(factory)
    with transaction(factory) as session:
        _, first = competition.declare_other_enrollment(
            session, ids["site"], "GridCo", "Demand response", "Peak Saver",
            NOW, "customer",
        )  # fmt: skip
        _, again = competition.declare_other_enrollment(
            session, ids["site"], "GridCo", "demand_response", "Peak Saver",
            NOW, "customer",
        )  # fmt: skip
        _, other_service = competition.declare_other_enrollment(
            session, ids["site"], "SunCo", "solar export", "Net metering",
            NOW, "customer",
        )  # fmt: skip
    flags = _flags(factory)
    assert len(first) == 1
    assert again == []
    assert other_service == []
    assert [f.source for f in flags] == ["declaration"]
    assert "GridCo" in flags[0].detail


def test_service_point_cross_check(factory) -> None:  # type: ignore[no-untyped-def]
    """A site on the same service point as another aggregator's enrolled site is flagged."""
    ids = _world(factory)
    with transaction(factory) as session:
        other_aggregator = _aggregator(session, "Rival Energy")
        other_program = _program(session, other_aggregator, "Rival Peak")
        other_customer, other_site = _customer(session, other_aggregator, "R1")
    _active_contract(factory, other_customer, other_program)
    with transaction(factory) as session:
        ours = competition.record_service_point(
            session, ids["site"], "3000 1234-567", NOW
        )
        theirs = competition.record_service_point(
            session, other_site, "30001234567", NOW
        )
    flags = _flags(factory)
    assert len(ours) == 0  # the other site has no service point yet
    assert len(theirs) == 2  # both sides are flagged once the ids match
    assert {(f.site_id, f.other_provider) for f in flags} == {
        (ids["site"], "Rival Energy"),
        (other_site, "Flex Co-op"),
    }
    assert {f.source for f in flags} == {"service_point"}


def test_resolved_flag_clears(factory) -> None:  # type: ignore[no-untyped-def]
    ids = _world(factory)
    with transaction(factory) as session:
        _, flags = competition.declare_other_enrollment(
            session, ids["site"], "GridCo", "demand_response", "", NOW, "customer"
        )
    with transaction(factory) as session:
        competition.resolve_flag(
            session, flags[0], "customer left GridCo", "operator", NOW
        )
    with factory() as session:
        assert competition.open_flags(session, [ids["site"]]) == {}


def test_flag_shown_by_contract_show(database_url: str) -> None:
    engine = open_engine(database_url)
    migrate(engine)
    factory = session_factory(engine)
    ids = _world(factory)
    with transaction(factory) as session:
        competition.declare_other_enrollment(
            session, ids["site"], "GridCo", "demand_response", "", NOW, "customer"
        )
    engine.dispose()
    result = CliRunner().invoke(
        cli_app, ["contract", "show", str(ids["contract"]), "--database", database_url]
    )
    assert result.exit_code == 0, result.output
    assert "dual enrollment" in result.output
    assert "GridCo" in result.output


def _demo(
    database_url: str, tmp_path: Path, customers: int, target_kw: float | None = None
) -> None:
    options = DemoOptions(
        database_url=database_url, customers=customers, seed=3, weather_path=None,
        timezone="America/New_York", output_dir=tmp_path, override_share=0.0,
        target_kw=target_kw, event_start_local=None, event_end_local=None,
        show_progress=False,
    )  # fmt: skip
    run_demo(options, console=Console(quiet=True))


def test_dual_enrollment_not_dispatched(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flagged site is held back at dispatch with the reason dual enrollment."""
    prepare = events.plan_request
    flagged: list[int] = []

    def prepare_then_flag(factory, *args, **kwargs):  # type: ignore[no-untyped-def]
        prepared = prepare(factory, *args, **kwargs)
        planned = prepared.candidate_device_pos[prepared.plan.fraction > 0]
        site = int(prepared.index.site_id[prepared.index.device_site[planned[0]]])
        with transaction(factory) as session:
            competition.declare_other_enrollment(
                session, site, "GridCo", "demand_response", "Peak Saver",
                prepared.request.received_at, "customer",
            )  # fmt: skip
        flagged.append(site)
        return prepared

    monkeypatch.setattr(demo_service.events, "plan_request", prepare_then_flag)
    _demo(database_url, tmp_path, 40)

    engine = open_engine(database_url)
    with Session(engine) as session:
        commands = session.scalar(
            select(func.count())
            .select_from(DeviceCommand)
            .join(Participation, Participation.device_id == DeviceCommand.device_id)
            .where(
                Participation.site_id == flagged[0],
                DeviceCommand.action == "curtail",
            )
        )
        decisions = session.scalars(
            select(EligibilityDecision).where(
                EligibilityDecision.site_id == flagged[0],
                EligibilityDecision.reason == "dual_enrollment",
            )
        ).all()
    engine.dispose()
    assert commands == 0
    assert len(decisions) == 1
    assert "GridCo" in (decisions[0].detail or "")


# -- typical-customer claim from stored settlements -------------------------------


def test_typical_claim_from_settlements(database_url: str, tmp_path: Path) -> None:
    # A request for more than the fleet can give dispatches most of it.
    _demo(database_url, tmp_path, 60, target_kw=500.0)
    engine = open_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        event_day = session.scalar(select(func.max(Event.start))).date()
        rows = session.execute(
            select(Settlement.customer_id, Settlement.payment)
        ).all()
    per_customer: dict[int, float] = {}
    for customer_id, payment in rows:
        per_customer[customer_id] = per_customer.get(customer_id, 0.0) + payment
    assert len(per_customer) >= 30  # the demo event settles enough customers

    with transaction(factory) as session:
        claim_id = claims_typical.register_typical_claim(
            session, statement="A typical customer earned this.", as_of=event_day,
            at=NOW, risk_statement="Payments depend on how many events are called.",
        )  # fmt: skip
    with factory() as session:
        claim = session.get(ClaimRecord, claim_id)
    engine.dispose()
    expected = round(float(np.median(list(per_customer.values()))), 2)
    assert claim.value == pytest.approx(expected)
    assert f"median of {len(per_customer)} customers" in claim.statement
    assert claim.population.startswith(f"the {len(per_customer)} customers")
    assert "median" in claim.method


def test_typical_claim_rejected_below_30(database_url: str, tmp_path: Path) -> None:
    _demo(database_url, tmp_path, 40)
    engine = open_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        event_day = session.scalar(select(func.max(Event.start))).date()
        settled = session.scalar(
            select(func.count(func.distinct(Settlement.customer_id)))
        )
    with pytest.raises(ClaimError, match=f"found {settled}"):
        with transaction(factory) as session:
            claims_typical.register_typical_claim(
                session, statement="Typical.", as_of=event_day, at=NOW,
                risk_statement="Not guaranteed.",
            )  # fmt: skip
    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(ClaimRecord))
    engine.dispose()
    assert 0 < settled < 30
    assert stored == 0


# -- third-party sellers -----------------------------------------------------------


def _trained_rep(
    factory: sessionmaker[Session], aggregator_id: int, username: str
) -> int:
    with transaction(factory) as session:
        rep_id = sales.add_representative(
            session, "Sam", "Door2Door LLC", True, NOW, aggregator_id=aggregator_id,
            username=username, agreement_ref="D2D-2026-01",
        )  # fmt: skip
        sales.record_training(
            session, rep_id, "Code of Conduct sales", NOW, NOW + timedelta(days=365),
            "Trainer",
        )  # fmt: skip
    return rep_id


def test_third_party_needs_agreement(factory) -> None:  # type: ignore[no-untyped-def]
    ids = _world(factory)
    with pytest.raises(InputError, match="agreement"):
        with transaction(factory) as session:
            sales.add_representative(
                session, "Sam", "Door2Door LLC", True, NOW,
                aggregator_id=ids["aggregator"], username="sam",
            )  # fmt: skip
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 1


def test_third_party_sale_recorded(factory) -> None:  # type: ignore[no-untyped-def]
    """A trained third-party seller is a user; the sale is recorded and audited."""
    ids = _world(factory)
    rep_id = _trained_rep(factory, ids["aggregator"], "sam")
    with transaction(factory) as session:
        sales.record_interaction(
            session,
            sales.Interaction(
                rep_id, ids["customer"], "door_to_door", NOW, "program terms",
                "signed up", sale=True,
            ),
        )  # fmt: skip
    with factory() as session:
        account = session.scalar(
            select(Account).where(Account.username == "sam")
        )
        interaction = session.scalars(select(SalesInteraction)).one()
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "sales_interaction_recorded")
        )
    assert account.role == "sales_representative"
    assert account.aggregator_id == ids["aggregator"]
    assert interaction.sale
    assert audited == 1


def test_third_party_same_contact_rules(factory) -> None:  # type: ignore[no-untyped-def]
    ids = _world(factory)
    rep_id = _trained_rep(factory, ids["aggregator"], "sam")
    late = datetime(2026, 5, 2, 2, tzinfo=UTC)  # 22:00 in North Carolina
    with pytest.raises(SalesRuleError, match="permitted hours"):
        with transaction(factory) as session:
            sales.record_interaction(
                session,
                sales.Interaction(
                    rep_id, ids["customer"], "phone", late, "offer", "no"
                ),
            )
    with transaction(factory) as session:
        sales.flag_do_not_contact(session, ids["customer"], NOW, "asked")
    with pytest.raises(SalesRuleError, match="not to be contacted"):
        with transaction(factory) as session:
            sales.record_interaction(
                session,
                sales.Interaction(
                    rep_id, ids["customer"], "phone", NOW + timedelta(hours=1),
                    "offer", "no",
                ),
            )  # fmt: skip


def test_seller_of_other_aggregator_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    ids = _world(factory)
    with transaction(factory) as session:
        rival = _aggregator(session, "Rival Energy")
    rep_id = _trained_rep(factory, rival, "rival-sam")
    with pytest.raises(SalesRuleError, match="not for the customer's aggregator"):
        with transaction(factory) as session:
            sales.record_interaction(
                session,
                sales.Interaction(
                    rep_id, ids["customer"], "phone", NOW, "offer", "yes", sale=True
                ),
            )


def test_disabled_seller_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    ids = _world(factory)
    rep_id = _trained_rep(factory, ids["aggregator"], "sam")
    with transaction(factory) as session:
        account = session.scalar(select(Account).where(Account.username == "sam"))
        account.disabled_at = NOW
    with pytest.raises(SalesRuleError, match="disabled account"):
        with transaction(factory) as session:
            sales.record_interaction(
                session,
                sales.Interaction(
                    rep_id, ids["customer"], "phone", NOW, "offer", "yes"
                ),
            )
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(SalesInteraction)) == 0


# -- proposal from the stored program and the site's own history -------------------


def _meter_days(session: Session, site_id: int, days: int) -> None:
    for offset in range(1, days + 1):
        energy = np.full(96, 0.25, dtype=np.float32)  # 1 kW for 15 minutes
        session.add(
            MeterDay(
                site_id=site_id, day=NOW.date() - timedelta(days=offset),
                interval_s=900, energy_kwh=energy.tobytes(), source="meter",
            )
        )  # fmt: skip


def _cli(database_url: str, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        cli_app,
        ["proposal", "create", *args, "--database", database_url,
         "--output", str(tmp_path), "--at", NOW.isoformat()],
    )  # fmt: skip


def _proposal_store(database_url: str, meter_days: int) -> None:
    """Store program Peak with its offer and customer C1 with an HVAC device."""
    engine = open_engine(database_url)
    migrate(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        aggregator_id = _aggregator(session, "Flex Co-op")
        program_id = _program(session, aggregator_id, "Peak")
        _, site_id = _customer(session, aggregator_id, "C1")
        session.add(
            Device(
                site_id=site_id, kind="hvac", model_index=0,
                parameters={
                    "mode": "cooling", "heat_pump": False, "cooling_capacity_kw": 10.5,
                    "cooling_setpoint_day_c": 24.0, "heating_setpoint_day_c": 20.0,
                },
            )
        )  # fmt: skip
        _meter_days(session, site_id, meter_days)
        offer = demo_offer(PROFILE, "Peak")
        program_offers.store_program_offer(session, program_id, offer, NOW)
    engine.dispose()


def _contract_count(database_url: str) -> int:
    engine = open_engine(database_url)
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(Contract))
    engine.dispose()
    return int(count or 0)


def test_proposal_uses_stored_program(database_url: str, tmp_path: Path) -> None:
    _proposal_store(database_url, meter_days=10)

    result = _cli(database_url, tmp_path, "--customer", "C1", "--program", "Peak")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "customers" / "C1" / "proposal.html").read_text()
    weather = read_weather(None, year=2026)
    local = pd.Series(
        weather.temp_air_c, index=pd.DatetimeIndex(weather.times, tz="UTC")
    ).tz_convert("America/New_York")
    days = {NOW.date() - timedelta(days=n) for n in range(1, 11)}
    afternoons = local[
        np.isin(np.array(local.index.date), np.array(sorted(days)))
        & (local.index.hour >= 15) & (local.index.hour < 18)
    ]  # fmt: skip
    hottest = afternoons.groupby(afternoons.index.date).mean().max()
    assert "used on average 1.00 kW from 15:00 to 18:00" in html
    assert "over 10 days of metered data" in " ".join(html.split())
    assert f"{hottest:.1f} °C" in html
    assert _contract_count(database_url) == 1


def test_proposal_unknown_program(database_url: str, tmp_path: Path) -> None:
    _proposal_store(database_url, meter_days=10)

    result = _cli(database_url, tmp_path, "--customer", "C1", "--program", "Nope")
    assert result.exit_code == 2
    assert "program 'Nope' not found" in result.output
    assert "Peak" in result.output
    assert _contract_count(database_url) == 0


def test_proposal_site_without_history(database_url: str, tmp_path: Path) -> None:
    _proposal_store(database_url, meter_days=0)

    result = _cli(database_url, tmp_path, "--customer", "C1", "--program", "Peak")
    assert result.exit_code == 2
    assert "no meter data" in result.output
    assert _contract_count(database_url) == 0

"""Enrollment and contracting on SQLite and PostgreSQL, checked from the records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.models import (
    Aggregator,
    Contract,
    Customer,
    DeviceCommand,
    EligibilityDecision,
    Participation,
    Program,
    Site,
)
from coflex.adapters.store.models_enrollment import (
    ContractAcceptance,
    ContractTransition,
    EnrollmentDocument,
    Material,
)
from coflex.domain.enrollment.claims import ClaimKind
from coflex.domain.enrollment.contract import ConsentEvidence
from coflex.domain.programs import ProgramTerms
from coflex.errors import ClaimError, SalesRuleError, TransitionError
from coflex.services import claims, contracting, events, sales
from coflex.services import demo as demo_service
from coflex.services.demo import DemoOptions, run_demo

NOW = datetime(2026, 5, 1, 14, tzinfo=UTC)
TERMS = ProgramTerms(payment_per_kwh=1.0)


@pytest.fixture
def factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def _customer(factory: sessionmaker[Session]) -> tuple[int, int]:
    with transaction(factory) as session:
        aggregator = Aggregator(
            name="Flex Co-op", jurisdiction="US-NC", registration_number="NC-1",
            registered_at=NOW,
        )  # fmt: skip
        session.add(aggregator)
        session.flush()
        program = Program(
            aggregator_id=aggregator.id, name="Peak", event_class="reliability",
            terms=TERMS.to_json(), terms_hash=TERMS.parameters_hash(),
            season_start=date(2026, 5, 1), season_end=date(2026, 10, 31),
            created_at=NOW,
        )  # fmt: skip
        customer = Customer(
            aggregator_id=aggregator.id, reference="C1", name="Mary Smith",
            email=None, phone=None, preferred_channel="sms", created_at=NOW,
        )  # fmt: skip
        session.add_all([program, customer])
        session.flush()
        session.add(
            Site(
                customer_id=customer.id,
                latitude=36.1,
                longitude=-79.9,
                timezone="America/New_York",
                medical_equipment=False,
                vulnerable_occupants=False,
                base_load_day_offset=0,
                base_load_scale=1.0,
            )  # fmt: skip
        )
        return customer.id, program.id


def _offered(factory: sessionmaker[Session]) -> tuple[int, dict[str, str]]:
    customer_id, program_id = _customer(factory)
    with transaction(factory) as session:
        contract_id = contracting.create_draft(
            session, customer_id, program_id, TERMS, NOW, "sales"
        )
        ids, hashes = {}, {}
        for kind in ("proposal", "key_facts", "terms"):
            document = contracting.store_document(
                session, customer_id, kind, f"<p>{kind}</p>",
                TERMS.parameters_hash(), NOW,
            )  # fmt: skip
            ids[kind], hashes[kind] = document.id, document.content_hash
        contracting.offer(
            session,
            contract_id,
            contracting.OfferedDocuments(
                ids["proposal"], ids["key_facts"], ids["terms"]
            ),
            NOW + timedelta(days=30),
            NOW,
            "sales",
        )
    return contract_id, hashes


def _evidence(hashes: dict[str, str], at: datetime) -> ConsentEvidence:
    return ConsentEvidence(
        "Mary Smith", at, "web", hashes, "198.51.100.7", "Firefox/140"
    )


def _count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_lifecycle_recorded(factory) -> None:  # type: ignore[no-untyped-def]
    contract_id, hashes = _offered(factory)
    accepted = NOW + timedelta(days=1)
    with transaction(factory) as session:
        ends = contracting.accept(
            session, contract_id, _evidence(hashes, accepted), "US-NC",
            "America/New_York",
        )  # fmt: skip
    with transaction(factory) as session:
        contracting.activate(session, contract_id, ends, "operator")
    with factory() as session:
        contract = session.get(Contract, contract_id)
        actions = session.scalars(
            select(ContractTransition.action)
            .where(ContractTransition.contract_id == contract_id)
            .order_by(ContractTransition.id)
        ).all()
        acceptance = session.scalars(select(ContractAcceptance)).one()
    assert contract.status == "active"
    assert actions == ["create", "offer", "accept", "begin_cooling_off", "activate"]
    assert acceptance.document_hashes == hashes
    assert acceptance.ip_address == "198.51.100.7"


def test_early_activation_stores_nothing(factory) -> None:  # type: ignore[no-untyped-def]
    contract_id, hashes = _offered(factory)
    with transaction(factory) as session:
        contracting.accept(
            session, contract_id, _evidence(hashes, NOW), "US-NC", "America/New_York"
        )
    before = _count(factory, ContractTransition)
    with pytest.raises(TransitionError, match="cooling-off"):
        with transaction(factory) as session:
            contracting.activate(session, contract_id, NOW + timedelta(days=3), "op")
    with factory() as session:
        assert session.get(Contract, contract_id).status == "cooling_off"
    assert _count(factory, ContractTransition) == before


def test_offer_other_terms_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    customer_id, program_id = _customer(factory)
    with pytest.raises(TransitionError, match="regenerate"):
        with transaction(factory) as session:
            contract_id = contracting.create_draft(
                session, customer_id, program_id, TERMS, NOW, "sales"
            )
            other = ProgramTerms(payment_per_kwh=2.0).parameters_hash()
            ids = [
                contracting.store_document(
                    session, customer_id, kind, "<p></p>", other, NOW
                ).id
                for kind in ("proposal", "key_facts", "terms")
            ]
            contracting.offer(
                session, contract_id, contracting.OfferedDocuments(*ids),
                NOW + timedelta(days=30), NOW, "sales",
            )  # fmt: skip
    assert _count(factory, EnrollmentDocument) == 0


def test_unsourced_claim_blocks_material(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        claim_id = claims.register_claim(
            session, statement="Save $40 a summer", kind=ClaimKind.SAVINGS,
            value=40.0, unit="USD/season", source="", method="median",
            assumptions="", population="homes", as_of=date(2026, 1, 1), at=NOW,
            risk_statement="Not guaranteed.",
        )  # fmt: skip
        claims.review_claim(session, claim_id, "A. Reviewer", NOW)
        material_id = claims.add_material(
            session, "flyer", "advert", "Save $40!", [claim_id], NOW
        )
    with pytest.raises(ClaimError, match="no source"):
        with transaction(factory) as session:
            claims.publish_material(session, material_id, NOW)
    with factory() as session:
        assert session.get(Material, material_id).status == "draft"


def test_withdrawn_claim_withdraws_material(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        claim_id = claims.register_claim(
            session, statement="Cuts peak load by 1 kW", kind=ClaimKind.PERFORMANCE,
            value=1.0, unit="kW", source="coflex event reports 2025",
            method="mean delivered kW", assumptions="summer weekdays",
            population="homes with central AC", as_of=date(2026, 1, 1), at=NOW,
        )  # fmt: skip
        claims.review_claim(session, claim_id, "A. Reviewer", NOW)
        material_id = claims.add_material(
            session, "web", "web_page", "1 kW", [claim_id], NOW
        )
        claims.publish_material(session, material_id, NOW)
    with transaction(factory) as session:
        withdrawn = claims.withdraw_claim(session, claim_id, NOW, "new data")
    assert withdrawn == [material_id]


def test_untrained_representative_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    customer_id, _ = _customer(factory)
    with transaction(factory) as session:
        aggregator_id = session.scalar(select(Aggregator.id))
        rep_id = sales.add_representative(
            session, "Sam", "Door2Door LLC", True, NOW,
            aggregator_id=aggregator_id, username="sam", agreement_ref="D2D-2026-01",
        )  # fmt: skip
    with pytest.raises(SalesRuleError, match="no training record"):
        with transaction(factory) as session:
            sales.record_interaction(
                session,
                sales.Interaction(
                    rep_id, customer_id, "door_to_door", NOW, "program terms",
                    "signed up", sale=True,
                ),
            )  # fmt: skip


def test_terminated_contract_never_dispatched(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contract terminated after the plan is made is never dispatched.

    "No device is dispatched unless its contract is active, and this is
    enforced in the operations code path."
    """
    prepare = events.plan_request
    terminated: list[int] = []

    def prepare_then_terminate(factory, *args, **kwargs):  # type: ignore[no-untyped-def]
        prepared = prepare(factory, *args, **kwargs)
        planned = prepared.candidate_device_pos[prepared.plan.fraction > 0]
        site = int(prepared.index.device_site[planned[0]])
        customer_id = int(prepared.index.customer_id[site])
        with transaction(factory) as session:
            contract_id = session.scalar(
                select(Contract.id).where(Contract.customer_id == customer_id)
            )
            contracting.terminate(
                session, contract_id, prepared.request.received_at, "customer",
                "moved house", "<p>final</p>",
            )  # fmt: skip
        terminated.append(int(prepared.index.site_id[site]))
        return prepared

    monkeypatch.setattr(demo_service.events, "plan_request", prepare_then_terminate)
    options = DemoOptions(
        database_url=database_url, customers=40, seed=3, weather_path=None,
        timezone="America/New_York", output_dir=tmp_path, override_share=0.0,
        target_kw=None, event_start_local=None, event_end_local=None,
        show_progress=False,
    )  # fmt: skip
    run_demo(options, console=Console(quiet=True))

    engine = open_engine(database_url)
    with Session(engine) as session:
        commands = session.scalar(
            select(func.count())
            .select_from(DeviceCommand)
            .join(Participation, Participation.device_id == DeviceCommand.device_id)
            .where(
                Participation.site_id == terminated[0],
                DeviceCommand.action == "curtail",
            )
        )
        reasons = session.scalars(
            select(EligibilityDecision.reason).where(
                EligibilityDecision.site_id == terminated[0],
                EligibilityDecision.detail.like("%at dispatch"),
            )
        ).all()
    engine.dispose()
    assert commands == 0
    assert reasons == ["no_active_contract"]

"""Proposals, quotations, Key Facts and contract terms, and the readability gate."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coflex.domain.enrollment.key_facts import (
    GLOSSARY,
    TECHNICAL_TERMS,
    ContractFacts,
    Obligation,
    Parties,
    build_key_facts,
    build_terms,
)
from coflex.domain.enrollment.proposals import (
    Basis,
    DeviceSummary,
    SiteHistory,
    build_proposal,
)
from coflex.domain.enrollment.quotation import (
    LineCategory,
    QuoteLine,
    build_quotation,
)
from coflex.domain.enrollment.readability import (
    check_glossary,
    check_plain_language,
    measure,
)
from coflex.domain.fleet import DeviceKind
from coflex.domain.programs import ProgramTerms
from coflex.errors import QuotationError, ReadabilityError
from coflex.services.enrollment_documents import DocumentRenderer, document_pdf

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
TERMS = ProgramTerms(payment_per_kwh=1.0)
HARD = (
    "Notwithstanding the aforementioned contractual stipulations, the aggregator's "
    "indemnification obligations, pursuant to applicable jurisdictional regulatory "
    "determinations, shall encompass consequential, incidental and extraordinary "
    "damages attributable to unauthorised interconnection modifications."
)


def _quotation():  # type: ignore[no-untyped-def]
    lines = [
        QuoteLine(LineCategory.EQUIPMENT, "Your thermostat", Decimal("0.00"), "none"),
        QuoteLine(LineCategory.FEE, "Plan fee", Decimal("0.00"), "monthly"),
        QuoteLine(LineCategory.INCENTIVE, "Reward", Decimal("-50.00"), "later"),
    ]
    return build_quotation(lines, "USD", NOW, NOW + timedelta(days=30))


def _facts(terms: ProgramTerms = TERMS) -> ContractFacts:
    return ContractFacts(
        Parties("Flex Co-op", "NC-1", "+1-336-555-0100", "the regulator", "web", 10),
        "Peak Rewards",
        "Mary Smith",
        "C1",
        terms,
        _quotation(),
        14,
        "coflex default floor of 14 days",
        (Obligation("your power company", "keep your account open."),),
        ("We use your meter data only to pay you.",),
        ("control of your devices during events",),
        NOW,
    )


def _proposal(terms: ProgramTerms = TERMS):  # type: ignore[no-untyped-def]
    devices = (
        DeviceSummary(DeviceKind.HVAC, {"cooling_capacity_kw": 10.5}),
        DeviceSummary(
            DeviceKind.BATTERY,
            {"capacity_kwh": 13.5, "power_kw": 5.0, "backup_only": False},
        ),
    )
    return build_proposal(
        "C1",
        "Mary Smith",
        "Peak Rewards",
        terms,
        devices,
        SiteHistory(45, 1.2, 34.0),
        _quotation(),
        NOW,
    )


def test_hard_text_fails_gate() -> None:
    with pytest.raises(ReadabilityError, match="grade"):
        check_plain_language(HARD, document="draft Key Facts")


def test_hard_text_error_names_grade() -> None:
    with pytest.raises(ReadabilityError) as raised:
        check_plain_language(HARD, document="draft Key Facts")
    assert raised.value.value > 8


def test_easy_text_passes_gate() -> None:
    result = check_plain_language("You can stop at any time.", document="note")
    assert result.grade <= 8


def test_grade_hand_counted() -> None:
    """Six one-syllable words in one sentence: 0.39*6 + 11.8*1 - 15.59."""
    result = measure("The cat sat on the mat.")
    assert (result.words, result.sentences, result.syllables) == (6, 1, 6)
    assert result.grade == pytest.approx(-1.45)


def test_long_key_facts_rejected() -> None:
    text = "You can stop at any time. " * 300
    with pytest.raises(ReadabilityError, match="two printed pages"):
        check_plain_language(text, document="Key Facts")


def test_unexplained_term_rejected() -> None:
    with pytest.raises(ReadabilityError, match="baseline"):
        check_glossary(
            "We pay you against your baseline.", TECHNICAL_TERMS, {}, document="x"
        )


def test_explained_term_passes() -> None:
    check_glossary("We pay you per kWh.", TECHNICAL_TERMS, GLOSSARY, document="x")


def test_key_facts_pass_gate() -> None:
    _, readability = build_key_facts(_facts())
    assert readability.grade <= 8


@settings(max_examples=25, deadline=None)
@given(
    payment=st.floats(min_value=0.05, max_value=20, allow_nan=False),
    cap=st.integers(min_value=1, max_value=200),
    notice_s=st.integers(min_value=0, max_value=48 * 3600),
    offset_c=st.floats(min_value=0.5, max_value=3.0, allow_nan=False),
)
def test_key_facts_gate_any_terms(
    payment: float, cap: int, notice_s: int, offset_c: float
) -> None:
    """Every generated Key Facts stays at grade 8 or lower, whatever the terms."""
    limits = replace(TERMS.limits, max_setpoint_offset_c=round(offset_c, 1))
    terms = replace(
        TERMS,
        payment_per_kwh=round(payment, 2),
        max_events_per_season=cap,
        min_notice_s=notice_s,
        limits=limits,
    )
    _, readability = build_key_facts(_facts(terms))
    assert readability.grade <= 8


def test_same_hash_in_all_documents() -> None:
    """Proposal, Key Facts and contract carry the hash of the enforced terms."""
    facts = _facts()
    key_facts, _ = build_key_facts(facts)
    terms_doc = build_terms(facts)
    proposal = _proposal()
    expected = TERMS.parameters_hash()
    assert proposal.parameters_hash == expected
    assert key_facts.parameters_hash == expected
    assert terms_doc.parameters_hash == expected


def test_same_hash_in_rendered_html() -> None:
    renderer = DocumentRenderer()
    facts = _facts()
    key_facts, readability = build_key_facts(facts)
    pages = [
        renderer.proposal(_proposal()),
        renderer.document(key_facts, facts, readability),
        renderer.document(build_terms(facts), facts),
    ]
    for html in pages:
        assert TERMS.parameters_hash() in html


def test_terms_object_not_copied() -> None:
    """The documents hold the very terms object, not a retyped copy."""
    facts = _facts()
    assert _proposal().terms is TERMS
    assert facts.terms is TERMS


def test_changed_terms_change_hash() -> None:
    stricter = replace(TERMS, max_events_per_season=2)
    assert _proposal(stricter).parameters_hash != TERMS.parameters_hash()


def test_key_facts_legally_binding() -> None:
    document, _ = build_key_facts(_facts())
    assert document.sections[0].heading == "This is a legally binding contract"


def test_key_facts_pdf_two_pages() -> None:
    facts = _facts()
    document, _ = build_key_facts(facts)
    pdf = document_pdf(document, facts)
    assert pdf.startswith(b"%PDF")


@given(
    amounts=st.lists(
        st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False),
        min_size=1,
        max_size=8,
    )
)
def test_quotation_total_is_sum(amounts: list[Decimal]) -> None:
    lines = [
        QuoteLine(LineCategory.FEE, f"item {i}", amount, "on signing")
        for i, amount in enumerate(amounts)
    ]
    quotation = build_quotation(lines, "USD", NOW, NOW + timedelta(days=30))
    assert quotation.total == sum(amounts, Decimal("0"))


def test_quotation_wrong_total() -> None:
    lines = [QuoteLine(LineCategory.FEE, "fee", Decimal("10.00"), "now")]
    with pytest.raises(QuotationError, match="10.00 USD"):
        build_quotation(
            lines, "USD", NOW, NOW + timedelta(days=30), stated_total=Decimal("12.00")
        )


def test_quotation_short_validity() -> None:
    lines = [QuoteLine(LineCategory.FEE, "fee", Decimal("10.00"), "now")]
    with pytest.raises(QuotationError, match="30 days"):
        build_quotation(lines, "USD", NOW, NOW + timedelta(days=29))


def test_quotation_fraction_of_cent() -> None:
    lines = [QuoteLine(LineCategory.FEE, "fee", Decimal("10.001"), "now")]
    with pytest.raises(QuotationError, match="two decimals"):
        build_quotation(lines, "USD", NOW, NOW + timedelta(days=30))


def test_proposal_figures_labelled() -> None:
    for estimate in _proposal().estimates:
        for figure in (*estimate.figures, estimate.season_income):
            if figure.basis is Basis.ASSUMPTION:
                assert figure.assumption


def test_proposal_three_cases() -> None:
    assert [e.case for e in _proposal().estimates] == ["low", "central", "high"]


def test_proposal_cases_ordered() -> None:
    low, central, high = (e.season_income.value for e in _proposal().estimates)
    assert low <= central <= high


def test_proposal_labels_rendered() -> None:
    html = DocumentRenderer().proposal(_proposal())
    assert "potential" in html
    assert "confirmed" in html
    assert "assumption" in html

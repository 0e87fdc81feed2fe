"""Key Facts and detailed terms, generated from the contract data.

Both documents are built from one :class:`ContractFacts`, never typed by hand.
Every generated Key Facts passes the plain-language gate: Flesch-Kincaid grade
8 or lower, at most two printed pages, and every technical term explained.

References
----------
DOE DER Aggregator Code of Conduct (November 2023), B. Consumer Enrollment,
Contracting: a plain-language, jargon-free Key Facts document and a second
document with the finer details; the customer is informed in writing that the
contract is legally binding and what obligations they may owe to other parties
(such as an independent system operator) and to whom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from coflex.domain.enrollment.parameters import plain_parameter_lines, terms_hash
from coflex.domain.enrollment.quotation import Quotation
from coflex.domain.enrollment.readability import (
    Readability,
    check_glossary,
    check_plain_language,
)
from coflex.domain.programs import ProgramTerms

TECHNICAL_TERMS = frozenset(
    {
        "aggregator",
        "baseline",
        "cooling-off",
        "curtail",
        "demand response",
        "dispatch",
        "event",
        "grid operator",
        "ISO",
        "kW",
        "kWh",
        "override",
        "RTO",
        "setpoint",
        "settlement",
        "tariff",
    }
)
GLOSSARY = {
    "event": "A few hours when we turn down your devices to help the grid.",
    "kWh": "A unit of energy. It is what your power bill counts.",
    "baseline": "Our best guess of the power you would have used with no event.",
    "override": "You stop an event in your home. You press one button to do it.",
    "cooling-off": "The days after you sign when you can cancel for free.",
    "grid operator": "The group that runs the power grid in your area.",
}


@dataclass(frozen=True)
class Obligation:
    """A duty the customer may owe to another party because of the contract."""

    party: str
    duty: str


@dataclass(frozen=True)
class Parties:
    aggregator_name: str
    registration: str
    phone: str
    regulator: str
    regulator_contact: str
    complaint_days: int


@dataclass(frozen=True)
class ContractFacts:
    """Everything the two documents state, taken from the contract record."""

    parties: Parties
    program_name: str
    customer_name: str
    customer_ref: str
    terms: ProgramTerms
    quotation: Quotation
    cooling_off_days: int
    cooling_off_source: str
    obligations: tuple[Obligation, ...]
    data_uses: tuple[str, ...]
    permissions: tuple[str, ...]
    issued_at: datetime

    @property
    def parameters_hash(self) -> str:
        return terms_hash(self.terms)


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...] = ()
    items: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.heading + "."]
        lines += self.paragraphs
        lines += [f"- {item}" for item in self.items]
        return "\n".join(lines)


@dataclass(frozen=True)
class Document:
    kind: str  # "key_facts" or "terms"
    title: str
    sections: tuple[Section, ...]
    parameters_hash: str

    def text(self) -> str:
        return "\n\n".join(section.text() for section in self.sections)


def _money(amount: Decimal, currency: str) -> str:
    if amount < 0:
        return f"you get {-amount:.2f} {currency}"
    return f"you pay {amount:.2f} {currency}"


def _key_sections(facts: ContractFacts) -> list[Section]:
    p, q = facts.parties, facts.quotation
    return [
        Section(
            "This is a legally binding contract",
            (
                f"You make a deal with {p.aggregator_name} when you sign. The law "
                "holds you and us to it. Read these facts first.",
            ),
        ),
        Section(
            "What we do",
            (
                f"In the {facts.program_name} plan, we turn down some of your "
                "devices for short times. This helps the grid when it is busy. "
                "We pay you for the power you save.",
            ),
        ),
        Section("The limits we keep", items=tuple(plain_parameter_lines(facts.terms))),
        Section(
            "You stay in charge",
            (
                "You can stop any event. Press Override in the app or on the web. "
                "You can also change your thermostat. There is no charge and no "
                "loss of your other pay.",
            ),
        ),
        Section(
            "Money",
            items=tuple(
                f"{line.description}: {_money(line.amount, q.currency)}, "
                f"{line.payment_timing}."
                for line in q.lines
            )
            + (f"In all, {_money(q.total, q.currency)}.",),
        ),
        Section(
            "How to leave",
            (
                f"You have {facts.cooling_off_days} days of cooling-off. In that "
                "time you can cancel and pay nothing.",
                "After that, you can leave at any time. We charge no fee to leave "
                "or to switch. We let go of your devices the same day. They stay "
                "yours, and any other firm can use them.",
            ),
        ),
        Section("What you owe to others", items=_owed(facts)),
        Section(
            "Your data",
            facts.data_uses[:1],
            items=tuple(f"We ask for: {item}." for item in facts.permissions),
        ),
        Section(
            "If you are not happy",
            (
                f"Call us on {p.phone}. We reply within {p.complaint_days} days. "
                f"If we do not fix it, you can go to {p.regulator}. "
                f"Their contact is {p.regulator_contact}.",
                f"Our number with them is {p.registration}.",
            ),
        ),
        Section(
            "Words we use",
            items=tuple(f"{term}: {text}" for term, text in GLOSSARY.items()),
        ),
    ]


def _owed(facts: ContractFacts) -> tuple[str, ...]:
    if not facts.obligations:
        return ("You owe nothing to any other party because of this deal.",)
    return tuple(f"To {o.party}: {o.duty}" for o in facts.obligations)


def build_key_facts(facts: ContractFacts) -> tuple[Document, Readability]:
    """Generate the Key Facts and check it against the plain-language gate.

    Raises
    ------
    ReadabilityError
        If the text is above grade 8, longer than two pages, or uses a
        technical term that its glossary does not explain.
    """
    document = Document(
        "key_facts",
        f"Key Facts: {facts.program_name}",
        tuple(_key_sections(facts)),
        facts.parameters_hash,
    )
    text = document.text()
    check_glossary(text, TECHNICAL_TERMS, GLOSSARY, document="Key Facts")
    return document, check_plain_language(text, document="Key Facts")


def build_terms(facts: ContractFacts) -> Document:
    """Generate the detailed terms of the contract."""
    p = facts.parties
    sections = (
        Section(
            "1. Legally binding contract",
            (
                f"This contract between {p.aggregator_name} (registration "
                f"{p.registration}) and {facts.customer_name} (customer "
                f"{facts.customer_ref}) is legally binding once accepted.",
            ),
        ),
        Section(
            "2. Operational parameters",
            (
                "The parameters in the schedule are those the dispatch system "
                f"enforces, identified by SHA-256 {facts.parameters_hash}.",
            ),
        ),
        Section(
            "3. Cooling-off",
            (
                f"The customer may cancel without cost within {facts.cooling_off_days}"
                f" days of acceptance ({facts.cooling_off_source}). No device is "
                "controlled before the cooling-off period ends.",
            ),
        ),
        Section(
            "4. Override and opt-out",
            (
                "The customer may override any event at any time without penalty, "
                "and opt out of the program by terminating this contract.",
            ),
        ),
        Section("5. Obligations to other parties", items=_owed(facts)),
        Section("6. Data use and permissions", facts.data_uses, facts.permissions),
        _termination_section(),
        Section(
            "8. Changes",
            (
                "A change of terms takes effect no earlier than 30 days after "
                "written notice; the customer may terminate without fee before it "
                "takes effect.",
            ),
        ),
        Section(
            "9. Complaints",
            (
                f"Complaints go to {p.aggregator_name} at {p.phone}, answered within "
                f"{p.complaint_days} days, and may be escalated to {p.regulator} "
                f"({p.regulator_contact}).",
            ),
        ),
    )
    title = f"Contract terms: {facts.program_name}"
    return Document("terms", title, sections, facts.parameters_hash)


def _termination_section() -> Section:
    return Section(
        "7. Termination and exit",
        (
            "The customer may terminate at any time. No switching or exit fee is "
            "charged. On termination every device is released from control, a final "
            "statement is issued, and records are kept for the retention period.",
            "Devices stay controllable by the customer and by any other provider; "
            "the customer may export their data at any time.",
        ),
    )

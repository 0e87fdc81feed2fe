"""Rendering proposals, Key Facts, contract terms and final statements.

Templates are compiled once per renderer, and the operational-parameter block
is rendered once per distinct parameter hash and reused, so that a fleet of
thousands renders quickly. PDF output uses fpdf2, a pure-Python PDF writer, and
confirms that the Key Facts fit on two printed pages.
"""

from __future__ import annotations

from datetime import date, datetime

from fpdf import FPDF
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

import coflex
from coflex.domain.enrollment.competition import RELEASE_MESSAGE
from coflex.domain.enrollment.key_facts import ContractFacts, Document
from coflex.domain.enrollment.parameters import (
    parameter_table,
    plain_parameter_lines,
    terms_hash,
)
from coflex.domain.enrollment.proposals import Proposal
from coflex.domain.enrollment.readability import Readability
from coflex.domain.programs import ProgramTerms
from coflex.errors import ReadabilityError

KEY_FACTS_MAX_PAGES = 2
# fpdf2's built-in fonts cover Latin-1 only.
_PDF_REPLACEMENTS = {"…": "...", "–": "-", "—": "-", "’": "'", "“": '"', "”": '"'}


class DocumentRenderer:
    """Renders enrollment documents as HTML, with shared blocks cached."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("coflex", "reports/templates"),
            autoescape=select_autoescape(["html"]),
        )
        self._proposal = self.env.get_template("enrollment-proposal.html")
        self._document = self.env.get_template("enrollment-document.html")
        self._parameters = self.env.get_template("enrollment-parameters.html")
        self._blocks: dict[tuple[str, bool], Markup] = {}

    def parameters_block(self, terms: ProgramTerms, *, table: bool) -> Markup:
        """Return the parameter block of ``terms``, rendered once per hash."""
        key = (terms_hash(terms), table)
        if key not in self._blocks:
            self._blocks[key] = Markup(
                self._parameters.render(
                    parameters_hash=key[0],
                    plain_lines=plain_parameter_lines(terms),
                    table=parameter_table(terms) if table else None,
                )
            )
        return self._blocks[key]

    def proposal(self, proposal: Proposal) -> str:
        return self._proposal.render(
            p=proposal,
            parameters=self.parameters_block(proposal.terms, table=False),
            issued=_day(proposal.issued_at),
            valid_until=_day(proposal.valid_until),
            version=coflex.__version__,
            generated_at=proposal.issued_at.isoformat(timespec="seconds"),
        )

    def document(
        self,
        document: Document,
        facts: ContractFacts,
        readability: Readability | None = None,
    ) -> str:
        """Render Key Facts or contract terms; terms get the full parameter table."""
        with_table = document.kind == "terms"
        return self._document.render(
            document=document,
            customer_name=facts.customer_name,
            customer_ref=facts.customer_ref,
            issued=_day(facts.issued_at),
            parameters=self.parameters_block(facts.terms, table=True)
            if with_table
            else "",
            parameters_after=2 if with_table else None,
            readability=readability,
            version=coflex.__version__,
            generated_at=facts.issued_at.isoformat(timespec="seconds"),
        )


def _day(at: date) -> str:
    day = at.date() if isinstance(at, datetime) else at
    return day.isoformat()


def _latin1(text: str) -> str:
    for old, new in _PDF_REPLACEMENTS.items():
        text = text.replace(old, new)
    return text.encode("latin-1", "replace").decode("latin-1")


def document_pdf(document: Document, facts: ContractFacts) -> bytes:
    """Render a document as A4 PDF in 10-point type.

    Raises
    ------
    ReadabilityError
        If a Key Facts document takes more than two pages.
    """
    pdf = FPDF(format="A4")
    pdf.set_margins(18, 15, 18)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 7, _latin1(document.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(
        0,
        5,
        _latin1(f"For {facts.customer_name} (customer {facts.customer_ref})."),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for section in document.sections:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(0, 6, _latin1(section.heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for line in (*section.paragraphs, *(f"- {i}" for i in section.items)):
            pdf.multi_cell(0, 4.6, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 7)
    pdf.multi_cell(0, 4, f"Operational parameters {document.parameters_hash}")
    if document.kind == "key_facts" and pdf.pages_count > KEY_FACTS_MAX_PAGES:
        raise ReadabilityError(
            f"Key Facts take {pdf.pages_count} printed pages, more than "
            f"{KEY_FACTS_MAX_PAGES}: shorten them",
            value=pdf.pages_count,
            field="pages",
        )
    return bytes(pdf.output())


def final_statement_html(
    renderer: DocumentRenderer,
    customer_name: str,
    customer_ref: str,
    program_name: str,
    terminated_at: datetime,
    paid_total: float,
    events: int,
    currency: str,
    retain_until: date,
) -> str:
    """Render the final statement issued when a contract ends.

    It informs the customer that their devices are released and stay
    controllable by them and by other providers, and until when their
    records are kept.
    """
    template = renderer.env.from_string(
        FINAL_STATEMENT,
    )
    return template.render(
        customer_name=customer_name,
        customer_ref=customer_ref,
        program_name=program_name,
        ended=_day(terminated_at),
        paid=f"{paid_total:.2f} {currency}",
        events=events,
        release_message=RELEASE_MESSAGE,
        retain_until=_day(retain_until),
        version=coflex.__version__,
        generated_at=terminated_at.isoformat(timespec="seconds"),
    )


FINAL_STATEMENT = """{% extends "base.html" %}
{% block title %}Final statement{% endblock %}
{% block body %}
<h1>Final statement: {{ program_name }}</h1>
<p>For {{ customer_name }} (customer {{ customer_ref }}). Your contract ended on
{{ ended }}.</p>
<ul>
<li>{{ release_message }}</li>
<li>You took part in {{ events }} settled events and were paid {{ paid }} in all.</li>
<li>No exit fee is charged.</li>
<li>We keep your records until {{ retain_until }}, as the law asks, and then
delete them. You may ask for a copy of your data at any time.</li>
</ul>
{% endblock %}"""

"""The provisions of the DOE DER Aggregator Code of Conduct (November 2023).

The Code does not number its provisions, so each is named by its section
letter and heading, as the Code prints them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provision:
    key: str
    section: str
    heading: str
    requirement: str


PROVISIONS: tuple[Provision, ...] = (
    Provision(
        "A.applicability",
        "A",
        "Applicability",
        "The Code applies to every entity that engages customers and their "
        "resources for flexibility services.",
    ),
    Provision(
        "B.advertising",
        "B",
        "Advertising and Promotion",
        "Claims are accurate, attributed to a source and carry a revenue-risk "
        "statement.",
    ),
    Provision(
        "B.sales",
        "B",
        "Sales Behavior",
        "Sales are honest, without pressure; no service starts before the "
        "cooling-off period ends.",
    ),
    Provision(
        "B.competition",
        "B",
        "Competition",
        "The aggregator complies with antitrust law.",
    ),
    Provision(
        "B.proposals",
        "B",
        "Proposals",
        "A written proposal states benefits, duties, operating parameters, "
        "estimates and a quotation.",
    ),
    Provision(
        "B.contracting",
        "B",
        "Contracting",
        "A standard contract with Key Facts; the customer consents knowingly.",
    ),
    Provision(
        "C.communications",
        "C",
        "Communications and Channels",
        "Customers get adequate notice before the operational period.",
    ),
    Provision(
        "C.automation",
        "C",
        "Automation Transparency",
        "Control is documented and customers can override or opt out.",
    ),
    Provision(
        "C.health_safety",
        "C",
        "Operational Parameters for Consumer Health and Safety",
        "Operations respect health-agency limits, also in extreme weather.",
    ),
    Provision(
        "C.feedback",
        "C",
        "Performance Metrics and Feedback",
        "Customers get timely feedback on performance and shared benefits.",
    ),
    Provision(
        "D.complaints",
        "D",
        "Complaints",
        "A complaint procedure with timing and escalation to the regulator.",
    ),
    Provision(
        "D.privacy",
        "D",
        "Privacy",
        "Data protection law and the DOE DataGuard code; explicit permissions.",
    ),
    Provision(
        "D.cybersecurity",
        "D",
        "Cybersecurity",
        "Proportionate measures consistent with NIST and NERC frameworks.",
    ),
    Provision(
        "E.oversight",
        "E",
        "Oversight",
        "Registration with a Regulatory Authority; customers told of oversight.",
    ),
    Provision(
        "E.reporting",
        "E",
        "Reporting",
        "A compliance plan filed with the Regulatory Authority.",
    ),
    Provision(
        "E.record_keeping",
        "E",
        "Record Keeping",
        "Records kept for a minimum number of years and supplied on request.",
    ),
)

"""How long a customer's records are kept.

Default: the longest of the jurisdiction's minimum, the end of the contract
plus 2 years, and 6 years from the first record. Texas 16 TAC 25.491 requires
2 years and Virginia 20VAC5-342-90 requires 3 years. The 6-year floor echoes
the UK's 6-year limitation period for contract claims. Records of a customer
whose contract still runs are kept.
"""

from __future__ import annotations

from datetime import datetime

CONTRACT_TAIL_YEARS = 2
FLOOR_YEARS = 6


def add_years(at: datetime, years: int) -> datetime:
    """Move ``at`` by whole calendar years; 29 February becomes 28 February."""
    try:
        return at.replace(year=at.year + years)
    except ValueError:
        return at.replace(year=at.year + years, day=28)


def retain_until(
    first_record_at: datetime,
    contract_ended_at: datetime | None,
    jurisdiction_min_years: int,
) -> datetime | None:
    """Return when a customer's records may be purged; None while a contract runs."""
    if contract_ended_at is None:
        return None
    return max(
        add_years(first_record_at, jurisdiction_min_years),
        add_years(contract_ended_at, CONTRACT_TAIL_YEARS),
        add_years(first_record_at, FLOOR_YEARS),
    )


# What the purge does to each kind of record kept under the Code (section E,
# Record Keeping, and the records its other provisions produce), once a
# customer's retention has ended.
# "delete" removes the rows; "erase" keeps the row, its ids and its hashes but
# blanks the personal fields; "keep" leaves rows that hold ids, times and
# amounts only, which settlements and the audit log still point to.
RECORD_KINDS: tuple[tuple[str, str, str], ...] = (
    ("sales communications", "sales_interactions", "delete"),
    ("sales communications", "contact_flags", "delete"),
    ("proposals, Key Facts and contracts", "enrollment_documents", "erase"),
    ("proposals, Key Facts and contracts", "contract_acceptances", "erase"),
    ("proposals, Key Facts and contracts", "contract_terminations", "erase"),
    ("proposals, Key Facts and contracts", "contracts", "keep"),
    ("proposals, Key Facts and contracts", "contract_offers", "keep"),
    ("proposals, Key Facts and contracts", "contract_transitions", "keep"),
    ("proposals, Key Facts and contracts", "contract_amendments", "keep"),
    ("consents", "consents", "delete"),
    ("enrollments with other providers", "other_enrollment_declarations", "delete"),
    ("enrollments with other providers", "dual_enrollment_flags", "delete"),
    ("enrollments with other providers", "site_service_points", "delete"),
    ("notices", "notices", "delete"),
    ("commands", "device_commands", "keep"),
    ("commands", "eligibility_decisions", "keep"),
    ("commands", "participations", "keep"),
    ("commands", "command_vetoes", "keep"),
    ("overrides", "overrides", "keep"),
    ("overrides", "pending_overrides", "keep"),
    ("overrides", "site_withdrawals", "keep"),
    ("baselines with inputs and method", "baselines", "delete"),
    ("baselines with inputs and method", "meter_days", "delete"),
    ("statements", "statements", "delete"),
    ("statements", "automation_documents", "delete"),
    ("statements", "settlements", "keep"),
    ("complaints", "complaints", "delete"),
    ("complaints", "complaint_reminders", "delete"),
    ("privacy requests", "privacy_requests", "delete"),
    ("accounts", "accounts", "erase"),
    ("accounts", "browser_sessions", "delete"),
    ("accounts", "api_tokens", "delete"),
    ("customer and sites", "customers", "erase"),
    ("customer and sites", "sites", "erase"),
    ("customer and sites", "devices", "keep"),
    ("customer and sites", "oa3_clients", "keep"),
    ("audit log", "audit_log", "keep"),
)

"""coflex as an OpenADR 3.1 VTN: clients, tokens, objects, privacy, opt-outs.

The HTTP layer is :mod:`coflex.entrypoints.openadr3`; this module contains the
rules it applies, so that they can be tested without HTTP.

- Clients authenticate with OAuth2 client credentials; a token is stored only
  as its SHA-256 digest. A VEN client is tied to one coflex site.
- Object privacy: a VEN reads only the VENs, resources, reports and
  subscriptions it created, and the programs and events that are untargeted
  or target one of its VENs. Business logic (``read_all``) reads everything.
- A VEN report with an OPERATING_STATE value ``RUNNING_OPTED_OUT`` or
  ``IDLE_OPTED_OUT`` is the customer's opt-out and becomes a coflex override.

References
----------
OpenADR Alliance, "OpenADR 3.1.0 Specification" (openadr3.yaml) and
"OpenADR 3.1.0 User Guide": object privacy, read scopes, OPERATING_STATE.
IETF RFC 6749 §4.4: the client credentials grant.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Event, Participation
from coflex.adapters.store.models_openadr import Oa3Client, Oa3Object, Oa3Token
from coflex.adapters.store.models_web import PendingOverride
from coflex.errors import CoflexError, InputError, NotFoundError, RuleViolation
from coflex.services import override_inbox

logger = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 3600
ROLE_SCOPES = {
    "ven": (
        "read_targets",
        "read_ven_objects",
        "write_reports",
        "write_subscriptions",
        "write_vens",
    ),
    "bl": (
        "read_all",
        "read_bl",
        "write_programs",
        "write_events",
        "write_subscriptions",
        "write_vens",
    ),
}
OPTED_OUT_STATES = ("RUNNING_OPTED_OUT", "IDLE_OPTED_OUT")
# Objects a VEN may read only when it created them.
OWNED_TYPES = ("VEN", "RESOURCE", "REPORT", "SUBSCRIPTION")
# Statuses of a coflex event in which an opt-out is taken before dispatch.
BEFORE_START = ("eligibility_decided", "planned", "notified")
_HASHER = PasswordHasher()


class AuthError(CoflexError):
    """Missing, invalid or expired credentials (HTTP 401)."""

    code = "invalid_client"
    exit_status = 2
    http_status = 401


class ScopeError(CoflexError):
    """A token whose scopes do not allow the operation (HTTP 403)."""

    code = "insufficient_scope"
    exit_status = 2
    http_status = 403


class ConflictError(RuleViolation):
    """An object that would duplicate a unique name (HTTP 409)."""

    code = "conflict"


@dataclass(frozen=True)
class Principal:
    """The authenticated client behind a request."""

    client_id: str
    role: str
    scopes: frozenset[str]
    site_id: int | None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ScopeError(
                f"client {self.client_id} lacks scope {scope!r}: request a token "
                f"with it, which only a {_role_with(scope)} client can get",
                value=scope,
                field="scope",
            )


def _role_with(scope: str) -> str:
    return " or ".join(role for role, scopes in ROLE_SCOPES.items() if scope in scopes)


def format_instant(at: datetime) -> str:
    """Return ``at`` as an RFC 3339 UTC date-time ending in ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_client(
    factory: sessionmaker[Session], role: str, *, site_id: int | None = None
) -> tuple[str, str]:
    """Create an OAuth2 client and return its client ID and secret.

    The secret is shown once and stored only as an argon2 hash.
    """
    if role not in ROLE_SCOPES:
        raise InputError(
            f"unknown client role {role!r}: use 'ven' or 'bl'", value=role, field="role"
        )
    client_id = f"{role}-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(24)
    with transaction(factory) as session:
        session.add(
            Oa3Client(
                client_id=client_id,
                secret_hash=_HASHER.hash(secret),
                role=role,
                site_id=site_id,
                created_at=datetime.now(UTC),
            )
        )
    logger.info("OpenADR 3 client %s added with role %s", client_id, role)
    return client_id, secret


def issue_token(
    factory: sessionmaker[Session],
    client_id: str,
    secret: str,
    requested: str | None,
    now: datetime,
) -> tuple[str, str]:
    """Check client credentials and return a bearer token and its scopes.

    Requested scopes outside the client's role are left out, as RFC 6749
    §3.3 allows; no requested scope grants all of the role's scopes.

    Raises
    ------
    AuthError
        If the client is unknown or the secret does not match.
    """
    with transaction(factory) as session:
        client = session.scalar(
            select(Oa3Client).where(Oa3Client.client_id == client_id)
        )
        try:
            if client is None:
                raise VerificationError("unknown client")
            _HASHER.verify(client.secret_hash, secret)
        except (VerificationError, InvalidHashError) as exc:
            raise AuthError(
                f"client {client_id!r} is unknown or its secret is wrong: check "
                "the client ID and secret the aggregator issued",
                value=client_id,
                field="client_id",
            ) from exc
        allowed = ROLE_SCOPES[client.role]
        wanted = requested.split() if requested else list(allowed)
        scopes = " ".join(scope for scope in allowed if scope in wanted)
        token = secrets.token_urlsafe(32)
        session.add(
            Oa3Token(
                token_sha256=_digest(token),
                client_id=client_id,
                scopes=scopes,
                issued_at=now,
                expires_at=now + timedelta(seconds=TOKEN_LIFETIME_S),
            )
        )
    return token, scopes


def authenticate(
    factory: sessionmaker[Session], token: str, now: datetime
) -> Principal:
    """Return the principal of a bearer token.

    Raises
    ------
    AuthError
        If the token is unknown or expired.
    """
    with factory() as session:
        row = session.execute(
            select(Oa3Token, Oa3Client)
            .join(Oa3Client, Oa3Client.client_id == Oa3Token.client_id)
            .where(Oa3Token.token_sha256 == _digest(token))
        ).first()
    if row is None or row[0].expires_at <= now:
        raise AuthError(
            "the bearer token is unknown or expired: fetch a new one from the "
            "token endpoint",
            field="Authorization",
        )
    token_row, client = row
    return Principal(
        client.client_id,
        client.role,
        frozenset(token_row.scopes.split()),
        client.site_id,
    )


def ven_targets(session: Session, principal: Principal) -> set[str]:
    """Return the names and targets of the principal's own VENs."""
    rows = session.scalars(
        select(Oa3Object).where(
            Oa3Object.object_type == "VEN", Oa3Object.client_id == principal.client_id
        )
    )
    found: set[str] = set()
    for row in rows:
        found.update(row.targets)
        if row.name:
            found.add(row.name)
    return found


def may_read(row: Oa3Object, principal: Principal, targets: set[str]) -> bool:
    """Decide whether ``principal`` may read ``row`` under object privacy."""
    if "read_all" in principal.scopes:
        return True
    if row.object_type in OWNED_TYPES:
        return row.client_id == principal.client_id
    return not row.targets or bool(targets.intersection(row.targets))


def new_object(
    object_type: str,
    principal: Principal,
    body: dict[str, Any],
    now: datetime,
    *,
    name: str | None,
    links: dict[str, str | None],
) -> Oa3Object:
    """Build a stored object with its server-set fields in the body."""
    object_id = str(uuid.uuid4())
    body = dict(body)
    body.update(
        id=object_id,
        objectType=object_type,
        createdDateTime=format_instant(now),
        modificationDateTime=format_instant(now),
    )
    if object_type in OWNED_TYPES:
        body["clientID"] = principal.client_id
    return Oa3Object(
        id=object_id,
        object_type=object_type,
        client_id=principal.client_id,
        name=name,
        program_id=links.get("program_id"),
        event_id=links.get("event_id"),
        ven_id=links.get("ven_id"),
        targets=list(body.get("targets") or []),
        body=body,
        created_at=now,
        modified_at=now,
    )


def opted_out(report: dict[str, Any]) -> bool:
    """Decide whether a report states an opted-out OPERATING_STATE."""
    for resource in report.get("resources") or []:
        for interval in resource.get("intervals") or []:
            for payload in interval.get("payloads") or []:
                if payload.get("type") != "OPERATING_STATE":
                    continue
                if any(
                    value in OPTED_OUT_STATES for value in payload.get("values", [])
                ):
                    return True
    return False


def record_opt_out(
    factory: sessionmaker[Session], event_id: int, site_id: int, now: datetime
) -> str:
    """Store a VEN's opt-out of a coflex event as an override; return its status.

    A running event takes it through the override inbox, so that the runner
    releases the site's devices within its next step. Before the start it is
    stored as a pending override, which the runner honours at its first step.

    Raises
    ------
    NotFoundError
        If the site takes no part in the event.
    RuleViolation
        If the event has finished or was declined or cancelled.
    """
    with factory() as session:
        event = session.get(Event, event_id)
        status = event.status if event is not None else None
    if status == "running":
        result = override_inbox.request_override(
            factory, event_id, site_id, account_id=None, channel="openadr3", now=now
        )
        return result.status
    if status not in BEFORE_START:
        raise RuleViolation(
            f"event {event_id} is {status}: an opt-out applies only before or "
            "while the event runs",
            value=status,
            field="eventID",
        )
    with transaction(factory) as session:
        part = session.scalar(
            select(Participation.id).where(
                Participation.event_id == event_id, Participation.site_id == site_id
            )
        )
        if part is None:
            raise NotFoundError(
                f"site {site_id} takes no part in event {event_id}: nothing to opt "
                "out of",
                value=site_id,
                field="eventID",
            )
        existing = session.scalar(
            select(PendingOverride).where(
                PendingOverride.event_id == event_id,
                PendingOverride.site_id == site_id,
            )
        )
        if existing is not None:
            return existing.status
        session.add(
            PendingOverride(
                event_id=event_id,
                site_id=site_id,
                account_id=None,
                channel="openadr3",
                requested_at=now,
                status="pending",
            )
        )
    logger.info("OpenADR 3 opt-out stored for event %s", event_id)
    return "pending"


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as an ISO 8601 duration in hours, minutes and seconds."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S"


def publish_event(
    factory: sessionmaker[Session],
    coflex_event_id: int,
    program_object_id: str,
    *,
    level: int = 1,
    now: datetime | None = None,
) -> Oa3Object:
    """Publish a coflex event as an OpenADR 3.1 SIMPLE event to its sites' VENs.

    The event targets the VENs of the clients whose sites take part, so no
    other VEN can read it; its ``createdDateTime`` is the publication time, and
    ``intervalPeriod.start`` minus it is the notice the VENs get.
    """
    now = now or datetime.now(UTC)
    with transaction(factory) as session:
        event = session.get(Event, coflex_event_id)
        if event is None:
            raise NotFoundError(
                f"coflex event {coflex_event_id} not found", value=coflex_event_id
            )
        sites = select(Participation.site_id).where(
            Participation.event_id == coflex_event_id
        )
        clients = select(Oa3Client.client_id).where(Oa3Client.site_id.in_(sites))
        names = session.scalars(
            select(Oa3Object.name).where(
                Oa3Object.object_type == "VEN", Oa3Object.client_id.in_(clients)
            )
        ).all()
        body = {
            "programID": program_object_id,
            "eventName": f"coflex-event-{coflex_event_id}",
            "intervalPeriod": {
                "start": format_instant(event.start),
                "duration": format_duration((event.end - event.start).total_seconds()),
            },
            "intervals": [
                {"id": 0, "payloads": [{"type": "SIMPLE", "values": [level]}]}
            ],
            "targets": sorted(name for name in names if name),
        }
        publisher = Principal("coflex", "bl", frozenset(ROLE_SCOPES["bl"]), None)
        row = new_object(
            "EVENT",
            publisher,
            body,
            now,
            name=body["eventName"],
            links={"program_id": program_object_id},
        )
        row.coflex_event_id = coflex_event_id
        session.add(row)
        session.flush()
        session.expunge(row)
    logger.info(
        "coflex event %s published as OpenADR event %s", coflex_event_id, row.id
    )
    return row

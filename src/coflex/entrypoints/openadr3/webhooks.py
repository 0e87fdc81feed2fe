"""Webhook subscriptions of the OpenADR 3.1 VTN: callback checks and notifications.

A subscription's callback URL is checked before it is stored: it must use
HTTPS (plain HTTP only to a loopback address, and only when the VTN is told
to allow it for tests), must not point at a private or link-local address,
and must answer ``GET <callbackUrl>?echo=<random>`` with the random value.
Notifications are POSTed in a background thread, with up to three attempts,
no redirects, and a 10 s timeout; each delivery is recorded.

References
----------
OpenADR Alliance, "OpenADR 3.1.0 User Guide": webhook callbacks, the echo
challenge, HTTPS and SSRF guidance.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models_openadr import Oa3Delivery, Oa3Object
from coflex.errors import InputError
from coflex.services.openadr3_vtn import Principal, may_read, ven_targets

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0
ATTEMPTS = 3
BACKOFF_S = 1.0


@dataclass(frozen=True)
class CallbackPolicy:
    """Where notifications may go.

    ``allow_loopback`` admits 127.0.0.1 and ``::1`` (and plain HTTP to them),
    for tests that run the receiver on the same machine; production keeps it
    off, as the specification's SSRF guidance requires. ``ca_file`` verifies the
    receivers' TLS certificates; None uses the system's authorities.
    """

    allow_loopback: bool = False
    ca_file: str | None = None

    def client(self) -> httpx.Client:
        verify: ssl.SSLContext | bool = True
        if self.ca_file:
            verify = ssl.create_default_context(cafile=self.ca_file)
        return httpx.Client(verify=verify, timeout=TIMEOUT_S, follow_redirects=False)


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        infos = socket.getaddrinfo(host, None)
        return [ipaddress.ip_address(info[4][0]) for info in infos]


def check_callback(url: str, policy: CallbackPolicy) -> None:
    """Reject a callback URL that breaks the HTTPS or address rules.

    Raises
    ------
    InputError
        If the scheme, host or address is not allowed.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = _addresses(host)
    except OSError as exc:
        raise InputError(
            f"callback host {host!r} does not resolve: give a reachable HTTPS URL",
            value=url,
            field="callbackUrl",
        ) from exc
    loopback = bool(addresses) and all(a.is_loopback for a in addresses)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise InputError(
            f"callback {url!r} is not HTTPS: the VTN sends notifications only "
            "over HTTPS",
            value=url,
            field="callbackUrl",
        )
    for address in addresses:
        private = address.is_private or address.is_link_local or address.is_loopback
        if private and not (address.is_loopback and policy.allow_loopback):
            raise InputError(
                f"callback {url!r} points at the private address {address}: "
                "give a public HTTPS URL",
                value=url,
                field="callbackUrl",
            )


def verify_echo(url: str, policy: CallbackPolicy) -> None:
    """Send the echo challenge to ``url``; raise InputError unless it comes back."""
    challenge = secrets.token_urlsafe(16)
    try:
        with policy.client() as client:
            reply = client.get(url, params={"echo": challenge})
    except httpx.HTTPError as exc:
        raise InputError(
            f"callback {url!r} did not respond to the echo challenge ({exc}): "
            "start the receiver before subscribing",
            value=url,
            field="callbackUrl",
        ) from exc
    if reply.status_code != 200 or challenge not in reply.text:
        raise InputError(
            f"callback {url!r} responded to the echo challenge with HTTP "
            f"{reply.status_code} and without the challenge value: return the "
            "'echo' query value in the body",
            value=url,
            field="callbackUrl",
        )


class Notifier:
    """Sends notifications of object changes to matching subscriptions.

    NOTE: notifications are sent from a daemon thread, not a durable outbox; a
    notification still unsent when the process stops is lost, and one that
    fails three times is only recorded.
    """

    def __init__(self, factory: sessionmaker[Session], policy: CallbackPolicy) -> None:
        self.factory = factory
        self.policy = policy

    def object_changed(self, row: Oa3Object, operation: str) -> None:
        """Queue notifications of ``operation`` on ``row`` for every subscriber."""
        with self.factory() as session:
            jobs = self._matching(session, row, operation)
        if jobs:
            threading.Thread(target=self._send_all, args=(jobs,), daemon=True).start()

    def _matching(
        self, session: Session, row: Oa3Object, operation: str
    ) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        jobs = []
        subscriptions = session.scalars(
            select(Oa3Object).where(Oa3Object.object_type == "SUBSCRIPTION")
        )
        for subscription in subscriptions:
            program = subscription.body.get("programID")
            if program and program not in (row.program_id, row.id):
                continue
            reader = _subscriber(session, subscription)
            if reader is None or not may_read(
                row, reader, ven_targets(session, reader)
            ):
                continue
            for operation_spec in subscription.body.get("objectOperations", []):
                if row.object_type in operation_spec.get("objects", []) and (
                    operation in operation_spec.get("operations", [])
                ):
                    jobs.append(
                        (subscription.id, operation_spec, _message(row, operation))
                    )
        return jobs

    def _send_all(self, jobs: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        with self.policy.client() as client:
            for subscription_id, spec, message in jobs:
                self._send(client, subscription_id, spec, message)

    def _send(
        self,
        client: httpx.Client,
        subscription_id: str,
        spec: dict[str, Any],
        message: dict[str, Any],
    ) -> None:
        headers = {}
        if spec.get("bearerToken"):
            headers["Authorization"] = f"Bearer {spec['bearerToken']}"
        status, error, attempts = None, None, 0
        for attempts in range(1, ATTEMPTS + 1):
            try:
                reply = client.post(spec["callbackUrl"], json=message, headers=headers)
                status, error = reply.status_code, None
                if reply.is_success:
                    break
            except httpx.HTTPError as exc:
                error = str(exc)[:300]
            time.sleep(BACKOFF_S * attempts)
        delivered = status is not None and 200 <= status < 300
        if not delivered:
            logger.warning(
                "notification for subscription %s failed after %d attempts: %s",
                subscription_id,
                attempts,
                error or status,
            )
        with transaction(self.factory) as session:
            session.add(
                Oa3Delivery(
                    subscription_id=subscription_id,
                    object_type=message["objectType"],
                    operation=message["operation"],
                    object_id=message["object"]["id"],
                    callback_url=spec["callbackUrl"],
                    status_code=status,
                    attempts=attempts,
                    error=error,
                    created_at=datetime.now(UTC),
                    delivered_at=datetime.now(UTC) if delivered else None,
                )
            )


def _subscriber(session: Session, subscription: Oa3Object) -> Principal | None:
    from coflex.adapters.store.models_openadr import Oa3Client
    from coflex.services.openadr3_vtn import ROLE_SCOPES

    client = session.scalar(
        select(Oa3Client).where(Oa3Client.client_id == subscription.client_id)
    )
    if client is None:
        return None
    scopes = frozenset(ROLE_SCOPES[client.role])
    return Principal(client.client_id, client.role, scopes, client.site_id)


def _message(row: Oa3Object, operation: str) -> dict[str, Any]:
    return {
        "objectType": row.object_type,
        "operation": operation,
        "object": row.body,
        "targets": row.targets,
    }

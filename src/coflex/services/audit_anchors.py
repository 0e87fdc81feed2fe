"""Signed checkpoints of the audit log, kept in a file outside the database.

The hash chain in :mod:`coflex.services.audit` shows an edited or deleted row
inside the chain. A log cut short at the end still verifies, though, and so
does a log whose rows were rewritten and re-hashed from the first changed row.
An anchor fixes the chain at one point in time: the sequence number and hash
of the head row, the time, and an Ed25519 signature over the three, made with
the aggregator's signing key (:mod:`coflex.adapters.signing`). Anchors are
appended, one JSON object a line, to a file that lives outside the database,
ideally on another host or write-once storage, so that whoever can change
the database cannot also change the anchors.

Verification against the anchors then finds three things the chain alone
cannot show:

- a deleted tail: an anchor names a sequence number the log no longer has;
- a rewritten row: the log's hash at an anchored sequence number differs from
  the signed one, so a row at or before it changed since the anchor;
- a forged anchor: a line whose signature does not verify with the filed
  public key.

References
----------
NIST SP 800-92, *Guide to Computer Security Log Management* (2006), section
4.2: protect log integrity, e.g. with message digests kept apart from the logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters import signing
from coflex.adapters.store.models_governance import AuditEntry
from coflex.errors import CoflexError, InputError
from coflex.services import audit

logger = logging.getLogger(__name__)

ANCHOR_VERSION = 1
ANCHORS_ENV = "COFLEX_AUDIT_ANCHORS"
INTERVAL_ENV = "COFLEX_AUDIT_ANCHOR_INTERVAL_S"
DEFAULT_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint of the audit log's head."""

    seq: int
    head_hash: str
    anchored_at: str
    key_sha256: str
    signature: str

    def signed_fields(self) -> dict[str, Any]:
        return {
            "version": ANCHOR_VERSION,
            "seq": self.seq,
            "head_hash": self.head_hash,
            "anchored_at": self.anchored_at,
            "key_sha256": self.key_sha256,
        }

    def line(self) -> str:
        fields = {**self.signed_fields(), "signature": self.signature}
        return audit.canonical_json(fields)


@dataclass(frozen=True)
class Finding:
    """One problem found by checking the log against its anchors.

    ``kind`` is one of ``tail_deleted``, ``row_rewritten``, ``anchor_forged``,
    ``anchor_unreadable`` and ``chain_broken``; ``seq`` is the sequence number
    the finding is about (the anchored one for anchor findings).
    """

    kind: str
    seq: int | None
    message: str


@dataclass(frozen=True)
class AnchorCheck:
    """The result of verifying the audit log against an anchors file."""

    chain: audit.ChainReport
    anchors_checked: int
    findings: list[Finding]

    @property
    def intact(self) -> bool:
        return not self.findings


def _sign(key: Ed25519PrivateKey, seq: int, head_hash: str, at: datetime) -> Anchor:
    fingerprint = signing.fingerprint(key.public_key())
    unsigned = Anchor(seq, head_hash, audit.iso(at) or "", fingerprint, "")
    message = audit.canonical_json(unsigned.signed_fields()).encode("utf-8")
    signature = base64.b64encode(key.sign(message)).decode("ascii")
    return Anchor(seq, head_hash, unsigned.anchored_at, fingerprint, signature)


def _append_line(path: Path, line: str) -> None:
    # O_APPEND: every write lands at the end, even with two writers at once.
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _check_location(session: Session, path: Path) -> None:
    database = session.get_bind().url.database
    if database and Path(database).resolve() == path.resolve():
        raise InputError(
            f"anchors file {path} is the database itself: keep anchors in a "
            "separate file, ideally on another host or write-once storage",
            value=str(path),
            field="anchors",
        )


def write_anchor(
    session: Session, path: Path, key: Ed25519PrivateKey, at: datetime
) -> Anchor:
    """Verify the log, then append a signed anchor of its head to ``path``.

    Raises
    ------
    InputError
        If the chain is broken, or the log no longer matches an earlier anchor
        in ``path``: anchoring a tampered log would hide the tampering.
    """
    _check_location(session, path)
    public = key.public_key()
    check = verify_with_anchors(session, path, public) if path.exists() else None
    report = check.chain if check is not None else audit.verify(session)
    if check is not None and check.findings:
        first = check.findings[0]
        raise InputError(
            f"not anchored: {first.message}; investigate before anchoring again",
            value=first.seq,
            field="anchors",
        )
    if not report.intact:
        raise InputError(
            f"not anchored: the audit log is broken at seq {report.broken_seq} "
            f"({report.problem}); investigate before anchoring",
            value=report.broken_seq,
            field="anchors",
        )
    anchor = _sign(key, report.head_seq, report.head_hash, at)
    _append_line(path, anchor.line())
    logger.info("audit log anchored at seq %d", anchor.seq)
    return anchor


def _parse(line: str) -> Anchor:
    fields = json.loads(line)
    if not isinstance(fields, dict) or fields.get("version") != ANCHOR_VERSION:
        raise ValueError(f"not a version {ANCHOR_VERSION} anchor")
    return Anchor(
        seq=int(fields["seq"]),
        head_hash=str(fields["head_hash"]),
        anchored_at=str(fields["anchored_at"]),
        key_sha256=str(fields["key_sha256"]),
        signature=str(fields["signature"]),
    )


def read_anchors(path: Path) -> Iterator[tuple[int, Anchor | str]]:
    """Yield ``(line number, anchor)``, or the parse error for a bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot read anchors file {path} ({exc.strerror}): check the path",
            value=str(path),
            field="anchors",
        ) from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, _parse(line)
        except (ValueError, KeyError, TypeError) as exc:
            yield number, str(exc)


def _signature_valid(anchor: Anchor, key: Ed25519PublicKey) -> bool:
    if anchor.key_sha256 != signing.fingerprint(key):
        return False
    try:
        signature = base64.b64decode(anchor.signature, validate=True)
    except binascii.Error:
        return False
    message = audit.canonical_json(anchor.signed_fields()).encode("utf-8")
    return signing.verify_signature(key, signature, message)


def _trusted_anchors(
    path: Path, key: Ed25519PublicKey
) -> tuple[list[Anchor], list[Finding]]:
    anchors, findings = [], []
    for number, item in read_anchors(path):
        if isinstance(item, str):
            findings.append(
                Finding(
                    "anchor_unreadable",
                    None,
                    f"line {number} of {path} is not an anchor ({item})",
                )
            )
        elif not _signature_valid(item, key):
            findings.append(
                Finding(
                    "anchor_forged",
                    item.seq,
                    f"anchor for seq {item.seq} on line {number} does not verify "
                    "with the filed public key: it was forged or altered",
                )
            )
        else:
            anchors.append(item)
    return anchors, findings


def _anchor_finding(
    session: Session, anchor: Anchor, previous_seq: int, head_seq: int
) -> Finding | None:
    if anchor.seq == 0:
        return None
    if anchor.seq > head_seq:
        return Finding(
            "tail_deleted",
            anchor.seq,
            f"rows {head_seq + 1} to {anchor.seq} are missing: the log ends at "
            f"seq {head_seq} but was anchored at seq {anchor.seq} on "
            f"{anchor.anchored_at}, so its tail was deleted",
        )
    row_hash = session.scalar(
        select(AuditEntry.row_hash).where(AuditEntry.seq == anchor.seq)
    )
    if row_hash == anchor.head_hash:
        return None
    return Finding(
        "row_rewritten",
        anchor.seq,
        f"the hash at seq {anchor.seq} differs from its anchor of "
        f"{anchor.anchored_at}: a row from seq {previous_seq + 1} to "
        f"{anchor.seq} was rewritten after it was anchored",
    )


def verify_with_anchors(
    session: Session, path: Path, key: Ed25519PublicKey
) -> AnchorCheck:
    """Verify the hash chain and check it against every anchor in ``path``.

    Parameters
    ----------
    path
        The anchors file that :func:`write_anchor` appends to.
    key
        The aggregator's filed public key. A key taken from the anchors file
        itself would prove nothing, because a forger can sign with their own.
    """
    chain = audit.verify(session)
    anchors, findings = _trusted_anchors(path, key)
    if not chain.intact:
        findings.insert(
            0,
            Finding(
                "chain_broken",
                chain.broken_seq,
                f"the chain is broken at seq {chain.broken_seq}: {chain.problem}",
            ),
        )
    head_seq = _stored_head_seq(session)
    previous_seq = 0
    for anchor in sorted(anchors, key=lambda item: item.seq):
        finding = _anchor_finding(session, anchor, previous_seq, head_seq)
        if finding is not None:
            findings.append(finding)
        previous_seq = anchor.seq
    return AnchorCheck(chain, len(anchors), findings)


def _stored_head_seq(session: Session) -> int:
    seq = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()))
    return int(seq or 0)


def configured_anchoring() -> tuple[Path, Ed25519PrivateKey] | None:
    """Return the anchors file and signing key when ``COFLEX_AUDIT_ANCHORS`` is set.

    Long-running work (the demo, event runs) calls this before it stores
    anything, then :func:`write_anchor` at its milestones.

    Raises
    ------
    KeyConfigError
        If an anchors file is set but no signing key is configured.
    """
    target = os.environ.get(ANCHORS_ENV)
    if not target:
        logger.info("audit anchoring is off: set %s to an anchors file", ANCHORS_ENV)
        return None
    return Path(target), signing.load_private_key()


class AnchorSchedule(threading.Thread):
    """A daemon thread that anchors the log every ``interval_s`` seconds.

    ``coflex serve`` runs one while ``COFLEX_AUDIT_ANCHORS`` is set. A failed
    anchor (a broken or truncated log, an unreachable database) is logged as
    an error and tried again at the next interval.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        anchoring: tuple[Path, Ed25519PrivateKey],
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        super().__init__(name="audit-anchors", daemon=True)
        self.factory = factory
        self.path, self.key = anchoring
        self.interval_s = interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                with self.factory() as session:
                    write_anchor(session, self.path, self.key, datetime.now(UTC))
            except (CoflexError, SQLAlchemyError, OSError):
                logger.exception("audit anchor to %s failed", self.path)
            self.stopped.wait(self.interval_s)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def start_schedule(
    factory: sessionmaker[Session], anchoring: tuple[Path, Ed25519PrivateKey] | None
) -> AnchorSchedule | None:
    """Start anchoring every ``COFLEX_AUDIT_ANCHOR_INTERVAL_S`` (default 3600 s)."""
    if anchoring is None:
        return None
    raw = os.environ.get(INTERVAL_ENV, str(DEFAULT_INTERVAL_S))
    try:
        interval_s = float(raw)
    except ValueError:
        interval_s = -1.0
    if interval_s <= 0:
        raise InputError(
            f"{INTERVAL_ENV}={raw!r} is not a positive number of seconds: "
            "set e.g. 3600",
            value=raw,
            field=INTERVAL_ENV,
        )
    schedule = AnchorSchedule(factory, anchoring, interval_s)
    schedule.start()
    return schedule

"""Tables of regulator record requests and the signed bundles built for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from coflex.adapters.store.models import Base, UtcDateTime


class RecordRequest(Base):
    """A regulator's request for the records of a customer, an event or a range.

    The bundle is built when the request arrives and kept as a ZIP archive of
    the signed bundle folder (manifest, signature, public key and records).
    NOTE: the retention purge does not delete these archives, so they keep
    the personal records they contain.
    """

    __tablename__ = "record_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(64))
    scope: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(300))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    files: Mapped[int] = mapped_column(Integer)
    records: Mapped[int] = mapped_column(Integer)
    signing_key_sha256: Mapped[str] = mapped_column(String(64))
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    bundle_zip: Mapped[bytes] = mapped_column(LargeBinary)

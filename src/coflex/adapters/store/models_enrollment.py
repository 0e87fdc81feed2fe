"""Tables of enrollment: claims, material, sales, documents and the contract record.

Every contract change is a row in ``contract_transitions``; acceptance keeps
its consent evidence; documents are kept whole (zlib-compressed HTML) with
their SHA-256 and the hash of the operational parameters they state.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from coflex.adapters.store.crypto import EncryptedText
from coflex.adapters.store.models import Base, UtcDateTime


class ContractTransition(Base):
    """One change of a contract's status, append-only."""

    __tablename__ = "contract_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The customer's name for their own actions, so stored encrypted.
    actor: Mapped[str] = mapped_column(EncryptedText())
    detail: Mapped[str | None] = mapped_column(String(300))


class EnrollmentDocument(Base):
    """A proposal, Key Facts, contract terms or final statement, as issued."""

    __tablename__ = "enrollment_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("contracts.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    content_hash: Mapped[str] = mapped_column(String(64))
    parameters_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    body_zlib: Mapped[bytes] = mapped_column(LargeBinary)
    details: Mapped[dict | None] = mapped_column(JSON)


class ContractOffer(Base):
    """The offer: its three documents and how long it is valid."""

    __tablename__ = "contract_offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), unique=True)
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime())
    offered_by: Mapped[str] = mapped_column(String(200))
    proposal_id: Mapped[int] = mapped_column(ForeignKey("enrollment_documents.id"))
    key_facts_id: Mapped[int] = mapped_column(ForeignKey("enrollment_documents.id"))
    terms_id: Mapped[int] = mapped_column(ForeignKey("enrollment_documents.id"))


class ContractAcceptance(Base):
    """The customer's explicit consent to the contract, with its evidence."""

    __tablename__ = "contract_acceptances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), unique=True)
    accepted_by: Mapped[str] = mapped_column(EncryptedText())
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    channel: Mapped[str] = mapped_column(String(16))
    ip_address: Mapped[str | None] = mapped_column(EncryptedText())
    user_agent: Mapped[str | None] = mapped_column(String(300))
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    document_hashes: Mapped[dict] = mapped_column(JSON)
    cooling_off_rule: Mapped[str] = mapped_column(String(200))


class ContractAmendment(Base):
    """A notified change of terms, effective no earlier than 30 days later."""

    __tablename__ = "contract_amendments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    terms: Mapped[dict] = mapped_column(JSON)
    terms_hash: Mapped[str] = mapped_column(String(64))
    notified_at: Mapped[datetime] = mapped_column(UtcDateTime())
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))  # notified, applied, lapsed
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ContractTermination(Base):
    """The end of a contract: release of devices, final statement, retention."""

    __tablename__ = "contract_terminations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), unique=True)
    terminated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    requested_by: Mapped[str] = mapped_column(EncryptedText())
    reason: Mapped[str] = mapped_column(String(300))
    exit_fee: Mapped[float] = mapped_column(Float)
    devices_released_at: Mapped[datetime] = mapped_column(UtcDateTime())
    final_statement_id: Mapped[int] = mapped_column(
        ForeignKey("enrollment_documents.id")
    )
    retain_until: Mapped[date] = mapped_column(Date)


class ClaimRecord(Base):
    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text)
    assumptions: Mapped[str] = mapped_column(Text)
    population: Mapped[str] = mapped_column(String(300))
    as_of: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    risk_statement: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawn_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Material(Base):
    """A version of an advert, sales script or web page."""

    __tablename__ = "materials"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # draft, published, withdrawn
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawn_reason: Mapped[str | None] = mapped_column(String(300))


class MaterialClaim(Base):
    __tablename__ = "material_claims"

    material_id: Mapped[int] = mapped_column(
        ForeignKey("materials.id"), primary_key=True
    )
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), primary_key=True)


class SalesRepresentative(Base):
    """A person who sells for the aggregator, as staff or for a third party."""

    __tablename__ = "sales_representatives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    employer: Mapped[str] = mapped_column(String(200))
    third_party: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The user account the representative signs in with, role
    # sales_representative; and for a third party, the agreement under which
    # it sells on the aggregator's behalf.
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), unique=True
    )
    agreement_ref: Mapped[str | None] = mapped_column(String(200))


class SalesTraining(Base):
    __tablename__ = "sales_trainings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    representative_id: Mapped[int] = mapped_column(
        ForeignKey("sales_representatives.id"), index=True
    )
    course: Mapped[str] = mapped_column(String(200))
    completed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    certified_by: Mapped[str] = mapped_column(String(200))


class ContactFlag(Base):
    """A customer's request not to be contacted for sales."""

    __tablename__ = "contact_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    set_at: Mapped[datetime] = mapped_column(UtcDateTime())
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(String(300))


class SalesInteraction(Base):
    """One contact with a customer: who, how, what was shown, said and answered."""

    __tablename__ = "sales_interactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    representative_id: Mapped[int] = mapped_column(
        ForeignKey("sales_representatives.id"), index=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    material_id: Mapped[int | None] = mapped_column(ForeignKey("materials.id"))
    material_hash: Mapped[str | None] = mapped_column(String(64))
    told: Mapped[str] = mapped_column(Text)
    answered: Mapped[str] = mapped_column(Text)
    sale: Mapped[bool] = mapped_column(Boolean)


class ProgramOfferRecord(Base):
    """A program's commercial offer (fees, incentive, parties), as quoted."""

    __tablename__ = "program_offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), unique=True)
    offer: Mapped[dict] = mapped_column(JSON)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SiteServicePoint(Base):
    """The utility meter or service-point id of a site, normalised."""

    __tablename__ = "site_service_points"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    service_point_id: Mapped[str] = mapped_column(String(64), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OtherEnrollmentDeclaration(Base):
    """A customer's declaration that a site is enrolled with another provider."""

    __tablename__ = "other_enrollment_declarations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    provider: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(64))
    program: Mapped[str] = mapped_column(String(200))
    declared_at: Mapped[datetime] = mapped_column(UtcDateTime())
    declared_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DualEnrollmentFlag(Base):
    """A site enrolled with another provider for the same service."""

    __tablename__ = "dual_enrollment_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    source: Mapped[str] = mapped_column(String(16))  # declaration, service_point
    other_provider: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(String(300))
    flagged_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(String(300))

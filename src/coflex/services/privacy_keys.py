"""Rotation of the data keys that encrypt personal data at rest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store import crypto
from coflex.adapters.store.database import transaction
from coflex.services import audit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rotation:
    """The outcome of a key rotation."""

    rows_reencrypted: int
    key_file: Path | None
    keys_kept: int


def rotate_keys(
    factory: sessionmaker[Session],
    *,
    actor: str,
    at: datetime,
    new_key: bool = True,
    drop_old: bool = False,
) -> Rotation:
    """Re-encrypt every personal-data value under the first data key.

    With keys in a key file and ``new_key``, a new key is written first in the
    file (the old ones stay, so the stored rows still decrypt) before any row
    changes. With keys in ``COFLEX_DATA_KEYS`` the operator puts the new key
    first in the variable, and this re-encrypts with it. With ``drop_old`` the
    older keys are removed from the key file once the rows are re-encrypted.
    The email lookup hashes are recomputed under the new lookup key.

    Raises
    ------
    KeyConfigError
        If no key is configured, or a stored value does not decrypt.
    """
    crypto.load_keyring()
    path = None if crypto.keys_from_environment() else crypto.key_path()
    if path is not None and new_key:
        crypto.add_new_key(path)

    with transaction(factory) as session:
        connection = session.connection()
        rows = crypto.transform_stored(connection, crypto.reencrypt)
        crypto.rehash_emails(connection)
        keyring = crypto.load_keyring()
        audit.append(
            session,
            [
                audit.AuditRecord(
                    at=at,
                    action="data_key_rotated",
                    subject="data_keys",
                    details={"rows": rows, "keys": keyring.key_count},
                    actor=actor[:64],
                )
            ],
        )

    kept = crypto.load_keyring().key_count
    if path is not None and drop_old and kept > 1:
        primary = crypto.read_keys(path)[:1]
        crypto.write_key_file(path, primary)
        kept = 1
    logger.info("data keys rotated: %d rows re-encrypted, %d keys kept", rows, kept)
    return Rotation(rows, path, kept)

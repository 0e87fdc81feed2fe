"""Encryption at rest of personal data: Fernet keys kept outside the database.

Names, postal addresses, email addresses, phone numbers and the IP address of
a contract acceptance (the columns in ``ENCRYPTED_COLUMNS``) are stored as
Fernet tokens (AES-128-CBC with HMAC-SHA256, from the ``cryptography``
package). The keys come from
``COFLEX_DATA_KEYS`` (comma-separated Fernet keys, newest first), else from
the key file named by ``COFLEX_DATA_KEY_FILE``, else from ``data-keys`` in the
user's configuration folder. Every key in the list decrypts (MultiFernet);
only the first encrypts, so a new key goes first and
``coflex privacy rotate-key`` re-encrypts the stored rows with it.

Columns that need an equality lookup (a customer's email address, for
sign-in) keep beside the token an HMAC-SHA256 of the normalised value, under a
lookup key derived from the first Fernet key with HKDF. The lookup hashes are
recomputed whenever the rows are re-encrypted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from platformdirs import user_config_dir
from sqlalchemy import Text, TypeDecorator
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.default import DefaultExecutionContext

from coflex.adapters.signing import inside_repository
from coflex.errors import KeyConfigError

KEYS_ENV = "COFLEX_DATA_KEYS"
KEY_FILE_ENV = "COFLEX_DATA_KEY_FILE"
_LOOKUP_INFO = b"coflex lookup hash v1"

# Personal-data columns stored encrypted: rotation and the privacy_0001
# migration walk this list.
ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("name", "email", "phone", "postal_address"),
    "accounts": ("display_name",),
    "contract_transitions": ("actor",),
    "contract_acceptances": ("accepted_by", "ip_address"),
    "contract_terminations": ("requested_by",),
}


@dataclass(frozen=True)
class Keyring:
    """The configured data keys: all decrypt, the first encrypts."""

    fernet: MultiFernet
    lookup_key: bytes
    source: str
    key_count: int


def default_key_path() -> Path:
    """Return the key file used when neither environment variable is set."""
    return Path(user_config_dir("coflex")) / "data-keys"


def key_path() -> Path:
    """Return the key file that applies: ``COFLEX_DATA_KEY_FILE`` or the default."""
    configured = os.environ.get(KEY_FILE_ENV)
    return Path(configured).expanduser() if configured else default_key_path()


def _parse_keys(text: str, source: str) -> list[bytes]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    keys = [part.strip() for line in lines for part in line.split(",")]
    keys = [k for k in keys if k]
    if not keys:
        raise KeyConfigError(
            f"{source} contains no data key: create one with `coflex privacy keygen`",
            field="key",
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError as exc:
            raise KeyConfigError(
                f"key {position} in {source} is not a Fernet key (32 url-safe "
                "base64-encoded bytes): create one with `coflex privacy keygen`",
                field="key",
            ) from exc
    return [k.encode("ascii") for k in keys]


def _lookup_key(primary: bytes) -> bytes:
    derive = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LOOKUP_INFO)
    return derive.derive(primary)


def _check_outside_repository(path: Path) -> None:
    repository = inside_repository(path)
    if repository is not None:
        raise KeyConfigError(
            f"data key file {path} is inside the repository {repository}: move it "
            "outside, e.g. to ~/.config/coflex/, so that it is never committed",
            value=str(path),
            field="key",
        )


def _read_key_file(path: Path) -> str:
    _check_outside_repository(path)
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyConfigError(
            f"no data encryption key: set {KEYS_ENV}, or create the key file "
            f"{path} with `coflex privacy keygen` (`coflex demo` creates it too)",
            value=str(path),
            field="key",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyConfigError(
            f"cannot read data key file {path} ({exc}): check its path and permissions",
            value=str(path),
            field="key",
        ) from exc


_cache: dict[tuple[str, str, int], Keyring] = {}


def load_keyring() -> Keyring:
    """Load the data keys from the environment or the key file.

    Raises
    ------
    KeyConfigError
        If no key is configured, the key file is unreadable or inside a Git
        work tree, or a key is not a Fernet key.
    """
    from_env = os.environ.get(KEYS_ENV, "")
    path = key_path()
    try:
        stamp = 0 if from_env else path.stat().st_mtime_ns
    except OSError:
        stamp = -1
    cache_key = (from_env, str(path), stamp)
    if cache_key in _cache:
        return _cache[cache_key]

    if from_env:
        keys, source = _parse_keys(from_env, KEYS_ENV), KEYS_ENV
    else:
        keys, source = _parse_keys(_read_key_file(path), str(path)), str(path)
    keyring = Keyring(
        MultiFernet([Fernet(k) for k in keys]), _lookup_key(keys[0]), source, len(keys)
    )
    _cache.clear()
    _cache[cache_key] = keyring
    return keyring


def keys_from_environment() -> bool:
    """Tell whether the keys come from ``COFLEX_DATA_KEYS`` rather than a file."""
    return bool(os.environ.get(KEYS_ENV))


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Write ``keys`` (newest first) to ``path`` with mode 0600, replacing it whole."""
    _check_outside_repository(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write("# coflex data keys, newest first; keep a backup offline\n")
        handle.write("\n".join(k.decode("ascii") for k in keys) + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def ensure_key_file() -> Path | None:
    """Create the key file with one new key unless keys are already configured.

    Returns the path created, or None when a key was already configured.
    """
    if keys_from_environment():
        return None
    path = key_path()
    if path.exists():
        return None
    write_key_file(path, [Fernet.generate_key()])
    return path


def read_keys(path: Path) -> list[bytes]:
    """Return the keys of a key file, newest first."""
    return _parse_keys(_read_key_file(path), str(path))


def add_new_key(path: Path) -> list[bytes]:
    """Put a new key first in the key file, keeping the old ones; return all keys."""
    keys = [Fernet.generate_key(), *read_keys(path)]
    write_key_file(path, keys)
    return keys


def encrypt(value: str) -> str:
    """Return the Fernet token of ``value`` under the first data key."""
    token = load_keyring().fernet.encrypt(value.encode("utf-8"))
    return token.decode("ascii")


def decrypt(token: str) -> str:
    """Return the plain text of a Fernet token.

    Raises
    ------
    KeyConfigError
        If none of the configured keys decrypts the token.
    """
    keyring = load_keyring()
    try:
        return keyring.fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise KeyConfigError(
            f"a stored value does not decrypt with the {keyring.key_count} key(s) "
            f"from {keyring.source}: add the key that encrypted it (older keys "
            "stay in the list after a rotation)",
            field="key",
        ) from exc


def reencrypt(token: str) -> str:
    """Return ``token`` re-encrypted under the first data key."""
    keyring = load_keyring()
    try:
        return keyring.fernet.rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise KeyConfigError(
            f"a stored value does not decrypt with the keys from {keyring.source}: "
            "add the key that encrypted it before rotating",
            field="key",
        ) from exc


def normalise_email(email: str) -> str:
    return email.strip().lower()


def lookup_hash(email: str | None) -> str | None:
    """Return the HMAC-SHA256 hex digest of a normalised email address."""
    if email is None:
        return None
    key = load_keyring().lookup_key
    message = normalise_email(email).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class EncryptedText(TypeDecorator[str]):
    """A text column stored as a Fernet token and read back as plain text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)


def email_hmac_default(context: DefaultExecutionContext) -> str | None:
    """Column default of ``customers.email_hmac`` for Core inserts of many rows."""
    email = context.get_current_parameters().get("email")
    return lookup_hash(email)


def transform_stored(connection: Connection, change: Callable[[str], str]) -> int:
    """Apply ``change`` to every stored value of the encrypted columns.

    Reads and writes the raw column text (no type processing), so it serves
    the migration that encrypts plain rows, the rotation that re-encrypts
    them and the downgrade that decrypts them. The email lookup hashes are
    recomputed from the result. Returns the number of rows rewritten.
    """
    rewritten = 0
    for table_name, names in ENCRYPTED_COLUMNS.items():
        table = sa.table(table_name, sa.column("id"), *(sa.column(n) for n in names))
        rows = connection.execute(sa.select(table).order_by(table.c.id)).all()
        for row in rows:
            values = {
                n: change(getattr(row, n)) if getattr(row, n) is not None else None
                for n in names
            }
            if all(v is None for v in values.values()):
                continue
            connection.execute(
                table.update().where(table.c.id == row.id).values(**values)
            )
            rewritten += 1
    return rewritten


def rehash_emails(connection: Connection) -> None:
    """Recompute ``customers.email_hmac`` under the current lookup key."""
    table = sa.table("customers", sa.column("id"), sa.column("email"))
    hashed = sa.table("customers", sa.column("id"), sa.column("email_hmac"))
    for row in connection.execute(sa.select(table).where(table.c.email.is_not(None))):
        connection.execute(
            hashed.update()
            .where(hashed.c.id == row.id)
            .values(email_hmac=lookup_hash(decrypt(row.email)))
        )

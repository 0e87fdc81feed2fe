"""Ed25519 keys that sign regulator export bundles, kept outside the repository.

The private key comes from ``COFLEX_SIGNING_KEY`` (the PEM text), from
``COFLEX_SIGNING_KEY_FILE`` or from a path given on the command line. A key
file inside a Git work tree is rejected, so that a key is never committed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from coflex.errors import KeyConfigError

KEY_ENV = "COFLEX_SIGNING_KEY"
KEY_FILE_ENV = "COFLEX_SIGNING_KEY_FILE"


def inside_repository(path: Path) -> Path | None:
    """Return the Git work tree that contains ``path``, or None."""
    for folder in path.resolve().parents:
        if (folder / ".git").exists():
            return folder
    return None


def _check_location(path: Path) -> None:
    repository = inside_repository(path)
    if repository is not None:
        raise KeyConfigError(
            f"key file {path} is inside the repository {repository}: move it "
            "outside, e.g. to ~/.config/coflex/, so that it is never committed",
            value=str(path),
            field="key",
        )


def generate_key(path: Path) -> str:
    """Write a new Ed25519 private key (mode 0600); return its fingerprint."""
    _check_location(path)
    if path.exists():
        raise KeyConfigError(
            f"key file {path} exists: choose a new path, never overwrite a key",
            value=str(path),
            field="key",
        )
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    # The public half is what the aggregator files with its regulator.
    public_path(path).write_bytes(public_pem(key.public_key()))
    return fingerprint(key.public_key())


def public_path(private_path: Path) -> Path:
    """Return where the public key of a private key file is written."""
    return private_path.with_name(private_path.name + ".pub.pem")


def load_private_key(path: Path | None = None) -> Ed25519PrivateKey:
    """Load the signing key from ``path``, else from the environment.

    Raises
    ------
    KeyConfigError
        If no key is configured, the file is in a repository, or it is not an
        Ed25519 private key in PEM.
    """
    if path is None and os.environ.get(KEY_ENV):
        return _parse(os.environ[KEY_ENV].encode(), KEY_ENV)
    if path is None and os.environ.get(KEY_FILE_ENV):
        path = Path(os.environ[KEY_FILE_ENV])
    if path is None:
        raise KeyConfigError(
            f"no signing key: set {KEY_FILE_ENV} to a key file outside the "
            "repository, or create one with `coflex records keygen --output FILE`",
            field="key",
        )
    _check_location(path)
    try:
        return _parse(path.read_bytes(), str(path))
    except OSError as exc:
        raise KeyConfigError(
            f"cannot read key file {path} ({exc.strerror}): check the path",
            value=str(path),
            field="key",
        ) from exc


def _parse(pem: bytes, source: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise KeyConfigError(
            f"{source} is not a PEM private key: create one with "
            "`coflex records keygen`",
            field="key",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyConfigError(
            f"{source} holds a {type(key).__name__}, not an Ed25519 key: create "
            "one with `coflex records keygen`",
            field="key",
        )
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_pem(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key; raise KeyConfigError unless it is Ed25519."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise KeyConfigError("the public key is not valid PEM", field="key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyConfigError("the public key is not an Ed25519 key", field="key")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """Return the SHA-256 of the raw public key, in hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def verify_signature(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True

"""Consent purposes and when a consent is in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coflex.domain.administration.privacy import Purpose, is_live, parse_purpose
from coflex.errors import InputError

T0 = datetime(2026, 7, 1, tzinfo=UTC)


def test_undefined_purpose_rejected() -> None:
    with pytest.raises(InputError, match="undefined consent purpose 'advertising'"):
        parse_purpose("advertising")


def test_sharing_purpose_parsed() -> None:
    assert parse_purpose("sharing_utility_iso") is Purpose.SHARING


def test_live_until_expiry() -> None:
    assert is_live(T0, T0 + timedelta(days=365), None, T0 + timedelta(days=364))


def test_expired_consent_not_live() -> None:
    assert not is_live(T0, T0 + timedelta(days=365), None, T0 + timedelta(days=365))


def test_revoked_consent_not_live() -> None:
    assert not is_live(T0, None, T0 + timedelta(days=3), T0 + timedelta(days=3))


def test_future_grant_not_live() -> None:
    assert not is_live(T0, None, None, T0 - timedelta(seconds=1))

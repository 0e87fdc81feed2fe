"""The audit chain's hashing: canonical, order-independent, sensitive to any change."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from coflex.services.audit import GENESIS_HASH, canonical_json, chain_hash


def test_canonical_json_sorts_keys() -> None:
    assert canonical_json({"b": 1, "a": [2, {"d": 3, "c": 4}]}) == (
        '{"a":[2,{"c":4,"d":3}],"b":1}'
    )


def test_chain_hash_is_sha256_of_link() -> None:
    fields = {"seq": 1, "action": "notice_pre_event"}
    expected = hashlib.sha256(
        (GENESIS_HASH + '{"action":"notice_pre_event","seq":1}').encode()
    ).hexdigest()
    assert chain_hash(GENESIS_HASH, fields) == expected


@given(st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=6))
def test_key_order_never_changes_hash(fields: dict[str, int]) -> None:
    reordered = dict(reversed(list(fields.items())))
    assert chain_hash(GENESIS_HASH, fields) == chain_hash(GENESIS_HASH, reordered)


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_any_value_change_changes_hash(value: int) -> None:
    assert chain_hash(GENESIS_HASH, {"v": value}) != chain_hash(
        GENESIS_HASH, {"v": value + 1}
    )


def test_previous_hash_changes_hash() -> None:
    fields = {"seq": 2}
    assert chain_hash(GENESIS_HASH, fields) != chain_hash("1" * 64, fields)

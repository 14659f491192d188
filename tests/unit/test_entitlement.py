"""Who the line may wake an engineer for, and what a typed customer number is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.entitlement import Entitlement, Refusal, keyed_customer_number, refusal_for


@pytest.mark.parametrize(
    ("customer", "unidentified", "refusal"),
    [
        (Entitlement("active", True), "continue", None),
        (Entitlement("warned", True), "continue", None),  # a warning changes nothing at the line
        (Entitlement("blocked", True), "continue", Refusal.BLOCKED),
        (Entitlement("blocked", False), "continue", Refusal.BLOCKED),  # the block is the reason given
        (Entitlement("active", False), "continue", Refusal.NO_AFTER_HOURS),
        (None, "continue", None),
        (None, "refuse", Refusal.UNIDENTIFIED),
        (Entitlement("active", True), "refuse", None),
    ],
)
def test_refusal(customer, unidentified, refusal):
    assert refusal_for(customer, unidentified=unidentified) == refusal


@pytest.mark.parametrize(
    ("keys", "number"),
    [("1001#", "1001"), ("1001", "1001"), ("0042#", "0042"), ("12#34", "12"), ("#", None), ("", None),
     ("12*3#", None), ("*", None), ("1" * 21, None), ("A1#", None)],
)
def test_keyed_customer_number(keys, number):
    assert keyed_customer_number(keys) == number


@given(st.text(alphabet="0123456789*#ABCD", max_size=40))
def test_a_keyed_number_is_only_ever_digits_typed_before_the_hash(keys):
    number = keyed_customer_number(keys)
    assert number is None or (number.isdigit() and keys.startswith(number) and len(number) <= 20)

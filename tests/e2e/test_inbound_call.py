"""A call to the support number reaches the Stasis app and is kept on record."""

from __future__ import annotations

import pytest

from tests import sipp

pytestmark = pytest.mark.e2e


def test_call_to_support_number_enters_the_app_and_is_listed(line):
    caller = sipp.place_call(line.pbx_address, to="0497842611", from_number="0612345001", hangup_after=3).wait()
    assert caller.final_response == 200, caller.describe()

    call = line.wait_for_call(lambda c: c["from_number"] == "0612345001" and c["ended_at"])

    assert call["to_number"] == "0497842611"
    assert call["from_e164"] == "+31612345001"
    assert call["path"] == "ari"
    steps = [step["step"] for step in call["steps"]]
    assert steps[:2] == ["stasis_start", "answered"], steps
    assert all(step["at"] for step in call["steps"])
    # The caller hung up first: the record says so, and at which step.
    assert call["outcome"] == "abandoned"
    assert call["abandoned_step"] == steps[-1]
    assert call["started_at"] <= call["ended_at"]
    assert call["dial_attempts"] == []
    assert call["voicemail"] is None


@pytest.mark.parametrize("dialled", ["31497842611", "+31497842611", "0031497842611"])
def test_every_form_of_the_support_number_reaches_the_app(line, dialled):
    caller_number = f"06123452{len(dialled):02d}"
    caller = sipp.place_call(line.pbx_address, to=dialled, from_number=caller_number, hangup_after=1.5).wait()
    assert caller.final_response == 200, caller.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == caller_number and c["ended_at"])
    assert call["to_number"] == dialled


def test_calls_are_listed_newest_first(line):
    for number in ("0612345101", "0612345102"):
        sipp.place_call(line.pbx_address, from_number=number, hangup_after=1).wait()
    line.wait_for_call(lambda c: c["from_number"] == "0612345102" and c["ended_at"])
    numbers = [c["from_number"] for c in line.calls()]
    assert numbers.index("0612345102") < numbers.index("0612345101")

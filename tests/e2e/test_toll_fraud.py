"""Nobody but the trunk may place calls, and nobody can dial out through the PBX."""

from __future__ import annotations

import re

import pytest

from tests import sipp

pytestmark = pytest.mark.e2e


def test_invite_from_an_unknown_address_is_refused(line):
    caller = sipp.place_call(line.pbx_address, local_ip="127.0.0.2", from_number="0612999001", hangup_after=1).wait()
    assert caller.final_response in (401, 403), caller.describe()
    assert not any(code in (180, 183, 200) for code in caller.invite_responses), caller.describe()
    assert all(c["from_number"] != "0612999001" for c in line.calls())


def test_unknown_address_cannot_reach_an_external_number_either(line):
    caller = sipp.place_call(line.pbx_address, to="0031201234567", local_ip="127.0.0.2", hangup_after=1).wait()
    assert caller.final_response in (401, 403), caller.describe()


@pytest.mark.parametrize("number", ["0612345678", "+442071234567", "00442071234567", "112", "s", "engineer-1"])
def test_the_trunk_cannot_dial_anything_but_the_support_number(line, number):
    caller = sipp.place_call(line.pbx_address, to=number, from_number="0612999002", hangup_after=1).wait()
    assert caller.final_response == 404, caller.describe()


def _contexts(dialplan: str) -> dict[str, tuple[str, str]]:
    """{context: (created by, its text)} from `dialplan show`."""
    parts = re.split(r"^\[ Context '([^']+)' created by '([^']+)' \]$", dialplan, flags=re.M)
    return {parts[i]: (parts[i + 1], parts[i + 2]) for i in range(1, len(parts) - 2, 3)}


def test_no_context_has_an_extension_that_dials_out(line):
    contexts = _contexts(line.cli("pbx", "dialplan").stdout)
    ours = {name: text for name, (creator, text) in contexts.items() if creator == "pbx_config"}
    fallback = {"nd-agi", "nd-static", "nd-consent", "nd-legs", "nd-leg", "nd-leg-results", "nd-accept", "nd-voicemail",
                "nd-after-message"}  # fmt: skip
    assert set(ours) == {"from-trunk", "support-line", "from-engineer"} | fallback, contexts.keys()
    extensions = {name: re.findall(r"^\s*'([^']+)'", text, re.M) for name, text in ours.items()}
    assert sorted(extensions["from-trunk"]) == sorted(["0497842611", "31497842611", "+31497842611", "0031497842611"])
    assert extensions["from-engineer"] == []
    assert extensions["support-line"] == ["_[+0-9]."]
    # Contexts Asterisk's modules make for themselves are not reachable from any endpoint;
    # none of them, and none of ours, dials anywhere.
    # (res_stasis makes one per registered app: ours, and the tests' listeners.)
    for name, (creator, _text) in contexts.items():
        if name not in ours:
            assert (creator, name.startswith("stasis-")) == ("res_stasis", True) or (creator, name) == (
                "func_periodic_hook", "__func_periodic_hook_context__"
            ), (name, creator)
    # The fallback paths' contexts have only `s` (and `h`): reached by Goto/Gosub from the
    # support line, never by a number; but nd-leg, which the step's Local legs (from nd-legs)
    # enter by their number. They dial only what the FastAGI server or the app's static-path
    # globals name.
    for name in fallback - {"nd-leg"}:
        assert set(extensions[name]) <= {"s", "h"}, (name, extensions[name])
    assert extensions["nd-leg"] == ["_X!"]
    allowed = {"nd-agi": {"${ND_LEGS}", "${ND_OFFICE_DESTINATION}"}, "nd-static": {"${ND_LEGS}"}, "nd-leg": {"${ND_TARGET}"}}
    for name, (_creator, text) in contexts.items():
        targets = set(re.findall(r"Dial\(([^,)]*)", text))
        assert targets <= allowed.get(name, set()), (name, targets)

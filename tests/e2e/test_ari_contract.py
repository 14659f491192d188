"""Every ARI request the app makes exists in Asterisk's own Swagger documents: path, method and
parameter names. The documents come with the Asterisk the line runs (its root, which the
session's `line` fixture builds if needed, or the host's /usr/share/asterisk/rest-api)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from ari_app.desk import NoOneToRing
from ari_app.stasis import StasisApp
from core.office_hours import OfficeStatus
from tests.e2e.line import ROOT_CACHE
from tests.unit.fake_pbx import EVA, FakeCallLog, Message, Party, Phone, Switchboard, customer, hang_up, press, step
from tests.unit.test_ari_channel import FakeAriRequests, snapshot

REST_API = Path("usr/share/asterisk/rest-api")


def docs_dir() -> Path | None:
    candidates = [ROOT_CACHE / REST_API, Path("/") / REST_API]
    return next((path for path in candidates if (path / "resources.json").is_file()), None)


def operations(docs: Path) -> list[tuple[str, re.Pattern[str], set[str]]]:
    """(method, path pattern, parameter names) for every operation resources.json lists."""
    found = []
    resources = json.loads((docs / "resources.json").read_text())
    for api in resources["apis"]:
        listing = json.loads((docs / Path(api["path"]).name.replace("{format}", "json")).read_text())
        for entry in listing["apis"]:
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", entry["path"]) + "$")
            for operation in entry["operations"]:
                names = {p["name"] for p in operation.get("parameters", []) if p["paramType"] != "path"}
                found.append((operation["httpMethod"], pattern, names))
    return found


async def requests_the_app_makes() -> list[tuple[str, str, set[str]]]:
    """Every request of the app's code paths, gathered from calls through the fake PBX: the
    office transfer, ringing (accepted, busy, not accepted), the voicemail, a stop while
    recording, a reconnect with an orphan, and the service reading the prompts directory."""
    made: list[tuple[str, str, set[str]]] = []

    async def run(scenario) -> None:
        board = Switchboard()
        try:
            await scenario(board)
        finally:
            await board.close()
        made.extend((r.method, r.path, set(r.params)) for r in board.pbx.requests)

    async def office(board: Switchboard) -> None:
        board.desk.office = OfficeStatus(True, "open", None)
        board.configure(office_destination="sip:office@127.0.0.1:5090")
        board.pbx.phones["sip:office@127.0.0.1:5090"] = Phone(0.01, party=Party.of(hang_up("bridged", after=0.02)))
        await board.call()

    async def answered(board: Switchboard) -> None:
        board.desk.by_phone["+31612345678"] = customer()
        board.pbx.phones["sip:eva@127.0.0.1:5080"] = Phone.accepts(then=[hang_up("bridged", after=0.02)])
        await board.call(Party.of(press("1", "greeting")))

    async def voicemail(board: Switchboard) -> None:
        board.desk.plan = [step(1, EVA, timeout=5)]
        board.pbx.phones["sip:eva@127.0.0.1:5080"] = Phone.silent()
        await board.call(Party.of(press("1", "greeting"), press("#", "enter_customer_number")))

    async def stopped_while_recording(board: Switchboard) -> None:
        board.desk.plan = NoOneToRing("nobody")
        channel_id = board.pbx.call(Party.of(press("1", "greeting"), messages=[Message(seconds=30, wall=5.0)]))
        record = await board.record_of(channel_id)
        while "voicemail" not in record.step_names():
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        await board.app.stop(grace=2)

    for scenario in (office, answered, voicemail, stopped_while_recording):
        await run(scenario)

    ari = FakeAriRequests()
    ari.answers[("GET", "/channels")] = [snapshot("2.1")]
    await StasisApp(ari, "nachtdienst", FakeCallLog(), orphan_settle=0).on_connected(1)
    made += [(method, path, set(params)) for method, path, params in ari.requests]
    # The service asks where the prompts are; the events WebSocket is a GET with these parameters.
    made.append(("GET", "/asterisk/variable", {"variable"}))
    made.append(("GET", "/events", {"app", "subscribeAll"}))
    return made


def test_the_flow_makes_every_kind_of_request_it_has():
    """The list above is only worth something if it covers the app: originate, bridges,
    recordings and playbacks must all be in it."""
    made = asyncio.run(requests_the_app_makes())
    kinds = {(method, re.sub(r"/(nd-|nachtdienst-|1700)[^/]*", "/{id}", path)) for method, path, _ in made}
    for expected in [("POST", "/channels"), ("POST", "/bridges"), ("POST", "/bridges/{id}/addChannel"),
                     ("DELETE", "/bridges/{id}"), ("POST", "/channels/{id}/record"), ("GET", "/recordings/stored/{id}/file"),
                     ("DELETE", "/recordings/stored/{id}"), ("POST", "/recordings/live/{id}/stop"),
                     ("POST", "/channels/{id}/ring"), ("DELETE", "/channels/{id}/ring"), ("POST", "/channels/{id}/play"),
                     ("DELETE", "/playbacks/{id}"), ("POST", "/channels/{id}/answer")]:  # fmt: skip
        assert expected in kinds, f"{expected} not exercised; made: {sorted(kinds)}"


pytestmark = pytest.mark.e2e


async def test_every_ari_request_is_in_asterisks_api_documents(line):
    docs = docs_dir()
    assert docs is not None, f"no ARI documents in {ROOT_CACHE / REST_API} or /{REST_API}"
    known = operations(docs)

    for method, path, params in await requests_the_app_makes():
        matches = [names for op_method, pattern, names in known if op_method == method and pattern.match(path)]
        assert matches, f"{method} {path} is not in Asterisk's ARI"
        assert any(params <= names for names in matches), f"{method} {path}: unknown parameters {params}"

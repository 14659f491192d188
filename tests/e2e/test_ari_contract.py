"""Every ARI request the app makes exists in Asterisk's own Swagger documents: path, method and
parameter names. The documents come with the Asterisk the line runs (its root, which the
session's `line` fixture builds if needed, or the host's /usr/share/asterisk/rest-api)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ari_app.channel import Channel
from ari_app.stasis import StasisApp
from tests.e2e.line import ROOT_CACHE
from tests.unit.test_ari_channel import FakeAriRequests, snapshot
from tests.unit.test_ari_flow import FakeCallLog

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
    ari = FakeAriRequests()
    channel = Channel(ari, snapshot("1.1"))
    await channel.answer()
    await channel.ring()
    playback = await channel.play(["sound:hello-world", "sound:beep"])
    await playback.stop()
    await channel.record("vm-1", max_duration=300, max_silence=10)
    await channel.hangup(reason="normal")

    ari.answers[("GET", "/channels")] = [snapshot("2.1")]
    await StasisApp(ari, "nachtdienst", FakeCallLog(), orphan_settle=0).on_connected(1)

    made = [(method, path, set(params)) for method, path, params in ari.requests]
    # The events WebSocket (ari_app.client) is a GET with these parameters.
    made.append(("GET", "/events", {"app", "subscribeAll"}))
    return made


pytestmark = pytest.mark.e2e


async def test_every_ari_request_is_in_asterisks_api_documents(line):
    docs = docs_dir()
    assert docs is not None, f"no ARI documents in {ROOT_CACHE / REST_API} or /{REST_API}"
    known = operations(docs)

    for method, path, params in await requests_the_app_makes():
        matches = [names for op_method, pattern, names in known if op_method == method and pattern.match(path)]
        assert matches, f"{method} {path} is not in Asterisk's ARI"
        assert any(params <= names for names in matches), f"{method} {path}: unknown parameters {params}"

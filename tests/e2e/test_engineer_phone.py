"""The engineer's phone in the harness behaves as a real phone would, over real SIP.

The PBX rings the engineer endpoint rendered from `engineers add … --contact sip:…` (the
app will do this in the call flow); a separate Stasis app of the test watches the leg.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests import sipp

pytestmark = pytest.mark.e2e

HARNESS_APP = "nd-harness"


async def ring_engineer(line, *, hang_up_after: float | None, timeout: int = 4, wait: float = 15.0) -> list[dict]:
    """Originate a leg to the engineer's endpoint; return its events until it is destroyed."""
    password = (line.data_dir / "secrets" / "ari_password").read_text().strip()
    auth = {"Authorization": aiohttp.encode_basic_auth("nachtdienst", password)}
    base = f"http://127.0.0.1:{line.ari_port}/ari"
    events: list[dict] = []
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.ws_connect(f"{base}/events", params={"app": HARNESS_APP, "subscribeAll": "false"}) as ws:
            # Eva's contact (sip:eva@127.0.0.1:5080) is the first one of the session's database.
            engineer = "engineer-1"
            response = await http.post(
                f"{base}/channels",
                params={"endpoint": f"PJSIP/{engineer}", "app": HARNESS_APP, "timeout": str(timeout)},
            )
            assert response.status == 200, await response.text()
            channel_id = (await response.json())["id"]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while loop.time() < deadline:
                try:
                    message = await asyncio.wait_for(ws.receive(), timeout=0.2)
                except TimeoutError:
                    message = None
                if message is not None and message.type == aiohttp.WSMsgType.TEXT:
                    event = json.loads(message.data)
                    if event.get("channel", {}).get("id") == channel_id:
                        events.append(event)
                        if event["type"] == "StasisStart" and hang_up_after is not None:
                            loop.call_later(hang_up_after, lambda: asyncio.ensure_future(http.delete(f"{base}/channels/{channel_id}")))
                        if event["type"] in ("ChannelDestroyed", "StasisEnd"):
                            return events
            return events


def _types(events: list[dict]) -> list[str]:
    return [event["type"] for event in events]


async def test_phone_that_answers_and_presses_1(line):
    phone = sipp.engineer_phone("answer", answer_after=0.5, digits=[(0.5, "1")])
    events = await ring_engineer(line, hang_up_after=2.5)
    phone.wait(20)
    assert "StasisStart" in _types(events), events
    digits = [e["digit"] for e in events if e["type"] == "ChannelDtmfReceived"]
    assert digits == ["1"], events
    assert phone.received_bye, phone.describe()


async def test_phone_that_answers_and_stays_silent(line):
    phone = sipp.engineer_phone("silent", answer_after=0.2)
    events = await ring_engineer(line, hang_up_after=2.0)
    phone.wait(20)
    assert "StasisStart" in _types(events)
    assert "ChannelDtmfReceived" not in _types(events)
    assert phone.received_bye


async def test_phone_that_never_answers_is_cancelled(line):
    phone = sipp.engineer_phone("never")
    events = await ring_engineer(line, hang_up_after=None, timeout=2)
    phone.wait(20)
    assert "StasisStart" not in _types(events), events
    assert phone.returncode == 0, phone.describe()


async def test_busy_phone_answers_486(line):
    phone = sipp.engineer_phone("busy")
    events = await ring_engineer(line, hang_up_after=None)
    phone.wait(20)
    assert "StasisStart" not in _types(events)
    destroyed = [e for e in events if e["type"] == "ChannelDestroyed"]
    assert destroyed and destroyed[0]["cause"] == 17, events  # 17: user busy

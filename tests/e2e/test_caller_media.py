"""The SIPp caller streams real audio and RFC 2833 digits into the call, as a phone would.

A separate Stasis app of the test listens in: it subscribes to the trunk's channels (for the
digits) and records what the caller sends through a snoop channel (for the audio).
"""

from __future__ import annotations

import array
import asyncio
import io
import json
import wave

import aiohttp
import pytest

from tests import sipp

pytestmark = pytest.mark.e2e

HARNESS_APP = "nd-listener"


def _rms(wav_bytes: bytes) -> float:
    with wave.open(io.BytesIO(wav_bytes)) as audio:
        assert audio.getsampwidth() == 2, "Asterisk stores WAV as 16-bit PCM"
        samples = array.array("h", audio.readframes(audio.getnframes()))
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


async def test_caller_streams_audio_and_sends_digits(line, spoken_wav):
    password = (line.data_dir / "secrets" / "ari_password").read_text().strip()
    headers = {"Authorization": aiohttp.encode_basic_auth("nachtdienst", password)}
    base = f"http://127.0.0.1:{line.ari_port}/ari"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.ws_connect(f"{base}/events", params={"app": HARNESS_APP, "subscribeAll": "false"}) as ws:
            subscribed = await http.post(
                f"{base}/applications/{HARNESS_APP}/subscription", params={"eventSource": "endpoint:PJSIP/trunk"}
            )
            assert subscribed.status == 200, await subscribed.text()

            caller = sipp.place_call(
                line.pbx_address, from_number="0612345301", wav=spoken_wav, dtmf=[(3.0, "12#")], hangup_after=5
            )
            digits: list[str] = []
            channel_id = snoop_id = None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while loop.time() < deadline:
                try:
                    message = await asyncio.wait_for(ws.receive(), timeout=0.2)
                except TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(message.data)
                channel = event.get("channel", {})
                if channel_id is None and channel.get("caller", {}).get("number") == "0612345301" and channel.get("state") == "Up":
                    channel_id = channel["id"]
                    snoop = await http.post(
                        f"{base}/channels/{channel_id}/snoop", params={"app": HARNESS_APP, "spy": "in"}
                    )
                    assert snoop.status == 200, await snoop.text()
                    snoop_id = (await snoop.json())["id"]
                if event["type"] == "StasisStart" and channel.get("id") == snoop_id:
                    recording = await http.post(
                        f"{base}/channels/{snoop_id}/record",
                        params={"name": f"listen-{snoop_id}", "format": "wav", "maxDurationSeconds": "2", "ifExists": "overwrite"},
                    )
                    assert recording.status == 201, await recording.text()
                if event["type"] == "ChannelDtmfReceived" and channel.get("id") == channel_id:
                    digits.append(event["digit"])
                if event["type"] == "ChannelDestroyed" and channel.get("id") == channel_id:
                    break
            stored = await http.get(f"{base}/recordings/stored/listen-{snoop_id}/file")
            assert stored.status == 200, await stored.text()
            audio = await stored.read()
            await http.delete(f"{base}/recordings/stored/listen-{snoop_id}")

    caller.wait()
    assert caller.final_response == 200, caller.describe()
    assert digits == ["1", "2", "#"]
    # Speech, not silence: espeak-ng at telephone level is far above the noise floor.
    assert _rms(audio) > 300, _rms(audio)

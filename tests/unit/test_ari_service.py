"""The ARI service process: connects with the settings' ARI user and app, reads where the prompts
are from Asterisk, wires the call flow, cleans up what an earlier process left, stops cleanly."""

from __future__ import annotations

import asyncio

import pytest

from ari_app import service
from ari_app.desk import DatabaseDesk
from core.settings import Settings
from tests.unit.test_ari_client import APP, PASSWORD, USER, FakeAri


class NoDatabase:
    def __call__(self):
        raise AssertionError("no call in this test touches the database")


@pytest.fixture
async def ari():
    fake = FakeAri()
    await fake.start()
    fake.answers[("GET", "/channels")] = (200, [])
    yield fake
    await fake.stop()


@pytest.fixture
def lines(monkeypatch) -> list[service.Line]:
    """The Line the service builds, caught on its way in."""
    built: list[service.Line] = []
    real = service.Line

    def catch(**parts):
        built.append(real(**parts))
        return built[-1]

    monkeypatch.setattr(service, "Line", catch)
    monkeypatch.setattr(service, "open_database", lambda settings: NoDatabase())
    return built


def settings_for(ari: FakeAri, tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        pbx={"ari_bind": "127.0.0.1", "ari_port": ari.port, "ari_user": USER, "ari_password": PASSWORD, "ari_app": APP},
    )


async def serving(ari: FakeAri, settings: Settings) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(service.serve(settings, stop))
    for _ in range(300):
        if any(request["path"] == "/channels" for request in ari.requests):
            break
        await asyncio.sleep(0.01)
    return task, stop


async def test_serve_connects_reads_channels_and_stops_on_request(ari, lines, tmp_path):
    task, stop = await serving(ari, settings_for(ari, tmp_path))

    assert ari.event_connects[0]["query"] == {"app": APP, "subscribeAll": "false"}
    assert any(request["path"] == "/channels" for request in ari.requests)

    stop.set()
    await asyncio.wait_for(task, 3)
    await asyncio.sleep(0.05)
    assert not ari.socket_open.is_set()


async def test_serve_wires_the_flow_and_reads_the_prompts_directory_from_asterisk(ari, lines, tmp_path):
    ari.answers[("GET", "/asterisk/variable")] = (200, {"value": "/var/lib/nachtdienst/prompts/"})

    task, stop = await serving(ari, settings_for(ari, tmp_path))
    try:
        [line] = lines
        asked = [r for r in ari.requests if r["path"] == "/asterisk/variable"]
        assert [r["query"] for r in asked] == [{"variable": "NACHTDIENST_PROMPTS"}]
        # Read on connecting, before the app looks at the channels it holds.
        paths = [r["path"] for r in ari.requests]
        assert paths.index("/asterisk/variable") < paths.index("/channels")
        assert line.prompts.directory == "/var/lib/nachtdienst/prompts"
        assert line.prompts("greeting", "nl") == "sound:/var/lib/nachtdienst/prompts/nl/greeting"
        assert isinstance(line.desk, DatabaseDesk)
        assert line.app.inbound_flow is not None and line.app.app_name == APP
        assert line.config.support_number == "0497842611" and line.config.country == "NL"
    finally:
        stop.set()
        await asyncio.wait_for(task, 3)


async def test_serve_runs_on_when_asterisk_has_no_prompts_directory(ari, lines, tmp_path):
    # No answer for GET /asterisk/variable: Asterisk says 404.
    task, stop = await serving(ari, settings_for(ari, tmp_path))
    try:
        [line] = lines
        assert any(r["path"] == "/asterisk/variable" for r in ari.requests)
        assert line.prompts.directory == ""
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 3)

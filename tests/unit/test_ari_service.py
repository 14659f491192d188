"""The ARI service process: connects with the settings' ARI user and app, cleans up what an
earlier process left in the app, and stops cleanly."""

from __future__ import annotations

import asyncio



from ari_app import service  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.unit.test_ari_client import APP, PASSWORD, USER, FakeAri  # noqa: E402


class NoDatabase:
    def __call__(self):
        raise AssertionError("no call in this test touches the database")


async def test_serve_connects_reads_channels_and_stops_on_request(tmp_path, monkeypatch):
    ari = FakeAri()
    await ari.start()
    ari.answers[("GET", "/channels")] = (200, [])
    monkeypatch.setattr(service, "open_database", lambda settings: NoDatabase())
    settings = Settings(
        data_dir=tmp_path,
        pbx={"ari_bind": "127.0.0.1", "ari_port": ari.port, "ari_user": USER, "ari_password": PASSWORD, "ari_app": APP},
    )
    stop = asyncio.Event()
    try:
        serving = asyncio.create_task(service.serve(settings, stop))
        for _ in range(200):
            if any(request["path"] == "/channels" for request in ari.requests):
                break
            await asyncio.sleep(0.01)
        assert ari.event_connects[0]["query"] == {"app": APP, "subscribeAll": "false"}
        assert any(request["path"] == "/channels" for request in ari.requests)

        stop.set()
        await asyncio.wait_for(serving, 3)
        await asyncio.sleep(0.05)
        assert not ari.socket_open.is_set()
    finally:
        await ari.stop()

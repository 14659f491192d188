"""The supervisor's fallback watch: engineers hear once when calls have taken a fallback path
for longer than notify.fallback_alert_minutes, and again after the line was back and fell
back anew; Asterisk not answering changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import open_database
from core.models import Notification
from core.settings import NotifySettings, Settings
from nachtdienst.fallback_watch import FallbackWatch
from pbx.ari_probe import AriUnreachable
from pbx.call_path import CallPath

T0 = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)
HOOK = "http://127.0.0.1:9/hooks/engineers"


class Probe:
    def __init__(self) -> None:
        self.path: CallPath | Exception = CallPath("ari", "registered")

    def __call__(self, settings: Settings) -> CallPath:
        if isinstance(self.path, Exception):
            raise self.path
        return self.path


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def watched(settings: Settings):
    configured = Settings(data_dir=settings.data_dir, database_url=settings.resolved_database_url,
                          notify=NotifySettings(webhook_urls=[HOOK], fallback_alert_minutes=3))  # fmt: skip
    sessions = open_database(configured)
    probe, clock = Probe(), Clock()
    yield FallbackWatch(configured, lambda: sessions, probe=probe, clock=clock), probe, clock, sessions
    sessions.kw["bind"].dispose()


def alerts(sessions) -> list[Notification]:
    with sessions() as session:
        return list(session.scalars(select(Notification).where(Notification.kind == "line_fallback")))


def test_the_engineers_hear_once_when_the_line_runs_in_fallback_too_long(watched):
    watch, probe, clock, sessions = watched
    watch.check()
    probe.path = CallPath("agi", "the ARI app is not registered; the FastAGI server answers")
    watch.check()
    clock.now = T0 + timedelta(minutes=2, seconds=59)
    watch.check()
    assert alerts(sessions) == []

    clock.now = T0 + timedelta(minutes=3)
    watch.check()
    [alert] = alerts(sessions)
    assert alert.channel == "webhook" and alert.recipient == HOOK
    assert alert.payload["path"] == "agi" and alert.payload["since"] == T0.isoformat()
    assert "FastAGI server answers" in alert.body
    clock.now += timedelta(minutes=10)
    probe.path = CallPath("static", "neither the ARI app nor the FastAGI server answers")
    watch.check()
    assert len(alerts(sessions)) == 1  # one alert per spell in fallback


def test_a_new_spell_in_fallback_after_the_app_was_back_is_told_again(watched):
    watch, probe, clock, sessions = watched
    probe.path = CallPath("static", "neither answers")
    watch.check()
    clock.now += timedelta(minutes=4)
    watch.check()
    probe.path = CallPath("ari", "registered")
    watch.check()
    probe.path = CallPath("agi", "app down")
    clock.now += timedelta(minutes=1)
    watch.check()
    clock.now += timedelta(minutes=3)
    watch.check()
    assert [a.payload["path"] for a in alerts(sessions)] == ["static", "agi"]


def test_asterisk_not_answering_neither_starts_nor_ends_a_spell(watched):
    watch, probe, clock, sessions = watched
    probe.path = AriUnreachable("http://127.0.0.1:8088: connection refused")
    watch.check()
    clock.now += timedelta(minutes=10)
    watch.check()
    assert watch.since is None and alerts(sessions) == []

"""The supervisor's watchdog: when a service's heartbeat says it hangs."""

from __future__ import annotations

import asyncio
import os
import time

from ari_app import service
from core.heartbeat import heartbeat_file
from core.settings import Settings
from nachtdienst.supervisor import HUNG_AFTER, hung_for


def test_a_fresh_heartbeat_is_a_live_service(tmp_path):
    heartbeat = tmp_path / "ari.alive"
    heartbeat.touch()
    os.utime(heartbeat, (1000.0, 1000.0))
    assert hung_for(heartbeat, 20.0, ran_seconds=300.0, now=1005.0) is None


def test_a_heartbeat_older_than_the_limit_is_a_hung_service(tmp_path):
    heartbeat = tmp_path / "ari.alive"
    heartbeat.touch()
    os.utime(heartbeat, (1000.0, 1000.0))
    assert hung_for(heartbeat, 20.0, ran_seconds=300.0, now=1025.0) == 25.0


def test_a_service_that_has_not_beaten_yet_is_given_the_startup_grace(tmp_path):
    assert hung_for(tmp_path / "ari.alive", 20.0, ran_seconds=59.0, now=1000.0) is None
    assert hung_for(tmp_path / "ari.alive", 20.0, ran_seconds=61.0, now=1000.0) == 61.0
    # A predecessor's last beat, from before this process started, is not this one's.
    heartbeat = tmp_path / "ari.alive"
    heartbeat.touch()
    os.utime(heartbeat, (900.0, 900.0))
    assert hung_for(heartbeat, 20.0, ran_seconds=30.0, now=1000.0) is None
    assert hung_for(heartbeat, 20.0, ran_seconds=61.0, now=1000.0) == 61.0


def test_once_it_has_beaten_a_service_is_hung_after_the_limit(tmp_path):
    heartbeat = tmp_path / "ari.alive"
    heartbeat.touch()
    os.utime(heartbeat, (975.0, 975.0))  # its first beat, 5 s after it started
    assert hung_for(heartbeat, 20.0, ran_seconds=30.0, now=1000.0) == 25.0


def test_only_the_ari_app_is_watched():
    # The other services beat after the database answered: a restart would not mend that.
    assert set(HUNG_AFTER) == {"ari"}


async def test_the_ari_app_beats_while_its_event_loop_turns_and_stops_when_it_does_not(tmp_path, monkeypatch):
    monkeypatch.setattr(service, "PULSE_SECONDS", 0.05)
    settings = Settings(data_dir=tmp_path)
    heartbeat = heartbeat_file(settings, "ari")
    stop = asyncio.Event()
    pulse = asyncio.create_task(service._pulse(settings, stop))
    await asyncio.sleep(0.2)
    first = heartbeat.stat().st_mtime_ns
    await asyncio.sleep(0.2)
    assert heartbeat.stat().st_mtime_ns > first  # beating
    time.sleep(0.3)  # the loop blocked: no beat meanwhile
    assert time.time() - heartbeat.stat().st_mtime >= 0.25
    stop.set()
    await asyncio.wait_for(pulse, 1)

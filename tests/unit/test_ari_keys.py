"""Asking for keys (ari_app.keys) against a fake PBX: keys may interrupt a prompt, garbage is
ignored, keys pressed before the question never answer it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ari_app.channel import Channel, ChannelHungUp
from ari_app.keys import ask, collect_digits
from tests.unit.fake_pbx import Party, Switchboard, hang_up, press

QUESTION = ["sound:/p/nl/question"]


@pytest.fixture
async def switch():
    board = Switchboard()
    yield board
    await board.close()


async def on_the_line(switch: Switchboard, party: Party, body: Callable[[Channel], Awaitable[Any]]) -> tuple[Any, str]:
    """Run `body` on a call from `party`; what it returned (or raised) and the channel id."""
    outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def flow(channel: Channel, recorder: Any) -> None:
        try:
            outcome.set_result(await body(channel))
        except Exception as exc:
            outcome.set_exception(exc)

    switch.app.inbound_flow = flow
    channel_id = switch.pbx.call(party)
    return await asyncio.wait_for(outcome, 2), channel_id


def question_stopped(switch: Switchboard, channel_id: str) -> bool:
    [play] = switch.pbx.requests_to("POST", f"/channels/{channel_id}/play")
    return f"DELETE /playbacks/{play.params['playbackId']}" in switch.pbx.paths()


async def test_ask_returns_a_key_pressed_during_the_prompt_and_stops_it(switch):
    switch.pbx.prompt_times["question"] = 1.0
    started = asyncio.get_running_loop().time()

    key, channel_id = await on_the_line(switch, Party.of(press("2", "question", after=0.01)), lambda c: ask(c, QUESTION, accept="12", timeout=5))

    assert key == "2"
    assert question_stopped(switch, channel_id)
    assert asyncio.get_running_loop().time() - started < 0.5


async def test_ask_ignores_garbage_and_takes_an_accepted_key_after_the_prompt(switch):
    party = Party.of(press("*7#", "question"), press("1", "question", at_end=True, after=0.01))

    key, channel_id = await on_the_line(switch, party, lambda c: ask(c, QUESTION, accept="12", timeout=1))

    assert key == "1"
    assert not question_stopped(switch, channel_id)


async def test_ask_gives_none_when_no_accepted_key_comes_in_time(switch):
    started = asyncio.get_running_loop().time()

    key, _ = await on_the_line(switch, Party.of(press("5", "question", at_end=True)), lambda c: ask(c, QUESTION, accept="12", timeout=0.05))

    assert key is None
    assert asyncio.get_running_loop().time() - started >= 0.05


async def test_a_key_pressed_before_the_question_does_not_answer_it(switch):
    party = Party.of(press("1", "before"))

    async def body(channel: Channel) -> str | None:
        playback = await channel.play("sound:/p/nl/before")
        await playback.finished()
        await asyncio.sleep(0.01)  # the 1 is in
        return await ask(channel, QUESTION, accept="1", timeout=0.05)

    key, _ = await on_the_line(switch, party, body)

    assert key is None


async def test_ask_raises_when_the_caller_hangs_up(switch):
    with pytest.raises(ChannelHungUp):
        await on_the_line(switch, Party.of(hang_up("question", at_end=True)), lambda c: ask(c, QUESTION, accept="1", timeout=1))


async def test_collect_digits_gathers_keys_until_hash_and_the_first_key_stops_the_prompt(switch):
    switch.pbx.prompt_times["question"] = 1.0

    typed, channel_id = await on_the_line(switch, Party.of(press("1001#", "question", after=0.01)), lambda c: collect_digits(c, QUESTION, timeout=1))

    assert typed == "1001#"
    assert question_stopped(switch, channel_id)


async def test_collect_digits_ends_when_no_key_follows(switch):
    typed, _ = await on_the_line(switch, Party.of(press("42", "question", at_end=True)), lambda c: collect_digits(c, QUESTION, timeout=0.05))

    assert typed == "42"


async def test_collect_digits_stops_at_the_key_limit(switch):
    typed, _ = await on_the_line(switch, Party.of(press("123456789", "question")), lambda c: collect_digits(c, QUESTION, timeout=1, max_keys=5))

    assert typed == "12345"


async def test_collect_digits_gives_nothing_when_nothing_is_typed(switch):
    typed, _ = await on_the_line(switch, Party(), lambda c: collect_digits(c, QUESTION, timeout=0.03))

    assert typed == ""


async def test_collect_digits_keeps_garbage_for_the_caller_of_it_to_judge(switch):
    typed, _ = await on_the_line(switch, Party.of(press("*A1#", "question")), lambda c: collect_digits(c, QUESTION, timeout=1))

    assert typed == "*A1#"

"""The line's prompts: complete in both languages, filled from the settings, made once with
espeak-ng as 8 kHz telephone audio, and replaced by a sysadmin's recording when one exists."""

from __future__ import annotations

import subprocess
import tomllib
import wave
from pathlib import Path

import pytest

from core.settings import Settings
from pbx.prompts import PROMPT_TEXT_DIR, PromptError, load_prompts, render_prompts, spoken_digits, spoken_office_hours


def texts(language: str) -> dict[str, str]:
    return tomllib.loads((PROMPT_TEXT_DIR / f"{language}.toml").read_text())["prompts"]


def test_both_languages_have_the_same_prompts():
    assert set(texts("nl")) == set(texts("en"))


def test_placeholders_are_filled_from_the_settings():
    settings = Settings(company_name="Acme Hosting", office={"office_number": "+31 497 842 611", "schedule": "mon-thu 09:00-17:30"})
    prompts = {(p.language, p.name): p.text for p in load_prompts(settings)}
    assert "Acme Hosting" in prompts[("nl", "greeting")]
    assert "plus 3 1 4 9 7 8 4 2 6 1 1" in prompts[("en", "blocked")]
    assert "maandag tot en met donderdag van 9 uur tot 17 uur 30" in prompts[("nl", "no_after_hours")]
    assert "{" not in "".join(prompts.values())


def test_numbers_for_spoken_times_exist_in_every_language():
    names = {(p.language, p.name) for p in load_prompts(Settings())}
    assert {("nl", "number_0"), ("nl", "number_59"), ("en", "number_23")} <= names


def test_a_text_with_an_unknown_placeholder_is_named(tmp_path):
    for language in ("nl", "en"):
        (tmp_path / f"{language}.toml").write_text('voice = "nl"\n[prompts]\ngreeting = "Welkom bij {bedrijf}"\n')
    with pytest.raises(PromptError, match=r"nl.toml: prompt 'greeting' has an unknown placeholder 'bedrijf'"):
        load_prompts(Settings(), tmp_path)


@pytest.mark.parametrize(
    ("schedule", "language", "spoken"),
    [
        ("mon-fri 08:30-17:00", "nl", "maandag tot en met vrijdag van 8 uur 30 tot 17 uur"),
        ("mon-fri 08:30-17:00", "en", "Monday to Friday from 8 30 a.m. to 5 p.m."),
        ("mon-fri 09:00-12:00,13:00-17:00; sat 10:00-12:00", "nl",
         "maandag tot en met vrijdag van 9 uur tot 12 uur en van 13 uur tot 17 uur, zaterdag van 10 uur tot 12 uur"),
        ("mon 09:00-17:00; wed 09:00-17:00", "en", "Monday from 9 a.m. to 5 p.m., Wednesday from 9 a.m. to 5 p.m."),
        ("fri 22:00-24:00", "en", "Friday from 10 p.m. to midnight"),
    ],
)
def test_office_hours_are_read_out_as_words(schedule, language, spoken):
    assert spoken_office_hours(schedule, language) == spoken


def test_phone_numbers_are_read_digit_by_digit():
    assert spoken_digits("0497 84 26 11") == "0 4 9 7 8 4 2 6 1 1"


def wav_format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path)) as audio:
        return audio.getframerate(), audio.getnchannels(), audio.getsampwidth(), audio.getnframes() / audio.getframerate()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One full render, shared: espeak-ng runs for every prompt once."""
    base = tmp_path_factory.mktemp("prompts")
    report = render_prompts(Settings(), base / "sounds", base / "recorded", log=lambda _: None)
    return base, report


def test_every_prompt_is_telephone_audio_with_speech_in_it(made):
    base, report = made
    assert report.generated == len(load_prompts(Settings())) and report.recorded == 0
    for language in ("nl", "en"):
        rate, channels, width, seconds = wav_format(base / "sounds" / language / "greeting.wav")
        assert (rate, channels, width) == (8000, 1, 2)
        assert seconds > 10  # the greeting is several sentences
    assert wav_format(base / "sounds" / "nl" / "number_7.wav")[3] > 0.2


def test_a_second_render_remakes_nothing(made):
    base, _ = made
    again = render_prompts(Settings(), base / "sounds", base / "recorded", log=lambda _: None)
    assert again.generated == 0 and again.recorded == 0 and again.unchanged > 100


def test_a_recording_replaces_the_generated_prompt_and_goes_back_when_removed(made):
    base, _ = made
    recorded = base / "recorded" / "nl" / "greeting.wav"
    recorded.parent.mkdir(parents=True)
    # A studio recording: 44.1 kHz stereo, 3 s of tone.
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(recorded), "synth", "3", "sine", "440"], check=True)
    report = render_prompts(Settings(), base / "sounds", base / "recorded", log=lambda _: None)
    assert (report.generated, report.recorded) == (0, 1)
    rate, channels, width, seconds = wav_format(base / "sounds" / "nl" / "greeting.wav")
    assert (rate, channels, width) == (8000, 1, 2) and seconds == pytest.approx(3, abs=0.01)

    recorded.unlink()
    report = render_prompts(Settings(), base / "sounds", base / "recorded", log=lambda _: None)
    assert (report.generated, report.recorded) == (1, 0)
    assert wav_format(base / "sounds" / "nl" / "greeting.wav")[3] > 10


def test_a_changed_setting_remakes_only_the_prompts_that_say_it(made):
    base, _ = made
    report = render_prompts(Settings(company_name="Acme"), base / "sounds", base / "recorded", log=lambda _: None)
    assert report.generated == 2  # the greeting, in Dutch and in English
    render_prompts(Settings(), base / "sounds", base / "recorded", log=lambda _: None)


def test_a_broken_recording_is_named(tmp_path):
    broken = tmp_path / "recorded" / "en" / "goodbye.wav"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"RIFF not really")
    with pytest.raises(PromptError, match=r"prompt en/goodbye \(.*goodbye.wav\): sox failed"):
        render_prompts(Settings(), tmp_path / "sounds", tmp_path / "recorded", log=lambda _: None)


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PromptError, match="espeak-ng is not installed"):
        render_prompts(Settings(), tmp_path / "sounds", tmp_path / "recorded", log=lambda _: None)


def test_pbx_render_makes_the_prompts_for_an_image(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nachtdienst.cli import app
    from nachtdienst.cli.common import settings as cli_settings

    for name in ("NACHTDIENST_CONFIG", "NACHTDIENST_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NACHTDIENST_DATA_DIR", str(tmp_path / "data"))
    cli_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["pbx", "render", "--etc-dir", str(tmp_path / "etc"), "--prompts-dir", str(tmp_path / "sounds")])
    finally:
        cli_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "prompts in" in result.stdout and (tmp_path / "sounds" / "en" / "voicemail_thanks.wav").is_file()
    assert "NACHTDIENST_PROMPTS = /var/lib/asterisk/sounds/nachtdienst" in (tmp_path / "etc" / "extensions.conf").read_text()

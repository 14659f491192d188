"""The transcription bench's own parts, without the sound packages or the model: reading
core-sounds-LANG.txt, which prompts count, composing messages of 20-60 s, writing them as
Asterisk's voicemail WAV, the text normaliser and the word error rate; and the hang-up-to-card
path on a temporary SQLite database with a fake model."""

from __future__ import annotations

import gzip
import random
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.corpus import (
    LANGUAGES,
    MIN_WORDS,
    RATE,
    CorpusTooSmall,
    Message,
    MissingSounds,
    Prompt,
    Score,
    compose,
    load_sound_set,
    padded,
    parse_core_sounds,
    unusable,
    word_errors,
    words,
    write_message,
)
from core.settings import Settings

# --- core-sounds-LANG.txt ---------------------------------------------------------------------

ODD_FILE = (
    "\ufeff; Core Asterisk Sounds in Italian\r\n"
    "; a second comment\r\n"
    "\r\n"
    "agent-pass: Prego digitare la propria password.\r\n"
    "dir-welcome:\r\n"
    "this line has no name\r\n"
    "digits/20: venti\r\n"
    "vm-note:   Nota: premere   cancelletto  \r\n"
    "agent-pass: Prego digitare la nuova password.\r\n"
)


def test_the_text_file_is_read_line_by_line_with_odd_lines_reported() -> None:
    parsed = parse_core_sounds(ODD_FILE)
    assert (
        parsed.texts
        == {
            "agent-pass": "Prego digitare la nuova password.",  # given twice: the last one
            "digits/20": "venti",
            "vm-note": "Nota: premere cancelletto",  # a colon in the text stays; spaces collapse
        }
    )
    assert [(s.number, s.why) for s in parsed.skipped] == [
        (5, "no text"),
        (6, "not `name: text`"),
    ]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Please enter your password.", None),
        ("Login incorrect. Mailbox?", None),  # a real question mark
        ("Dans quel dossier souhaitez-vous conserver ce message?", None),
        ("[this is a simple beep tone]", "annotation in brackets"),
        ("Voce disattivata. (You are now muted.)", "annotation in brackets"),
        ("<beep ascending> now", "annotation in brackets"),
        (
            "La chiamata non pu? essere completata",
            "characters lost in the file's encoding",
        ),
        ("La conferenza ? piena.", "characters lost in the file's encoding"),
        ("broken \ufffd text here", "characters lost in the file's encoding"),
        ("Please press 1 to mute.", "digits (spoken form not written)"),
        ("press * to toggle pause", "symbols * (spoken form not written)"),
        ("press # to enter a name", "symbols # (spoken form not written)"),
        ("Agent login.", f"fewer than {MIN_WORDS} words"),
    ],
)
def test_a_prompt_counts_only_when_its_text_can_be_scored_as_written(
    text: str, why: str | None
) -> None:
    assert unusable(text) == why


def tone_wav(
    path: Path, seconds: float, rate: int = RATE, frequency: float = 440.0
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * rate)) / rate
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            (0.3 * np.sin(2 * np.pi * frequency * t) * 32767).astype("<i2").tobytes()
        )
    return path


def fake_install(
    tmp_path: Path, text: str, wavs: dict[str, float]
) -> tuple[Path, Path]:
    sounds, docs = tmp_path / "sounds", tmp_path / "doc"
    for name, seconds in wavs.items():
        tone_wav(sounds / "en_US_f_Allison" / f"{name}.wav", seconds)
    doc = docs / "asterisk-core-sounds-en" / "core-sounds-en.txt.gz"
    doc.parent.mkdir(parents=True)
    doc.write_bytes(gzip.compress(text.encode()))
    return sounds, docs


def test_the_installed_sounds_give_the_usable_prompts_with_their_lengths(
    tmp_path: Path,
) -> None:
    text = (
        "; Core Asterisk Sounds in English\n"
        "agent-pass: Please enter your password.\n"
        "digits/hundred-one: one hundred and one things\n"
        "beep: [this is a simple beep tone]\n"
        "conf-long: This one is far too long to use.\n"
        "no-file: There is no recording of this.\n"
        "broken line\n"
    )
    wavs = {
        "agent-pass": 1.5,
        "digits/hundred-one": 2.0,
        "beep": 0.5,
        "conf-long": 25.0,
    }
    sounds, docs = fake_install(tmp_path, text, wavs)
    found = load_sound_set("en", sounds_root=sounds, doc_root=docs)
    assert found.directory == sounds / "en_US_f_Allison"
    assert [(p.name, p.seconds) for p in found.prompts] == [
        ("agent-pass", 1.5),
        ("digits/hundred-one", 2.0),
    ]
    assert (
        found.prompts[1].path
        == sounds / "en_US_f_Allison" / "digits" / "hundred-one.wav"
    )
    assert found.excluded == {
        "annotation in brackets": 1,
        "longer than 20 s": 1,
        "no .wav recording": 1,
    }
    assert [s.line for s in found.skipped] == ["broken line"]


def test_missing_sounds_name_the_packages_to_install(tmp_path: Path) -> None:
    with pytest.raises(MissingSounds) as no_recordings:
        load_sound_set("fr", sounds_root=tmp_path / "sounds", doc_root=tmp_path / "doc")
    assert (
        "apt-get install -y asterisk-core-sounds-fr asterisk-core-sounds-fr-wav"
        in str(no_recordings.value)
    )
    assert "no recordings" in str(no_recordings.value)

    (tmp_path / "sounds" / "fr_CA_f_June").mkdir(parents=True)
    with pytest.raises(MissingSounds, match=r"no text .*core-sounds-fr\.txt\.gz"):
        load_sound_set("fr", sounds_root=tmp_path / "sounds", doc_root=tmp_path / "doc")
    with pytest.raises(MissingSounds, match="one of en, fr, es, it"):
        load_sound_set("xx", sounds_root=tmp_path / "sounds", doc_root=tmp_path / "doc")


def test_every_language_names_its_two_packages() -> None:
    assert LANGUAGES["es"].packages == (
        "asterisk-core-sounds-es",
        "asterisk-core-sounds-es-wav",
    )
    assert LANGUAGES["it"].text_name == "core-sounds-it.txt"


# --- composing messages -------------------------------------------------------------------


def prompts(count: int, seed: int = 1) -> list[Prompt]:
    rng = random.Random(seed)
    return [Prompt(f"p{i:03d}", f"text {i} words here", Path(f"/nowhere/p{i:03d}.wav"), round(rng.uniform(0.6, 12.0), 2))
            for i in range(count)]  # fmt: skip


def test_messages_are_20_to_60_seconds_and_their_reference_is_their_prompts_texts() -> (
    None
):
    messages = compose("en", prompts(150), 40, random.Random(7))
    assert len(messages) == 40
    for message in messages:
        assert 20.0 <= message.seconds <= 60.0
        assert len(message.pauses) == len(message.prompts) - 1
        assert all(0.4 <= pause <= 0.9 for pause in message.pauses)
        assert len({p.name for p in message.prompts}) == len(message.prompts)
        assert message.reference == " ".join(p.text for p in message.prompts)
    lengths = [m.seconds for m in messages]
    assert (
        max(lengths) - min(lengths) > 20
    )  # targets spread over the range, not all one length


def test_composition_is_deterministic_per_seed() -> None:
    names = [
        [p.name for p in m.prompts]
        for m in compose("en", prompts(100), 5, random.Random(3))
    ]
    again = [
        [p.name for p in m.prompts]
        for m in compose("en", prompts(100), 5, random.Random(3))
    ]
    other = [
        [p.name for p in m.prompts]
        for m in compose("en", prompts(100), 5, random.Random(4))
    ]
    assert names == again and names != other


def test_no_prompt_comes_again_until_the_round_is_spent() -> None:
    messages = compose("en", prompts(150), 5, random.Random(5))  # ~200 s of the ~950 s
    used = [p.name for m in messages for p in m.prompts]
    assert len(used) == len(set(used))


def test_a_small_corpus_starts_new_rounds_and_every_prompt_is_heard() -> None:
    pool = prompts(30)  # ~190 s for ~480 s of messages
    messages = compose("en", pool, 12, random.Random(5))
    assert all(20.0 <= m.seconds <= 60.0 for m in messages)
    assert {p.name for m in messages for p in m.prompts} == {p.name for p in pool}


def test_a_message_can_be_made_a_given_length_for_the_hang_up_figure() -> None:
    [message] = compose(
        "en", prompts(80), 1, random.Random(9), shortest=55.0, longest=60.0
    )
    assert 55.0 <= message.seconds <= 60.0
    sixty = padded(message, 60.0)
    assert sixty.seconds == pytest.approx(60.0) and sixty.prompts == message.prompts
    with pytest.raises(ValueError, match="longer than 50"):
        padded(message, 50.0)


def test_pauses_lead_and_tail_count_toward_the_length() -> None:
    # Two 9.25 s prompts are 18.5 s of speech: 20.0 s with lead and tail, 20.4-20.9 s with the
    # pause between them; so no message of 20-20.3 s can be made of them.
    same = [Prompt(f"p{i}", "a b c", Path(f"p{i}.wav"), 9.25) for i in range(10)]
    with pytest.raises(CorpusTooSmall):
        compose("en", same, 1, random.Random(2), shortest=20.0, longest=20.3)
    [message] = compose("en", same, 1, random.Random(2), shortest=20.0, longest=21.0)
    assert len(message.prompts) == 2 and 20.4 <= message.seconds <= 20.9


def test_too_few_prompts_are_refused_with_the_reason() -> None:
    with pytest.raises(
        CorpusTooSmall,
        match=r"en: 2 usable prompts \(3 s\) cannot make a message of 20-60 s",
    ):
        compose("en", [Prompt("a", "a b c", Path("a.wav"), 1.5), Prompt("b", "a b c", Path("b.wav"), 1.5)], 1,
                random.Random(1))  # fmt: skip
    with pytest.raises(ValueError, match="shortest <= longest"):
        compose("en", prompts(10), 1, random.Random(1), shortest=30, longest=20)


def test_a_message_is_written_as_asterisk_records_voicemail(tmp_path: Path) -> None:
    first = Prompt(
        "one", "a b c", tone_wav(tmp_path / "one.wav", 1.0, frequency=300), 1.0
    )
    second = Prompt(
        "two",
        "d e f",
        tone_wav(tmp_path / "two.wav", 2.0, rate=16_000, frequency=500),
        2.0,
    )
    message = Message("en", (first, second), (0.5,), lead=0.25, tail=1.0)
    path = write_message(message, tmp_path / "message.wav")
    with wave.open(str(path)) as audio:
        assert (
            audio.getframerate(),
            audio.getsampwidth(),
            audio.getnchannels(),
            audio.getcomptype(),
        ) == (8000, 2, 1, "NONE")
        samples = np.frombuffer(audio.readframes(audio.getnframes()), "<i2")
    assert len(samples) == round(message.seconds * RATE) == 38_000
    lead, one, pause = samples[:2000], samples[2000:10_000], samples[10_000:14_000]
    assert not lead.any() and not pause.any() and not samples[-8000:].any()
    with wave.open(str(first.path)) as original:
        assert np.array_equal(
            one, np.frombuffer(original.readframes(8000), "<i2")
        )  # 8 kHz prompts as they are
    two = samples[14_000:30_000].astype(float)
    assert (
        np.abs(two).max() > 8000
    )  # the 16 kHz prompt, resampled to 8 kHz, is there at its level


# --- scoring --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        (
            "Please enter your PIN, then press the pound key!",
            "en",
            "please enter your pin then press the pound key",
        ),
        ("Call-Forward on No Answer.", "en", "call forward on no answer"),
        (
            "Press 1, or 20 to exit; 21 stays",
            "en",
            "press one or twenty to exit 21 stays",
        ),
        ("Appuyez sur 17 pour l'aide.", "fr", "appuyez sur dix sept pour l aide"),
        ("Appuyez sur dix-sept pour l’aide", "fr", "appuyez sur dix sept pour l aide"),
        ("Contraseña: número 16", "es", "contrasena numero dieciseis"),
        ("Quell'operatore è già loggato", "it", "quell operatore e gia loggato"),
        ("room 1.5 or 3,000", "en", "room 1 5 or 3 000"),
        ("press 2", "de", "press 2"),  # no number words known: digits stay
    ],
)
def test_text_is_normalised_before_comparing(
    text: str, language: str, expected: str
) -> None:
    assert words(text, language) == expected.split()


@pytest.mark.parametrize(
    ("reference", "hypothesis", "errors"),
    [
        ("the cat sat", "the cat sat", 0),
        ("the cat sat", "the hat sat", 1),
        ("the cat sat", "the cat sat down", 1),
        ("the cat sat", "cat sat", 1),
        ("the cat sat", "the hat sat down", 2),
        ("a b c d", "d c b a", 4),
        ("a b", "", 2),
        ("", "a b", 2),
    ],
)
def test_word_errors_are_the_word_level_edit_distance(
    reference: str, hypothesis: str, errors: int
) -> None:
    assert word_errors(reference.split(), hypothesis.split()) == errors


def test_the_error_rate_is_summed_over_messages_not_averaged() -> None:
    score = Score().add(
        "one two three four five six seven eight nine ten",
        "one two three four five six seven eight nine ten",
        "en",
    )
    score += Score().add(
        "Press one.", "press 1 now please", "en"
    )  # 2 insertions over 2 words
    assert (score.errors, score.words) == (2, 12)
    assert score.rate == pytest.approx(2 / 12)  # not (0 + 1.0) / 2
    with pytest.raises(ValueError, match="undefined"):
        _ = Score().rate


# --- hang-up to card ----------------------------------------------------------------------


@dataclass
class FakeSegment:
    start: float
    end: float
    text: str
    avg_logprob: float = -0.2
    no_speech_prob: float = 0.05
    compression_ratio: float = 1.4


class FakeModel:
    """Answers like faster_whisper.WhisperModel, at once."""

    def detect_language(
        self, audio: Any, **_: Any
    ) -> tuple[str, float, list[tuple[str, float]]]:
        return "en", 0.99, [("en", 0.99)]

    def transcribe(self, audio: Any, **_: Any) -> tuple[Iterator[FakeSegment], Any]:
        text = "Our web shop is down, the checkout page fails. Call me back on zero six one two three four five six seven eight."
        return iter([FakeSegment(0.5, 58.0, text)]), object()


def test_hang_up_to_card_stores_the_voicemail_and_reads_back_the_queued_card_email(
    tmp_path: Path, monkeypatch
) -> None:
    from bench.transcribe import hang_up_to_card

    # The bench's database must be its own even when the environment names another.
    monkeypatch.setenv(
        "NACHTDIENST_DATABASE_URL", "postgresql://nobody@192.0.2.1/elsewhere"
    )
    recording = tone_wav(tmp_path / "message.wav", 60.0)
    settings = Settings(data_dir=tmp_path / "configured")
    result = hang_up_to_card(settings, FakeModel(), "fake", recording, tmp_path / "data",
                             find_speech=lambda audio: [(0.5, 58.0)])  # fmt: skip
    assert (
        result.transcript.startswith("Our web shop is down") and result.language == "en"
    )
    assert "+31612345678" in result.subject
    assert result.attachments and result.attachments[0].startswith("recordings/")
    assert (
        tmp_path / "data" / result.attachments[0]
    ).read_bytes() == recording.read_bytes()
    assert (
        0 < result.store
        and 0 < result.transcribe
        and result.total
        == pytest.approx(result.store + result.transcribe + result.read_back)
    )
    assert not (tmp_path / "configured").exists()

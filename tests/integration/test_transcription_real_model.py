"""The real `base` model, assembled from its PyPI packages (installed by scripts/install.sh):
silence, noise, synthetic 8 kHz Dutch and real human 8 kHz telephone speech, through the
worker and the service. Few and short: the whole file runs in well under a minute."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import open_database
from core.models import Notification, Transcript, TranscriptionJob, Voicemail
from core.settings import NotifySettings, Settings
from transcription.audio import read_recording
from transcription.model import STAMP, choose_model, load_model, provision
from transcription.service import TranscriptionService
from transcription.worker import Options, transcribe_audio, transcribe_file

REPO = Path(__file__).resolve().parents[2]
# Debian's asterisk-core-sounds-en-wav, or the Asterisk root `nachtdienst pbx` builds (GSM there).
SOUND_DIRECTORIES = [
    Path("/usr/share/asterisk/sounds/en_US_f_Allison"),
    Path("/usr/share/asterisk/sounds/en"),
    REPO / "data/asterisk-root/usr/share/asterisk/sounds/en_US_f_Allison",
    REPO / "data/asterisk-root/usr/share/asterisk/sounds/en",
]
# What the files say, from Asterisk's core-sounds-en.txt.
HUMAN_SPEECH = {
    "agent-alreadyon": "That agent is already logged on. Please enter your agent number followed by the pound key.",
    "conf-getconfno": "Please enter your conference number followed by the pound key.",
    "all-circuits-busy-now": "All circuits are busy now.",
    "check-number-dial-again": "Please check the number and dial again.",
    "pls-hold-while-try": "Please hold while we try to connect you.",
    "cannot-complete-as-dialed": "Your call cannot be completed as dialed.",
    "vm-nobodyavail": "Nobody is available to take your call at the moment",
}
DUTCH = ("Goedenavond, met Jan de Vries van bakkerij Jansen. Onze webwinkel ligt helemaal plat, de pagina "
         "punt nl slash checkout geeft een foutmelding en klanten kunnen niet betalen. Dit is dringend, "
         "want we hebben vanavond een actie. Bel me terug op nul zes een twee drie vier vijf zes zeven acht.")  # fmt: skip
WINDOW_ALLOWANCE_S = 10.0  # the budget is checked between 30 s windows: one may run over it


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("model-data")
    return provision(Settings(data_dir=data))


@pytest.fixture(scope="module")
def whisper(model_dir: Path):
    settings = Settings(data_dir=model_dir.parent.parent)
    return load_model(choose_model(settings, model_dir))


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def human_speech(directory: Path) -> tuple[Path, str]:
    """Real 8 kHz telephone speech (~20 s, Asterisk's English prompts) joined by sox."""
    for sounds in SOUND_DIRECTORIES:
        files = [next(iter(sorted(sounds.glob(f"{name}.*"))), None) for name in HUMAN_SPEECH]
        if sounds.is_dir() and all(files):
            out = directory / "human.wav"
            subprocess.run(["sox", *map(str, files), "-r", "8000", "-b", "16", "-c", "1", str(out)], check=True)
            return out, " ".join(HUMAN_SPEECH.values())
    pytest.fail("no Asterisk English core sounds found: install Debian's asterisk-core-sounds-en-wav "
                f"(looked in {', '.join(map(str, SOUND_DIRECTORIES))})")  # fmt: skip


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = (re.findall(r"[a-z']+", text.lower()) for text in (reference, hypothesis))
    distance = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, distance[0] = distance[0], i
        for j, other in enumerate(hyp, 1):
            previous, distance[j] = distance[j], min(distance[j] + 1, distance[j - 1] + 1, previous + (word != other))
    return distance[-1] / len(ref)


def test_the_model_is_assembled_from_its_packages_and_loads(model_dir: Path, whisper) -> None:
    stamp = json.loads((model_dir / STAMP).read_text())
    assert stamp["sources"] == {name: importlib.metadata.version(name) for name in stamp["sources"]}
    assert stamp["files"]["model.bin"]["size"] == (model_dir / "model.bin").stat().st_size > 100_000_000
    assert whisper.model.is_multilingual and whisper.model.device == "cpu"


def test_silence_is_no_speech_at_once(whisper, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "silence.wav", np.random.default_rng(2).normal(0, 10 ** (-70 / 20), 8000 * 30))
    result = transcribe_file(whisper, path, Options())
    assert (result.no_speech, result.text, result.low_confidence) == (True, "", False)
    assert result.processing_seconds < 0.5


@pytest.mark.parametrize("kind", ["white", "line"])
def test_noise_never_becomes_confident_text(whisper, tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(3)
    seconds = 10
    t = np.arange(8000 * seconds) / 8000
    if kind == "white":
        noise = rng.normal(0, 0.1, len(t))
    else:  # mains hum and crackle on a band-limited line
        noise = 0.05 * np.sin(2 * np.pi * 50 * t) + 0.02 * np.sin(2 * np.pi * 150 * t)
        noise += np.convolve(rng.normal(0, 0.08, len(t)), np.ones(3) / 3, mode="same")
        noise[rng.integers(0, len(t), 40)] += 0.6
    audio = read_recording(write_wav(tmp_path / "noise.wav", noise))
    quick = transcribe_audio(whisper, audio, Options())
    assert quick.no_speech or quick.low_confidence, quick.text
    # Even when the VAD is overruled and the model must listen, it gives nothing confident.
    forced = transcribe_audio(whisper, audio, Options(), find_speech=lambda a: [(0.0, a.duration_seconds)])
    assert forced.no_speech or forced.low_confidence, forced.text


def test_synthetic_8khz_dutch_is_quick_and_not_presented_as_the_callers_words(whisper, tmp_path: Path) -> None:
    wide = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "nl", "-s", "150", "-w", str(wide), DUTCH], check=True)
    narrow = tmp_path / "espeak-8k.wav"
    subprocess.run(["sox", str(wide), "-r", "8000", "-b", "16", "-c", "1", str(narrow)], check=True)
    result = transcribe_file(whisper, narrow, Options(time_budget=1.0))
    print(f"espeak 8 kHz: {result.audio_seconds:.1f} s audio in {result.processing_seconds:.1f} s, {result.reasons}")
    assert result.no_speech or result.low_confidence, result.text
    assert result.processing_seconds < result.audio_seconds * 1.0 + WINDOW_ALLOWANCE_S


@pytest.fixture
def sqlite_settings(tmp_path: Path, model_dir: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", notify=NotifySettings(webhook_urls=["http://127.0.0.1:9/hook"]),
                    transcription={"model": str(model_dir)})  # fmt: skip


def store_voicemail(sessions: sessionmaker[Session], settings: Settings, source: Path) -> int:
    relative = "recordings/2026/02/03/call-1-1.wav"
    target = settings.resolved_data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    at = datetime.now(UTC)
    with sessions() as session:
        voicemail = Voicemail(recorded_at=at, path=relative, sha256="0" * 64, size_bytes=target.stat().st_size)
        session.add_all([voicemail, TranscriptionJob(voicemail=voicemail, status="queued", next_attempt_at=at)])
        session.commit()
        return voicemail.id


def test_real_8khz_telephone_speech_is_transcribed_by_the_service(whisper, sqlite_settings: Settings, tmp_path: Path) -> None:
    source, truth = human_speech(tmp_path)
    sessions = open_database(sqlite_settings)
    voicemail = store_voicemail(sessions, sqlite_settings, source)
    started = time.monotonic()
    assert TranscriptionService(sqlite_settings, sessions, whisper, model_label="base").process_next()
    elapsed = time.monotonic() - started
    with sessions() as session:
        transcript = session.scalar(select(Transcript).where(Transcript.voicemail_id == voicemail))
        card = session.scalar(select(Notification).where(Notification.voicemail_id == voicemail))
        job = session.scalar(select(TranscriptionJob).where(TranscriptionJob.voicemail_id == voicemail))
    wer = word_error_rate(truth, transcript.text)
    duration = read_recording(source).duration_seconds
    print(f"human 8 kHz: {duration:.1f} s audio in {elapsed:.1f} s (RTF {elapsed / duration:.2f}), WER {wer:.1%}")
    assert (transcript.language, transcript.no_speech, transcript.low_confidence) == ("en", False, False)
    assert wer <= 0.15, transcript.text
    assert transcript.segments and all(s["start"] < s["end"] and s["avg_logprob"] > -1.0 for s in transcript.segments)
    assert job.status == "done" and card is not None and card.kind == "voicemail_card"
    sessions.kw["bind"].dispose()


def test_the_transcribe_service_runs_until_sigterm(model_dir: Path, sqlite_settings: Settings, tmp_path: Path) -> None:
    sessions = open_database(sqlite_settings)
    voicemail = store_voicemail(sessions, sqlite_settings, write_wav(tmp_path / "quiet.wav", np.zeros(8000 * 5)))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NACHTDIENST_")}
    environment |= {"NACHTDIENST_DATA_DIR": str(sqlite_settings.data_dir), "NACHTDIENST_TRANSCRIPTION__MODEL": str(model_dir),
                    "NACHTDIENST_NOTIFY__WEBHOOK_URLS": '["http://127.0.0.1:9/hook"]', "NACHTDIENST_LOG_FORMAT": "json"}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "nachtdienst", "service", "transcribe"], cwd=tmp_path, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        transcript = None
        while transcript is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            with sessions() as session:
                transcript = session.scalar(select(Transcript).where(Transcript.voicemail_id == voicemail))
        assert transcript is not None and transcript.no_speech, process.stderr.read() if process.poll() is not None else ""
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "model loaded" in stderr and "transcription worker stopped" in stderr
    sessions.kw["bind"].dispose()

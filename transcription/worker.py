"""One voicemail through the model: bounded work, honest confidence, never invented text.

What a caller may rely on:
- Silence or near-silence (`audio.SILENCE_DBFS`), or audio in which the VAD hears no speech,
  gives `no_speech` with text "" at once, without running the model (tens of milliseconds).
- Language: detected on the first 30 s of speech. The configured language (Dutch) and English
  are taken as detected. Another language is kept when the model is sure of it (p >= 0.5, a
  German caller gets German) and otherwise the configured language is used; either way the
  transcript is low-confidence.
- Decoding is bounded: beam `beam_size` (5), one temperature fallback (0.5, best of 2) instead of Whisper's
  five, no conditioning on the previous window (a wrong window cannot drag the next into the
  same loop), and at most 224 new tokens per 30 s window (OpenAI Whisper's own limit;
  faster-whisper allows 448, which a looping window fills, doubling its cost).
- Time budget: `time_budget` × the audio's length, counted from the start (detection
  included). Segments are consumed one by one; past the budget the rest is not decoded and
  the transcript is `partial` and low-confidence. A window once started is finished, so the
  overshoot is at most one window's decoding (a few seconds for `base` on 2 cores).
- Confidence (thresholds are Whisper's own where it has them):
    a segment is doubtful when avg_logprob < -1.0, or compression_ratio > 2.4 (repetition,
    the model looping), or no_speech_prob > 0.6 with avg_logprob < -0.5 (no_speech_prob
    alone misleads: clean telephone speech decoded at -0.14 came with 0.68; Whisper itself
    only drops a window as silence when both are bad);
    the transcript is low-confidence when doubtful segments make up >= 25% of the transcribed
    time, or the time-weighted mean avg_logprob < -0.8, or the language was not accepted, or
    the budget cut it short. Real 8 kHz telephone speech scores around -0.2 to -0.5.
- A model run that yields no segment is `no_speech` too.
- The VAD runs once: its speech spans are cut out and joined (as faster-whisper's own filter
  does, with the same Silero options), language detection and decoding get only that, and the
  segments' times are mapped back to the recording's. faster-whisper's filter would run the VAD
  again for detection and again for decoding (about 0.02 of the audio's length each on 2 cores).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog

from core.settings import Settings
from transcription.audio import WHISPER_RATE, Audio, read_recording, speech_spans

log = structlog.get_logger("transcription.worker")

ACCEPTED_EXTRA_LANGUAGES = ("en",)
LANGUAGE_SURE = 0.5  # detection probability above which another language is kept
BEAM_SIZE = 5
TEMPERATURES = (0.0, 0.5)
BEST_OF = 2
MAX_NEW_TOKENS = 224
DOUBTFUL_LOGPROB = -1.0
DOUBTFUL_COMPRESSION = 2.4
DOUBTFUL_NO_SPEECH = 0.6
DOUBTFUL_NO_SPEECH_LOGPROB = -0.5
LOW_CONFIDENCE_DOUBTFUL_SHARE = 0.25
LOW_CONFIDENCE_MEAN_LOGPROB = -0.8
# Speech the budget left undecoded, in seconds, before a transcript counts as partial.
PARTIAL_TOLERANCE = 1.0
DECIMALS = 3


class WhisperLike(Protocol):
    """What the worker needs of faster_whisper.WhisperModel (tests pass a fake)."""

    def detect_language(self, audio: Any = ..., *, vad_filter: bool = ..., vad_parameters: Any = ...) -> tuple[str, float, Any]: ...

    def transcribe(self, audio: Any, **options: Any) -> tuple[Iterable[Any], Any]: ...


class Stopped(Exception):
    """The worker was asked to stop while transcribing; the job should go back to the queue."""


@dataclass(frozen=True)
class Options:
    language: str = "nl"
    time_budget: float = 1.0
    beam_size: int = BEAM_SIZE

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        group = settings.transcription
        return cls(group.language, group.time_budget, group.beam_size)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float

    @property
    def doubtful(self) -> bool:
        return (
            self.avg_logprob < DOUBTFUL_LOGPROB
            or self.compression_ratio > DOUBTFUL_COMPRESSION
            or (self.no_speech_prob > DOUBTFUL_NO_SPEECH and self.avg_logprob < DOUBTFUL_NO_SPEECH_LOGPROB)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "start": round(self.start, DECIMALS),
            "end": round(self.end, DECIMALS),
            "text": self.text,
            "avg_logprob": round(self.avg_logprob, DECIMALS),
            "no_speech_prob": round(self.no_speech_prob, DECIMALS),
            "compression_ratio": round(self.compression_ratio, DECIMALS),
            "doubtful": self.doubtful,
        }


@dataclass(frozen=True)
class Transcription:
    text: str
    language: str | None
    language_probability: float | None
    segments: list[Segment]
    no_speech: bool
    low_confidence: bool
    partial: bool
    audio_seconds: float
    processing_seconds: float
    reasons: list[str] = field(default_factory=list)  # why low-confidence / no speech, for logs

    @property
    def real_time_factor(self) -> float:
        return self.processing_seconds / self.audio_seconds if self.audio_seconds > 0 else 0.0

    def segments_json(self) -> list[dict[str, Any]]:
        return [segment.as_json() for segment in self.segments]


def transcribe_file(model: WhisperLike, path: Path, options: Options, **kwargs: Any) -> Transcription:
    """Read the recording (UnreadableAudio if it cannot be) and transcribe it."""
    clock: Callable[[], float] = kwargs.get("clock", time.monotonic)
    started = clock()
    audio = read_recording(path)
    return transcribe_audio(model, audio, options, started=started, **kwargs)


def transcribe_audio(
    model: WhisperLike,
    audio: Audio,
    options: Options,
    *,
    clock: Callable[[], float] = time.monotonic,
    started: float | None = None,
    find_speech: Callable[[Audio], Sequence[tuple[float, float]]] = speech_spans,
    on_progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Transcription:
    """What the model heard in `audio` (see the module's docstring for the rules).

    `on_progress(seconds_of_audio_done)` is called after each segment (lease renewal);
    `should_stop()` is asked then too, and True raises Stopped."""
    started = clock() if started is None else started
    duration = audio.duration_seconds

    def finished(**values: Any) -> Transcription:
        result = Transcription(audio_seconds=duration, processing_seconds=clock() - started, **values)
        _log(result)
        return result

    if audio.silent:
        return finished(text="", language=None, language_probability=None, segments=[], no_speech=True,
                        low_confidence=False, partial=False, reasons=[f"silent ({audio.loudest_dbfs:.0f} dBFS)"])  # fmt: skip
    spans = list(find_speech(audio))
    if not spans:
        return finished(text="", language=None, language_probability=None, segments=[], no_speech=True,
                        low_confidence=False, partial=False, reasons=["no speech found by the VAD"])  # fmt: skip

    reasons: list[str] = []
    speech, timeline = _speech_only(audio, spans)
    language, probability = _choose_language(model, speech, options.language, reasons)
    budget = options.time_budget * duration
    generated, _info = model.transcribe(
        speech,
        language=language,
        beam_size=options.beam_size,
        best_of=BEST_OF,
        temperature=list(TEMPERATURES),
        condition_on_previous_text=False,
        compression_ratio_threshold=DOUBTFUL_COMPRESSION,
        log_prob_threshold=DOUBTFUL_LOGPROB,
        no_speech_threshold=DOUBTFUL_NO_SPEECH,
        max_new_tokens=MAX_NEW_TOKENS,
        vad_filter=False,  # done above, once
    )
    segments: list[Segment] = []
    over_budget = False
    try:
        for raw in generated:
            segments.append(_segment(raw, timeline))
            log.debug("segment", end=round(segments[-1].end, 2), of=round(duration, 2), seconds=round(clock() - started, 2))
            if on_progress is not None:
                on_progress(segments[-1].end)
            if should_stop():
                raise Stopped()
            if clock() - started > budget:
                over_budget = True
                break
    finally:
        _close(generated)

    speech_end = spans[-1][1]
    partial = over_budget and (not segments or segments[-1].end < speech_end - PARTIAL_TOLERANCE)
    if partial:
        reasons.append(f"time budget of {budget:.1f} s spent at {segments[-1].end if segments else 0:.1f} s of {speech_end:.1f} s")
    kept = [segment for segment in segments if segment.text.strip()]
    if not kept:
        return finished(text="", language=language, language_probability=probability, segments=[], no_speech=True,
                        low_confidence=partial, partial=partial, reasons=reasons + ["the model heard no words"])  # fmt: skip
    reasons.extend(_confidence_problems(kept))
    return finished(
        text=" ".join(segment.text.strip() for segment in kept),
        language=language,
        language_probability=probability,
        segments=kept,
        no_speech=False,
        low_confidence=bool(reasons),
        partial=partial,
        reasons=reasons,
    )


def _speech_only(audio: Audio, spans: Sequence[tuple[float, float]]) -> tuple[Any, Any]:
    """The speech in `spans` joined into one array, and the map from its times back to the
    recording's (faster-whisper's own helpers, as its VAD filter uses them)."""
    import numpy as np
    from faster_whisper.vad import SpeechTimestampsMap, collect_chunks

    chunks = [{"start": int(start * WHISPER_RATE), "end": int(end * WHISPER_RATE)} for start, end in spans]
    pieces, _ = collect_chunks(audio.samples, chunks, WHISPER_RATE)
    return np.concatenate(pieces, axis=0), SpeechTimestampsMap(chunks, WHISPER_RATE)


def _choose_language(model: WhisperLike, speech: Any, default: str, reasons: list[str]) -> tuple[str, float | None]:
    detected, probability, _ = model.detect_language(speech, vad_filter=False)
    if detected == default or detected in ACCEPTED_EXTRA_LANGUAGES:
        return detected, probability
    if probability >= LANGUAGE_SURE:
        reasons.append(f"language {detected} (p={probability:.2f}) is neither {default} nor {'/'.join(ACCEPTED_EXTRA_LANGUAGES)}")
        return detected, probability
    reasons.append(f"language unclear (best guess {detected}, p={probability:.2f}); transcribed as {default}")
    return default, None


def _segment(raw: Any, timeline: Any) -> Segment:
    return Segment(
        start=float(timeline.get_original_time(float(raw.start))),
        end=float(timeline.get_original_time(float(raw.end), is_end=True)),
        text=str(raw.text).strip(),
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
        compression_ratio=float(raw.compression_ratio),
    )


def _confidence_problems(segments: list[Segment]) -> list[str]:
    problems = []
    lengths = [max(segment.end - segment.start, 0.01) for segment in segments]
    total = sum(lengths)
    doubtful = sum(length for segment, length in zip(segments, lengths) if segment.doubtful)
    if doubtful / total >= LOW_CONFIDENCE_DOUBTFUL_SHARE:
        problems.append(f"{doubtful / total:.0%} of the speech in doubtful segments")
    mean_logprob = sum(segment.avg_logprob * length for segment, length in zip(segments, lengths)) / total
    if mean_logprob < LOW_CONFIDENCE_MEAN_LOGPROB:
        problems.append(f"mean log probability {mean_logprob:.2f}")
    return problems


def _close(generated: Iterable[Any]) -> None:
    # Stopping early must not leave faster-whisper's generator holding its buffers.
    close = getattr(generated, "close", None)
    if close is not None:
        close()


def _log(result: Transcription) -> None:
    log.info(
        "transcribed",
        audio_seconds=round(result.audio_seconds, 2),
        processing_seconds=round(result.processing_seconds, 2),
        real_time_factor=round(result.real_time_factor, 3),
        language=result.language,
        segments=len(result.segments),
        no_speech=result.no_speech,
        low_confidence=result.low_confidence,
        partial=result.partial,
        reasons=result.reasons or None,
    )

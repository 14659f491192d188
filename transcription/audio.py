"""A stored recording, made ready for Whisper: 16 kHz mono float32, with its length and level.

Asterisk records voicemail as WAV, 8 kHz 16-bit mono PCM. Other WAV files are read too: any
sample rate and channel count, 8/16/24/32-bit integer PCM, 32/64-bit float, and G.711 μ-law
or A-law (telephone formats). Anything else (not RIFF/WAVE, GSM inside WAV, a file without
samples) is refused with `UnreadableAudio` naming the file and the reason. A data chunk whose
size the header gets wrong (a recording cut off by a crash or a hang-up: 0, or more than the
file holds) is read as far as the file goes.

Resampling is a windowed-sinc (Kaiser) polyphase filter in numpy, chosen deliberately: the
low-pass sits at the lower of the two Nyquist frequencies, so upsampling 8 kHz telephone audio
to 16 kHz leaves the 4-8 kHz band empty (as it was on the line) instead of filling it with
the mirror images that linear interpolation or sample repetition leave, which Whisper's mel
filters would hear as hiss; downsampling (44.1 or 48 kHz) is free of aliasing for the same
reason. 8 → 16 kHz is the exact ratio 2/1, so the filter has two phases and costs ~64
multiply-adds per output sample (about 30 ms for a minute of audio on one core).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

WHISPER_RATE = 16_000
FRAME_SECONDS = 0.03
# The level of the loudest LOUDEST_SECONDS of a recording (frame RMS, dBFS) below which it is
# taken as silence without asking the model: a telephone line's idle noise is around -70 to
# -60 dBFS, quiet speech on it -40 dBFS and louder. Half a second is the shortest useful word.
SILENCE_DBFS = -50.0
LOUDEST_SECONDS = 0.5
# Resampling filter: taps per phase (each side of the centre) and Kaiser window shape (beta 8.6
# gives about 80 dB of stop-band attenuation); cutoff slightly below Nyquist for a transition band.
HALF_TAPS = 16
KAISER_BETA = 8.6
CUTOFF = 0.95

_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
_FORMAT_NAMES = {0x31: "GSM 6.10", 0x11: "IMA ADPCM", 0x02: "MS ADPCM", 0x55: "MP3", 0x64: "G.726", 0x40: "G.721"}


class UnreadableAudio(Exception):
    """The recording cannot be read as audio; the message names the file and why."""


@dataclass(frozen=True)
class Audio:
    """Samples at 16 kHz, mono, float32 in [-1, 1], and what was measured on the original."""

    samples: np.ndarray
    source_rate: int
    source_channels: int
    duration_seconds: float
    rms_dbfs: float  # over the whole recording
    loudest_dbfs: float  # of the loudest LOUDEST_SECONDS (see SILENCE_DBFS)

    @property
    def silent(self) -> bool:
        return self.loudest_dbfs < SILENCE_DBFS


def read_recording(path: Path) -> Audio:
    """The recording at `path` as Whisper wants it. Raises UnreadableAudio."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableAudio(f"{path}: cannot read: {exc.strerror or exc}") from None
    rate, channels, samples = decode_wav(data, str(path))
    mono = samples.mean(axis=1, dtype=np.float64) if channels > 1 else samples[:, 0].astype(np.float64)
    rms, loudest = levels(mono, rate)
    return Audio(
        samples=resample(mono, rate, WHISPER_RATE).astype(np.float32),
        source_rate=rate,
        source_channels=channels,
        duration_seconds=len(mono) / rate,
        rms_dbfs=rms,
        loudest_dbfs=loudest,
    )


def decode_wav(data: bytes, name: str = "recording") -> tuple[int, int, np.ndarray]:
    """(sample rate, channels, samples as float64 of shape (frames, channels) in [-1, 1])."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise UnreadableAudio(f"{name}: not a WAV file (no RIFF/WAVE header)")
    fmt: bytes | None = None
    samples: bytes | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt = data[body : body + size]
        elif chunk_id == b"data":
            # A size of 0 or past the end: the writer never came back to fix the header.
            end = len(data) if size == 0 or body + size > len(data) else body + size
            samples = data[body:end]
            break
        offset = body + size + (size & 1)  # chunks are padded to even sizes
    if fmt is None or len(fmt) < 16:
        raise UnreadableAudio(f"{name}: WAV file without a format chunk")
    if samples is None:
        raise UnreadableAudio(f"{name}: WAV file without a data chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the sub-format GUID starts with the tag
    if channels < 1 or rate < 1000 or rate > 384_000 or block_align < 1:
        raise UnreadableAudio(f"{name}: WAV header is corrupt ({channels} channels, {rate} Hz)")
    frames = len(samples) // block_align
    if frames == 0:
        raise UnreadableAudio(f"{name}: WAV file holds no samples")
    raw = samples[: frames * block_align]
    values = _decode_samples(raw, tag, bits, block_align // channels, name)
    return rate, channels, values.reshape(frames, channels)


def _decode_samples(raw: bytes, tag: int, bits: int, width: int, name: str) -> np.ndarray:
    if tag == _PCM and width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    if tag == _PCM and width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    if tag == _PCM and width == 3:
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        return np.where(values >= 1 << 23, values - (1 << 24), values).astype(np.float64) / float(1 << 23)
    if tag == _PCM and width == 4:
        return np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)
    if tag == _FLOAT and width in (4, 8):
        values = np.frombuffer(raw, "<f4" if width == 4 else "<f8").astype(np.float64)
        return np.clip(np.nan_to_num(values), -1.0, 1.0)
    if tag == _MULAW and width == 1:
        return _MULAW_TABLE[np.frombuffer(raw, np.uint8)]
    if tag == _ALAW and width == 1:
        return _ALAW_TABLE[np.frombuffer(raw, np.uint8)]
    kind = _FORMAT_NAMES.get(tag, f"format tag {tag:#06x}")
    raise UnreadableAudio(f"{name}: WAV with {kind}, {bits}-bit samples is not supported (PCM, float, μ-law or A-law)")


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    magnitude = ((((codes & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.float64) / 32768.0


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.float64) / 32768.0


_MULAW_TABLE = _mulaw_table()
_ALAW_TABLE = _alaw_table()


def levels(mono: np.ndarray, rate: int) -> tuple[float, float]:
    """(RMS of everything, RMS of the loudest LOUDEST_SECONDS of 30 ms frames), in dBFS."""
    overall = _dbfs(float(np.sqrt(np.mean(mono**2)))) if len(mono) else -np.inf
    frame = max(1, int(rate * FRAME_SECONDS))
    count = len(mono) // frame
    if count == 0:
        return overall, overall
    power = np.mean(mono[: count * frame].reshape(count, frame) ** 2, axis=1)
    loudest = max(1, round(LOUDEST_SECONDS / FRAME_SECONDS))
    top = np.sort(power)[-loudest:]
    return overall, _dbfs(float(np.sqrt(np.mean(top))))


def _dbfs(rms: float) -> float:
    return 20.0 * np.log10(rms) if rms > 0 else -np.inf


def resample(signal: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """`signal` at `target_rate`: polyphase windowed-sinc interpolation at the exact rational
    ratio, low-pass at the lower Nyquist frequency (see the module's docstring)."""
    if source_rate == target_rate or len(signal) == 0:
        return signal.copy()
    divisor = gcd(source_rate, target_rate)
    up, down = target_rate // divisor, source_rate // divisor
    # Filter bandwidth relative to the input's Nyquist: < 1 when downsampling.
    band = CUTOFF * min(1.0, up / down)
    half = int(np.ceil(HALF_TAPS / min(1.0, up / down)))  # wider when the band is narrower
    offsets = np.arange(-half + 1, half + 1)  # input samples around each output position
    phases = np.arange(up) / up  # fractional position of output n: (n * down % up) / up
    distance = phases[:, None] - offsets[None, :]  # (phase, tap): output time minus input time
    window = np.kaiser(2 * half + 1, KAISER_BETA)
    taps = band * np.sinc(band * distance) * np.interp(distance, np.arange(-half, half + 1), window)
    taps /= taps.sum(axis=1, keepdims=True)  # unity gain at DC for every phase
    total = int(np.ceil(len(signal) * up / down))
    padded = np.pad(signal, (half, half + down + 1))
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(offsets))
    out = np.empty(total, dtype=np.float64)
    # Outputs n, n + up, n + 2·up … share a phase and step `down` inputs at a time: one strided
    # matrix product per phase, in blocks so that memory stays small for long recordings.
    block = 1 << 15
    for first in range(min(up, total)):
        phase, base = (first * down) % up, (first * down) // up
        count = len(range(first, total, up))
        for start in range(0, count, block):
            stop = min(count, start + block)
            rows = windows[base + 1 + start * down : base + 1 + (stop - 1) * down + 1 : down]  # x[base + offsets]
            out[first + start * up : first + (stop - 1) * up + 1 : up] = rows @ taps[phase]
    return out


def speech_spans(audio: Audio) -> list[tuple[float, float]]:
    """Where Silero VAD (shipped inside faster-whisper, run with ONNX on the CPU) hears speech,
    in seconds, with the same options the transcription's VAD filter uses."""
    from faster_whisper.vad import get_speech_timestamps

    return [
        (span["start"] / WHISPER_RATE, span["end"] / WHISPER_RATE)
        for span in get_speech_timestamps(audio.samples, vad_options())
    ]


def vad_options():  # -> faster_whisper.vad.VadOptions (imported lazily: it loads onnxruntime)
    from faster_whisper.vad import VadOptions

    return VadOptions()

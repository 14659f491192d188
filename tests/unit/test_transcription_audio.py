"""Reading stored recordings for Whisper: WAV flavours, refusals, resampling, silence."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from transcription.audio import (
    SILENCE_DBFS,
    WHISPER_RATE,
    UnreadableAudio,
    decode_wav,
    read_recording,
    resample,
)


def tone(rate: int, seconds: float, frequency: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * frequency * t)


def pcm16_wav(path: Path, samples: np.ndarray, rate: int = 8000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def wav_bytes(tag: int, channels: int, rate: int, bits: int, data: bytes, *, extensible: bool = False,
              data_size: int | None = None, block: int | None = None) -> bytes:  # fmt: skip
    block = block or channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, bits)
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_asterisk_voicemail_8khz_16bit_mono_becomes_16khz_float32(tmp_path: Path) -> None:
    path = pcm16_wav(tmp_path / "vm.wav", tone(8000, 2.0))
    audio = read_recording(path)
    assert audio.samples.dtype == np.float32
    assert len(audio.samples) == 2 * WHISPER_RATE
    assert (audio.source_rate, audio.source_channels, audio.duration_seconds) == (8000, 1, 2.0)
    # A 0.5 sine is -9 dBFS RMS.
    assert audio.rms_dbfs == pytest.approx(-9.03, abs=0.05)
    assert not audio.silent
    expected = tone(WHISPER_RATE, 2.0)
    assert np.max(np.abs(audio.samples[200:-200] - expected[200:-200])) < 1e-3


def test_stereo_44k_is_mixed_down_and_resampled(tmp_path: Path) -> None:
    left, right = tone(44100, 1.0, 440.0), tone(44100, 1.0, 440.0)
    interleaved = np.column_stack([left, right]).ravel()
    audio = read_recording(pcm16_wav(tmp_path / "s.wav", interleaved, rate=44100, channels=2))
    assert (audio.source_rate, audio.source_channels) == (44100, 2)
    assert len(audio.samples) == WHISPER_RATE
    assert np.max(np.abs(audio.samples[300:-300] - tone(WHISPER_RATE, 1.0)[300:-300])) < 1e-3


@pytest.mark.parametrize(
    ("tag", "bits", "encode"),
    [
        (1, 8, lambda x: (np.round(x * 127) + 128).astype(np.uint8).tobytes()),
        (1, 24, lambda x: b"".join(int(v).to_bytes(3, "little", signed=True) for v in np.round(x * 8388607))),
        (1, 32, lambda x: np.round(x * 2147483647).astype("<i4").tobytes()),
        (3, 32, lambda x: x.astype("<f4").tobytes()),
        (3, 64, lambda x: x.astype("<f8").tobytes()),
    ],
    ids=["pcm8", "pcm24", "pcm32", "float32", "float64"],
)
def test_other_sample_formats_decode_to_the_same_signal(tag: int, bits: int, encode) -> None:
    signal = tone(8000, 0.25)
    rate, channels, values = decode_wav(wav_bytes(tag, 1, 8000, bits, encode(signal)))
    assert (rate, channels, values.shape) == (8000, 1, (2000, 1))
    assert np.max(np.abs(values[:, 0] - signal)) < 0.01


def test_wave_format_extensible_is_read_by_its_sub_format() -> None:
    signal = tone(16000, 0.1)
    _, _, values = decode_wav(wav_bytes(1, 1, 16000, 16, (signal * 32767).astype("<i2").tobytes(), extensible=True))
    assert np.max(np.abs(values[:, 0] - signal)) < 1e-3


def test_g711_mu_law_and_a_law_telephone_samples() -> None:
    # μ-law 0x00 and 0x80 are the extremes (∓32124), 0xFF is zero; A-law 0xAA/0x2A are ±32256.
    _, _, mulaw = decode_wav(wav_bytes(7, 1, 8000, 8, bytes([0x00, 0x80, 0xFF])))
    assert list(np.round(mulaw[:, 0] * 32768)) == [-32124, 32124, 0]
    _, _, alaw = decode_wav(wav_bytes(6, 1, 8000, 8, bytes([0xAA, 0x2A, 0xD5, 0x55])))
    assert list(np.round(alaw[:, 0] * 32768)) == [32256, -32256, 8, -8]


@pytest.mark.parametrize("declared", [0, 10**6], ids=["zero", "past-the-end"])
def test_a_recording_cut_off_before_its_header_was_fixed_is_read_as_far_as_it_goes(declared: int) -> None:
    data = (tone(8000, 0.5) * 32767).astype("<i2").tobytes() + b"\x01"  # and half a sample
    _, _, values = decode_wav(wav_bytes(1, 1, 8000, 16, data, data_size=declared))
    assert values.shape == (4000, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ID3\x03\x00\x00\x00" + b"\x00" * 100, "not a WAV file"),
        (b"", "not a WAV file"),
        (wav_bytes(0x31, 1, 8000, 0, b"\x00" * 65, block=65), "GSM 6.10"),
        (wav_bytes(1, 1, 8000, 16, b""), "holds no samples"),
        (b"RIFF\x04\x00\x00\x00WAVE", "without a format chunk"),
        (wav_bytes(1, 0, 8000, 16, b"\x00\x00"), "corrupt"),
    ],
    ids=["mp3", "empty", "gsm-in-wav", "no-samples", "no-fmt", "zero-channels"],
)
def test_files_that_are_not_readable_audio_are_refused_with_the_reason(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(UnreadableAudio, match=message) as caught:
        read_recording(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_unreadable_audio_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UnreadableAudio, match="gone.wav: cannot read"):
        read_recording(tmp_path / "gone.wav")


def test_wav_without_data_chunk_is_refused() -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    data = b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt)) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    with pytest.raises(UnreadableAudio, match="without a data chunk"):
        decode_wav(data)


def test_upsampling_telephone_audio_leaves_no_mirror_image_above_4khz() -> None:
    # Linear interpolation would put a 5 kHz image of a 3 kHz tone at about -20 dB.
    out = resample(tone(8000, 2.0, 3000.0), 8000, 16000)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    frequencies = np.fft.rfftfreq(len(out), 1 / 16000)
    image = spectrum[np.argmin(np.abs(frequencies - 5000))]
    assert 20 * np.log10(image / spectrum.max()) < -70


def test_downsampling_removes_what_16khz_cannot_hold_instead_of_aliasing_it() -> None:
    signal = tone(48000, 1.0, 440.0) + tone(48000, 1.0, 12000.0)  # 12 kHz would alias to 4 kHz
    out = resample(signal, 48000, 16000)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    frequencies = np.fft.rfftfreq(len(out), 1 / 16000)
    assert 20 * np.log10(spectrum[np.argmin(np.abs(frequencies - 4000))] / spectrum.max()) < -70
    assert len(out) == 16000


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_resampling_keeps_a_tone_and_the_length(rate: int) -> None:
    out = resample(tone(rate, 1.0), rate, 16000)
    assert len(out) == 16000
    assert np.max(np.abs(out[300:-300] - tone(16000, 1.0)[300:-300])) < 1e-3


def test_silence_and_line_hiss_count_as_silent(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    assert read_recording(pcm16_wav(tmp_path / "zero.wav", np.zeros(8000 * 5))).silent
    hiss = rng.normal(0, 10 ** (-65 / 20), 8000 * 5)  # -65 dBFS: a quiet telephone line
    audio = read_recording(pcm16_wav(tmp_path / "hiss.wav", hiss))
    assert audio.silent and audio.loudest_dbfs < SILENCE_DBFS


def test_one_short_word_in_a_long_silence_is_not_silent(tmp_path: Path) -> None:
    samples = np.zeros(8000 * 60)
    samples[8000 * 30 : 8000 * 30 + 4000] = tone(8000, 0.5, 300.0, amplitude=0.03)  # -33 dBFS, half a second
    audio = read_recording(pcm16_wav(tmp_path / "word.wav", samples))
    assert not audio.silent
    assert audio.rms_dbfs < SILENCE_DBFS  # over the whole minute it is very quiet indeed

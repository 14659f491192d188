"""Word error rate and speed of our transcription against plain faster-whisper, in the same run
on the same loaded model; and the time from a finished 60 s voicemail to its queued card.

    nice -n 19 .venv/bin/python bench/transcribe.py [--languages en,fr,es] [--messages N]
                                                    [--seed S] [--threads T] [--show] [--keep]

Run from the repository root: the settings (`load_settings`: ./nachtdienst.toml and
NACHTDIENST_* variables) choose the model, device and threads as the worker would, and
`provision` finds or assembles the model under their data directory. Nothing is downloaded.

Corpus (bench/corpus.py): for each language, `--messages` messages of 20-60 s made at bench
time from Debian's Asterisk core sounds (real human 8 kHz speech; the reference is what the
package's core-sounds-LANG.txt says each prompt says), drawn with `--seed`, written as
Asterisk records voicemail (WAV, 16-bit PCM, mono, 8 kHz) in a temporary directory. Missing
sounds: the bench names the packages to install and exits with 2.

Each message goes through both pipelines on the one model object that
`transcription.model.load_configured` gives the worker (base, CPU int8 with the settings'
threads, by default):
- ours: `transcription.worker.transcribe_file(model, path, Options.from_settings(settings))`
  exactly as the worker runs it (reading and resampling the WAV included);
- baseline: `model.transcribe(str(path))` with faster-whisper's defaults (it decodes the file
  itself with PyAV), its segments consumed.
Language, to be fair: neither is told the message's language. Ours runs as deployed
(configured language, Dutch by default, with detection; English or a language detected with
p >= 0.5 is kept, see the worker's docstring), the baseline with faster-whisper's own
detection. The corpus has no Dutch (Asterisk ships no Dutch core sounds), so this measures
what a French or Spanish caller would get from the line. The languages each side used are
printed per message.
Order: the two alternate which goes first, message by message; one untimed run of each on a
single prompt comes first (the first run of a process loads the VAD and warms caches).
Figures: WER (corpus-level, normalised as bench/corpus.py says), real-time factor =
processing wall seconds / audio seconds (summed per language before dividing), and CPU
seconds of this process per audio second (a check against other load on the machine: with
T threads and no contention, CPU RTF is about T × RTF). Ratios are ours / baseline. The aims
(issue 5): real-time factor <= 0.1 with `base` on 2 cores, WER no worse than the baseline.

Hang-up to card (a 60 s message in the first language): in a temporary data directory with its
own SQLite database (migrated by `open_database`), one engineer with an e-mail address (the
fallback of an empty roster notifies every active engineer) and `notify.smtp_host` set, so the
card is queued as an e-mail. The call's record exists already (the ARI app writes it when the
call starts). Timed from the finished recording's bytes in hand: `line_desk.store_voicemail`
(file, rows, transcription job, "being transcribed" notification; commits) → one
`TranscriptionService.process_next` with the loaded model (claims the job, transcribes,
extracts the card, stores transcript and queued card notification; commits) → the queued
`voicemail_card` e-mail row read back. Not included and printed beside it: fetching the
recording from Asterisk over ARI, the transcription worker's poll interval (it finds a job
within POLL_SECONDS), the notify service's poll interval, and the SMTP send itself (measured
by the notification tests, not here).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import (
    LANGUAGES,
    CorpusTooSmall,
    Message,
    MissingSounds,
    Score,
    SoundSet,
    compose,
    install_hint,
    load_sound_set,
    padded,
    write_message,
)
from core.settings import NotifySettings, Settings, SettingsError, load_settings

DEFAULT_LANGUAGES = "en,fr,es"
DEFAULT_MESSAGES = 3
DEFAULT_SEED = 5
HANG_UP_SECONDS = 60.0
AIM_RTF = 0.10
AIM_HANG_UP_SECONDS = 10.0
ENGINEER_EMAIL = "bench-engineer@example.test"


# --- one message through both pipelines -----------------------------------------------------


@dataclass(frozen=True)
class Run:
    text: str
    language: str | None
    wall: float
    cpu: float
    note: str = ""  # ours: low-confidence / partial, with why


@dataclass
class Totals:
    audio: float = 0.0
    wall: float = 0.0
    cpu: float = 0.0
    score: Score = field(default_factory=Score)

    def add(self, audio: float, run: Run, score: Score) -> None:
        self.audio += audio
        self.wall += run.wall
        self.cpu += run.cpu
        self.score += score

    def __iadd__(self, other: Totals) -> Self:
        self.audio += other.audio
        self.wall += other.wall
        self.cpu += other.cpu
        self.score += other.score
        return self

    @property
    def rtf(self) -> float:
        return self.wall / self.audio

    @property
    def cpu_rtf(self) -> float:
        return self.cpu / self.audio


def timed(work: Callable[[], tuple[str, str | None, str]]) -> Run:
    wall, cpu = time.monotonic(), time.process_time()
    text, language, note = work()
    return Run(text, language, time.monotonic() - wall, time.process_time() - cpu, note)


def ours(model: Any, path: Path, options: Any) -> Run:
    from transcription.worker import transcribe_file

    def work() -> tuple[str, str | None, str]:
        result = transcribe_file(model, path, options)
        flags = [
            name
            for name in ("no_speech", "low_confidence", "partial")
            if getattr(result, name)
        ]
        note = f"{', '.join(flags)}: {'; '.join(result.reasons)}" if flags else ""
        return result.text, result.language, note

    return timed(work)


def baseline(model: Any, path: Path) -> Run:
    def work() -> tuple[str, str | None, str]:
        segments, info = model.transcribe(str(path))
        return " ".join(segment.text.strip() for segment in segments), info.language, ""

    return timed(work)


# --- hang-up to card --------------------------------------------------------------------------


@dataclass(frozen=True)
class HangUp:
    store: float
    transcribe: float
    read_back: float
    subject: str
    attachments: list[str]
    transcript: str
    language: str | None

    @property
    def total(self) -> float:
        return self.store + self.transcribe + self.read_back


def hang_up_to_card(
    settings: Settings,
    model: Any,
    label: str,
    recording: Path,
    data_dir: Path,
    **service_options: Any,
) -> HangUp:
    """One voicemail from finished recording to queued card e-mail (see the module's docstring).
    `service_options` go to TranscriptionService (tests pass a fake `find_speech`)."""
    from sqlalchemy import select

    from core.calls import start_call
    from core.db import open_database
    from core.line_desk import store_voicemail
    from core.models import Engineer, EngineerContact, Notification, Transcript
    from transcription.service import TranscriptionService

    # model_copy: a fresh Settings(...) would let NACHTDIENST_DATABASE_URL point at a real database.
    local = settings.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": f"sqlite:///{data_dir / 'nachtdienst.db'}",
            "notify": NotifySettings(smtp_host="127.0.0.1"),
        }
    )
    sessions = open_database(local)
    try:
        channel = "bench-hang-up"
        with sessions() as session:
            contact = EngineerContact(kind="sip", address="sip:bench@127.0.0.1")
            session.add(
                Engineer(
                    name="Bench Engineer", email=ENGINEER_EMAIL, contacts=[contact]
                )
            )
            start_call(session, channel_id=channel, from_number="0612345678", to_number=local.support_number,
                       at=datetime.now(UTC))  # fmt: skip
            session.commit()
        service = TranscriptionService(
            local, sessions, model, model_label=label, **service_options
        )
        audio = recording.read_bytes()

        started = time.monotonic()
        with sessions() as session:
            stored = store_voicemail(
                session, local, call_channel_id=channel, audio=audio, audio_format="wav", recorded_at=datetime.now(UTC),
                duration_seconds=Decimal(f"{HANG_UP_SECONDS:.2f}"), partial=False, kind="critical",
            )  # fmt: skip
        stored_at = time.monotonic()
        if not service.process_next():
            raise RuntimeError(
                "the transcription service found no job after store_voicemail"
            )
        transcribed_at = time.monotonic()
        with sessions() as session:
            card = session.scalar(
                select(Notification).where(
                    Notification.voicemail_id == stored.voicemail_id,
                    Notification.kind == "voicemail_card",
                    Notification.channel == "email",
                )
            )
            read_at = time.monotonic()
            transcript = session.scalar(
                select(Transcript).where(Transcript.voicemail_id == stored.voicemail_id)
            )
        if card is None or transcript is None:
            raise RuntimeError(
                f"no {'card e-mail' if card is None else 'transcript'} stored for the voicemail"
            )
        return HangUp(stored_at - started, transcribed_at - stored_at, read_at - transcribed_at, card.subject,
                      list(card.attachments), transcript.text, transcript.language)  # fmt: skip
    finally:
        sessions.kw["bind"].dispose()


# --- figures ------------------------------------------------------------------------------------


def ratio(ours_value: float, baseline_value: float) -> str:
    return f"{ours_value / baseline_value:.2f}" if baseline_value else "-"


def print_summary(rows: dict[str, tuple[Totals, Totals]], threads: int) -> None:
    print("\nlanguage | audio | words | WER ours | WER baseline | ratio | RTF ours | RTF baseline | ratio"
          " | CPU s/audio s ours / baseline")  # fmt: skip
    for name, (a, b) in rows.items():
        print(f"{name} | {a.audio:.0f} s | {a.score.words} | {a.score.rate:.1%} | {b.score.rate:.1%} | "
              f"{ratio(a.score.rate, b.score.rate)} | {a.rtf:.3f} | {b.rtf:.3f} | {ratio(a.rtf, b.rtf)} | "
              f"{a.cpu_rtf:.3f} / {b.cpu_rtf:.3f}")  # fmt: skip
    a, b = rows["all"]
    rtf_met = "met" if a.rtf <= AIM_RTF else "NOT met"
    wer_met = "met" if a.score.errors <= b.score.errors else "NOT met"
    print(
        f"aim: real-time factor <= {AIM_RTF} with {threads} threads: {a.rtf:.3f} ({rtf_met})"
    )
    print(f"aim: WER no worse than the baseline: {a.score.rate:.1%} ({a.score.errors} errors) vs {b.score.rate:.1%} "
          f"({b.score.errors} errors) in {a.score.words} words ({wer_met})")  # fmt: skip


def print_hang_up(result: HangUp) -> None:
    from core.notify.service import POLL_INTERVAL_S
    from transcription.service import POLL_SECONDS

    met = (
        "met"
        if result.total + POLL_SECONDS + POLL_INTERVAL_S < AIM_HANG_UP_SECONDS
        else "NOT met"
    )
    print(f"\nhang-up to card, {HANG_UP_SECONDS:.0f} s message: {result.total:.2f} s "
          f"(store_voicemail {result.store * 1000:.0f} ms, transcription + card stored {result.transcribe:.2f} s, "
          f"card read back {result.read_back * 1000:.0f} ms)")  # fmt: skip
    print(f"  not included: worker poll <= {POLL_SECONDS} s, notify poll <= {POLL_INTERVAL_S} s, the ARI fetch of the "
          f"recording, and the SMTP send (measured elsewhere)")  # fmt: skip
    print(f"  aim: caller's hang-up to the e-mail < {AIM_HANG_UP_SECONDS:.0f} s: {result.total:.2f} s + polls "
          f"<= {result.total + POLL_SECONDS + POLL_INTERVAL_S:.2f} s before the send ({met})")  # fmt: skip
    print(f"  card e-mail queued: {result.subject!r}, attachments {result.attachments}; transcript ({result.language}): "
          f"{result.transcript[:100]!r}…")  # fmt: skip


def compare(
    model: Any, options: Any, messages: list[tuple[Message, Path]], *, show: bool
) -> dict[str, tuple[Totals, Totals]]:
    """Each message through both pipelines, the one that goes first alternating; totals (ours,
    baseline) per language name and for "all". Prints a line per message."""
    rows: dict[str, tuple[Totals, Totals]] = {}
    print("\nmessage | audio | ours: RTF, WER, language | baseline: RTF, WER, language")
    for index, (message, path) in enumerate(messages):
        order = ("ours", "baseline") if index % 2 == 0 else ("baseline", "ours")
        runs = {
            name: ours(model, path, options)
            if name == "ours"
            else baseline(model, path)
            for name in order
        }
        scores = {
            name: Score().add(message.reference, run.text, message.language)
            for name, run in runs.items()
        }
        totals = rows.setdefault(LANGUAGES[message.language].name, (Totals(), Totals()))
        for total, name in zip(totals, ("ours", "baseline"), strict=True):
            total.add(message.seconds, runs[name], scores[name])
        a, b = runs["ours"], runs["baseline"]
        print(f"{path.stem} | {message.seconds:.1f} s | {a.wall / message.seconds:.3f}, {scores['ours'].rate:.1%}, {a.language}"
              f" | {b.wall / message.seconds:.3f}, {scores['baseline'].rate:.1%}, {b.language}"
              + (f" | ours {a.note}" if a.note else ""))  # fmt: skip
        if show:
            print(
                f"  reference: {message.reference}\n  ours:      {a.text}\n  baseline:  {b.text}"
            )
    all_ours, all_baseline = Totals(), Totals()
    for a_total, b_total in rows.values():
        all_ours += a_total
        all_baseline += b_total
    rows["all"] = (all_ours, all_baseline)
    return rows


# --- the run ------------------------------------------------------------------------------------


def build_corpus(
    codes: list[str], count: int, seed: int, directory: Path
) -> tuple[dict[str, SoundSet], list[tuple[Message, Path]]]:
    """Sound sets and the messages, written under `directory`. Raises MissingSounds."""
    sets = {code: load_sound_set(code) for code in codes}
    written = []
    for code, sounds in sets.items():
        # Seeded per language: adding a language leaves the others' messages as they were.
        for index, message in enumerate(
            compose(code, sounds.prompts, count, random.Random(f"{seed}:{code}")), 1
        ):
            written.append(
                (message, write_message(message, directory / f"{code}-{index}.wav"))
            )
    return sets, written


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--languages", default=DEFAULT_LANGUAGES,
                        help=f"comma-separated, of {', '.join(LANGUAGES)} (default {DEFAULT_LANGUAGES})")  # fmt: skip
    parser.add_argument(
        "--messages",
        type=int,
        default=DEFAULT_MESSAGES,
        help=f"per language (default {DEFAULT_MESSAGES})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"corpus drawing (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads of the model (default: transcription.threads)",
    )
    parser.add_argument(
        "--show", action="store_true", help="print each reference and both transcripts"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (messages, database)",
    )
    args = parser.parse_args()
    codes = [code.strip() for code in args.languages.split(",") if code.strip()]
    unknown = [code for code in codes if code not in LANGUAGES]
    if unknown or not codes or args.messages < 1:
        parser.error(f"--languages: {', '.join(unknown) or 'none given'}; one or more of {', '.join(LANGUAGES)}"
                     if unknown or not codes else "--messages: at least 1")  # fmt: skip

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    transcription = settings.transcription
    if args.threads is not None:
        transcription = transcription.model_copy(update={"threads": args.threads})
    settings = settings.model_copy(
        update={"transcription": transcription, "log_level": "warning"}
    )

    from core.logging import configure_logging
    from transcription.model import ModelUnavailable, load_configured, provision
    from transcription.worker import Options

    configure_logging(settings)
    work = Path(tempfile.mkdtemp(prefix="nd-bench-transcribe-"))
    started = time.monotonic()
    try:
        try:
            sets, messages = build_corpus(codes, args.messages, args.seed, work)
            hang_up_message = padded(
                compose(codes[0], sets[codes[0]].prompts, 1, random.Random(f"{args.seed}:hang-up"),
                        shortest=HANG_UP_SECONDS - 5, longest=HANG_UP_SECONDS)[0],
                HANG_UP_SECONDS,
            )  # fmt: skip
            hang_up_file = write_message(hang_up_message, work / "hang-up.wav")
        except MissingSounds as exc:
            print(
                f"error: {exc}\nall languages asked for: `{install_hint(codes)}`",
                file=sys.stderr,
            )
            return 2
        except CorpusTooSmall as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for sounds in sets.values():
            print(f"{sounds.language.name}: {len(sounds.prompts)} usable prompts in {sounds.directory} "
                  f"(text {sounds.text_file}; excluded {sum(sounds.excluded.values())}, unreadable lines {len(sounds.skipped)})")  # fmt: skip
        audio_total = sum(message.seconds for message, _ in messages)
        print(f"corpus: {len(messages)} messages, {audio_total:.0f} s, {', '.join(f'{m.seconds:.0f}' for m, _ in messages)} s"
              f" (seed {args.seed}) in {work}")  # fmt: skip

        try:
            model_path = provision(settings)
            choice, model = load_configured(settings, model_path)
        except ModelUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        options = Options.from_settings(settings)
        print(f"model {choice.label} ({model_path}) on {choice.device}, {choice.compute_type}, {choice.threads} threads; "
              f"{os.cpu_count()} cores, niceness {os.nice(0)}, load average {os.getloadavg()[0]:.2f}; ours: configured "
              f"language {options.language}, time budget {options.time_budget:g}× audio; baseline: faster-whisper defaults")  # fmt: skip

        warm_up = sets[codes[0]].prompts[0].path
        ours(model, warm_up, options)
        baseline(model, warm_up)

        rows = compare(model, options, messages, show=args.show)
        print_summary(rows, choice.threads)

        print_hang_up(
            hang_up_to_card(settings, model, choice.label, hang_up_file, work / "data")
        )
        print(
            f"\nwhole run {time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}"
        )
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

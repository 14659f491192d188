"""Concurrent calls through the line's call flow to engineer phones that accept, against a plain
dialplan `Dial()` to the same phones, in the same run.

    .venv/bin/python bench/calls.py [--concurrency 10,25,50] [--calls N] [--rate 10] [--talk 10]
                                    [--root DIR] [--keep]

A private line (SIP 25060, ARI 28088, RTP 41000-41998, own data directory in a temporary
directory) is started with the project's own commands, as tests/e2e/line.py does: the office
closed by a closure, one customer whose phones are the callers' numbers (so nobody keys in a
customer number), a roster of one engineer whose contact is the bench's phone. For each
concurrency level L, two phases, each one SIPp caller placing L calls (or `--calls`) at
`--rate` calls a second with at most L at once, and one SIPp "engineer phones" UAS (sip:bench@127.0.0.1:25080)
answering every INVITE after 0.2 s, pressing 1 after 1 s and hanging up `--talk` s after
answering (the line then hangs up the caller, who answers the BYE):

- app: the callers dial the support number; each presses 1 two seconds into the greeting;
  the flow says "connecting" and rings the phone, whose 1 accepts; caller and engineer talk.
- baseline: the callers dial 0497000000, which a local dialplan file (extensions_local.conf,
  written by this script into the line's own configuration and loaded with `dialplan reload`)
  routes straight to `Dial(PJSIP/engineer-phone/<the phone>)`: the endpoint the app rings
  through too.

Ring delay, per call; all clocks are this machine's wall clock:
- baseline: the caller's INVITE (sent, caller's SIPp message trace) to the engineer's INVITE
  (received, the phone's SIPp message trace).
- app, "from ring": the `ring_step` step of the call's record (the moment the flow decides to
  ring the first escalation step, written by the app with its own clock) to the engineer's
  INVITE. This is the figure the ratio uses.
- app, "from the caller's 1": the `consent` step (the app has the caller's 1) to the engineer's
  INVITE. It includes the "connecting" prompt the flow plays before ringing, by design; the
  bench prints its length and the delay beyond it too.
Caller and engineer legs are matched by number: the engineer's INVITE carries the caller's
number in From (the app sets it as the leg's caller ID; Dial passes it on), the last nine
digits of which name the caller (every call has its own number).

Failures: a call fails when its record's outcome is not `answered` (app), when the caller got
no 200 or no BYE, when the phone got no INVITE for it, or when SIPp counts it failed. The most
concurrent calls held is the largest level whose app phase had no failure; each level also
shows the most calls connected at the same moment (records: `connected` step to `ended_at`).
Two warm-up calls through the app come first and are not counted (the app's first call
imports and caches what every later one uses).

The app's CPU seconds (utime + stime of `nachtdienst service ari`, /proc/<pid>/stat) and
memory (VmRSS sampled every 0.2 s; peak growth over its resident size before the phase) are
taken around each app phase and divided by the calls; Asterisk's CPU seconds per call are
shown for both phases, for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import sipp  # noqa: E402
from tests.e2e.line import NACHTDIENST, Line, line_environment  # noqa: E402

SIP_PORT, ARI_PORT, RTP_START = 25060, 28088, 41000
PHONE_PORT, PHONE_MEDIA_PORT, CALLER_MEDIA_PORT = 25080, 27000, 26000
PHONE_URI = f"sip:bench@127.0.0.1:{PHONE_PORT}"
SUPPORT_NUMBER = "0497842611"  # the line's default
BASELINE_NUMBER = "0497000000"
KEY_AT = 2.0  # the caller presses 1 this long into the greeting
ACCEPT_AT = 1.0  # the engineer presses 1 this long after answering
ANSWER_AFTER = 0.2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

BASELINE_DIALPLAN = f"""; Written by bench/calls.py: the baseline, a plain Dial() to the bench's phone.
[from-trunk](+)
exten => {BASELINE_NUMBER},1,Dial(PJSIP/engineer-phone/{PHONE_URI},30)
 same => n,Hangup()
"""


# --- SIPp message traces -----------------------------------------------------------------------


@dataclass
class Message:
    at: float  # epoch seconds
    sent: bool
    first_line: str
    headers: dict[str, str]

    @property
    def number(self) -> str:
        """The last nine digits of the From user: which caller's call this is."""
        user = re.search(r"sip:([^@;>]+)", self.headers.get("from", ""))
        digits = re.sub(r"\D", "", user.group(1)) if user else ""
        return digits[-9:]

    @property
    def call_id(self) -> str:
        return self.headers.get("call-id", "")

    def is_request(self, method: str) -> bool:
        return self.first_line.startswith(f"{method} ")

    def is_response(self, code: int, method: str) -> bool:
        return self.first_line.startswith(f"SIP/2.0 {code}") and self.headers.get("cseq", "").upper().endswith(method)


_SEPARATOR = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s*$", re.M)


def read_trace(run: sipp.SippRun) -> list[Message]:
    """Every message of a SIPp `-trace_msg` log, with its time (SIPp writes local time)."""
    text = (run.workdir / "messages.log").read_text(errors="replace")
    parts = _SEPARATOR.split(text)
    messages = []
    for stamp, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip("\n").splitlines()
        if not lines:
            continue
        sent = "sent" in lines[0]
        sip = [line for line in lines[1:] if line.strip()]
        if not sip:
            continue
        headers: dict[str, str] = {}
        for line in sip[1:]:
            name, colon, value = line.partition(":")
            if not colon or not value:
                break  # the body starts
            headers.setdefault(name.strip().lower(), value.strip())
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").astimezone().timestamp()
        messages.append(Message(at, sent, sip[0].strip(), headers))
    return messages


def first_by_number(messages: list[Message], keep) -> dict[str, Message]:
    """The first message of each caller's number that `keep` accepts (retransmissions aside)."""
    found: dict[str, Message] = {}
    for message in messages:
        if keep(message) and message.number not in found:
            found[message.number] = message
    return found


# --- the app's process -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_kib(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


class PeakMemory:
    """The app's highest VmRSS while the `with` block runs, sampled every 0.2 s."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, memory_kib(self.pid))
            self._stop.wait(0.2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- one phase ----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    calls: int
    level: int  # at most this many at once
    delays: list[float] = field(default_factory=list)  # ring delay, seconds (app: from ring_step)
    key_delays: list[float] = field(default_factory=list)  # app: from the caller's 1
    failures: list[str] = field(default_factory=list)
    held: int = 0  # most calls connected at one moment
    app_cpu: float = 0.0
    app_rss_before: int = 0
    app_rss_peak: int = 0
    asterisk_cpu: float = 0.0
    wall: float = 0.0


def _numbers(prefix: str, level: int, offset: int) -> list[str]:
    return [f"{prefix}{offset + i:07d}" for i in range(level)]


def run_phase(line: Line, name: str, level: int, numbers: list[str], args, pids: tuple[int, int], keep: Path | None) -> Phase:
    """One phase: a call from each of `numbers`, at most `level` at once, to the app (name
    "app") or to the Dial() baseline."""
    app_pid, asterisk_pid = pids
    phase = Phase(name, len(numbers), level)
    timeout = len(numbers) / args.rate + 2 * args.talk + 90
    phones = sipp.engineer_phones(calls=len(numbers), port=PHONE_PORT, media_port=PHONE_MEDIA_PORT, answer_after=ANSWER_AFTER,
                                  digits=[(ACCEPT_AT, "1")], talk=args.talk, timeout=timeout)  # fmt: skip
    app_cpu, asterisk_cpu = cpu_seconds(app_pid), cpu_seconds(asterisk_pid)
    phase.app_rss_before = memory_kib(app_pid)
    started = time.monotonic()
    try:
        with PeakMemory(app_pid) as peak:
            callers = sipp.place_calls(
                line.pbx_address, from_numbers=numbers, concurrency=level, rate=args.rate, media_port=CALLER_MEDIA_PORT,
                to=SUPPORT_NUMBER if name == "app" else BASELINE_NUMBER, dtmf=[(KEY_AT, "1")],
                wait_for_bye=args.talk + 60, timeout=timeout,
            )  # fmt: skip
            callers.wait(timeout + 10)
            phones.wait(30)
    finally:
        phones.stop()
    phase.wall = time.monotonic() - started
    phase.app_cpu = cpu_seconds(app_pid) - app_cpu
    phase.asterisk_cpu = cpu_seconds(asterisk_pid) - asterisk_cpu
    phase.app_rss_peak = peak.peak

    for run in (callers, phones):
        stats = sipp.sipp_statistics(run)
        failed = int(stats.get("FailedCall(C)", "0") or 0)
        if failed:
            phase.failures.append(f"SIPp {run.label}: {failed} failed calls ({_failure_counters(stats)})")
    caller_trace, phone_trace = read_trace(callers), read_trace(phones)
    _traces_of(f"{level}-{name}", callers, phones, keep)
    invites = first_by_number(caller_trace, lambda m: m.sent and m.is_request("INVITE"))
    answers = first_by_number(caller_trace, lambda m: not m.sent and m.is_response(200, "INVITE"))
    # The line's BYE has the line in From: the caller's own call (by Call-ID) names it.
    number_of_call = {m.call_id: number for number, m in invites.items()}
    byes = {number_of_call[m.call_id]: m for m in caller_trace if not m.sent and m.is_request("BYE") and m.call_id in number_of_call}
    rung = first_by_number(phone_trace, lambda m: not m.sent and m.is_request("INVITE"))
    keys = {number[-9:]: number for number in numbers}
    for key, number in keys.items():
        missing = [what for what, seen in (("INVITE sent", invites), ("200", answers), ("BYE", byes), ("phone rung", rung)) if key not in seen]
        if missing:
            phase.failures.append(f"{name} call from {number}: no {', no '.join(missing)}")
    if name == "baseline":
        phase.delays = [rung[key].at - invites[key].at for key in keys if key in rung and key in invites]
        return phase

    records = {call["from_number"][-9:]: call for call in _wait_records(line, set(numbers))}
    connected: list[tuple[float, float]] = []
    for key, number in keys.items():
        call = records.get(key)
        if call is None:
            phase.failures.append(f"app call from {number}: no record")
            continue
        if call["outcome"] != "answered":
            phase.failures.append(f"app call from {number}: {call['outcome']} ({call['outcome_detail']}), last step {call['steps'][-1]['step']}")
        steps = {step["step"]: datetime.fromisoformat(step["at"]).timestamp() for step in call["steps"]}
        if key in rung and "ring_step" in steps:
            phase.delays.append(rung[key].at - steps["ring_step"])
        if key in rung and "consent" in steps:
            phase.key_delays.append(rung[key].at - steps["consent"])
        if "connected" in steps and call["ended_at"]:
            connected.append((steps["connected"], datetime.fromisoformat(call["ended_at"]).timestamp()))
    phase.held = _most_at_once(connected)
    return phase


def _traces_of(name: str, callers: sipp.SippRun, phones: sipp.SippRun, keep: Path | None) -> None:
    """Keep SIPp's working directories under `keep` (--keep), else remove them."""
    for run in (callers, phones):
        if keep is not None:
            shutil.move(run.workdir, keep / f"{name}-{run.label}")
        else:
            shutil.rmtree(run.workdir, ignore_errors=True)


def _failure_counters(stats: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in stats.items() if k.startswith("Failed") and k.endswith("(C)") and v not in ("", "0"))


def _wait_records(line: Line, numbers: set[str], timeout: float = 30.0) -> list[dict]:
    """The finished records of the calls from `numbers` (the app writes them as calls end)."""
    deadline = time.monotonic() + timeout
    while True:
        calls = [c for c in line.json("calls", "list", "--json", "--limit", "1000") if c["from_number"] in numbers]
        if (len(calls) == len(numbers) and all(c["ended_at"] for c in calls)) or time.monotonic() > deadline:
            return calls
        time.sleep(0.5)


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = now = 0
    for _, change in edges:
        now += change
        most = max(most, now)
    return most


# --- the line ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def install_baseline(line: Line) -> Path:
    """The Dial() extension in the line's own extensions_local.conf, loaded at once."""
    from core.settings import load_settings
    from pbx import control

    with _environment(line.env):
        settings = load_settings()
        state = control.running_state(settings)
        assert state is not None, "the bench's PBX is not running"
        installation = state.installation
        dirs = control.instance_dirs(settings, installation)
        local = installation.host_path(dirs.etc) / "extensions_local.conf"
        local.write_text(BASELINE_DIALPLAN)
        control.cli_command(settings, "dialplan reload")
        shown = control.cli_command(settings, "dialplan show from-trunk")
        prompt = installation.host_path(control.prompts_dir(dirs)) / "nl" / "connecting.wav"
    if f"'{BASELINE_NUMBER}'" not in shown:
        raise SystemExit(f"the baseline extension did not load:\n{shown}")
    return prompt


def make_line(work: Path, root: Path | None = None) -> Line:
    data_dir = work / "data"
    line = Line(env=line_environment(data_dir, sip_port=SIP_PORT, ari_port=ARI_PORT, rtp_start=RTP_START),
                data_dir=data_dir, sip_port=SIP_PORT, ari_port=ARI_PORT)  # fmt: skip
    line.env["NACHTDIENST_LOG_FORMAT"] = "json"
    if root is not None:
        line.env["NACHTDIENST_PBX__ROOT_DIR"] = str(root)
    return line


def start_line(line: Line, callers: list[str]) -> tuple[subprocess.Popen, int]:
    """Data, `pbx start` and `service ari`, as a user runs them; the app and Asterisk's pid."""
    data_dir = line.data_dir
    line.cli("engineers", "add", "Bench Engineer", "--contact", PHONE_URI)
    monday = date.today() - timedelta(days=date.today().weekday() + 7)
    line.cli("roster", "set", "--start", monday.isoformat(), "--primary", "Bench Engineer", "--yes")
    line.cli("hours", "closure", "add", "--from", "2000-01-01T00:00", "--to", "2100-01-01T00:00", "--reason", "bench: after hours")
    phones = [arg for number in callers for arg in ("--phone", number)]
    line.cli("customers", "add", "Bench Customer", "--number", "9001", *phones)
    line.cli("pbx", "start", timeout=900)
    log = open(data_dir / "ari-app.log", "w")  # noqa: SIM115 (closed with the process)
    app = subprocess.Popen([str(NACHTDIENST), "service", "ari"], env=line.env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            line.ari("GET", "/applications/nachtdienst")
            break
        except OSError:
            if app.poll() is not None or time.monotonic() > deadline:
                app.kill()
                tail = (data_dir / "ari-app.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"`nachtdienst service ari` did not come up:\n{tail}") from None
            time.sleep(0.2)
    asterisk_pid = json.loads((data_dir / "pbx" / "state.json").read_text())["pid"]
    return app, asterisk_pid


def stop_line(line: Line, app: subprocess.Popen | None) -> None:
    if app is not None:
        app.terminate()
        try:
            app.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.kill()
    line.cli("pbx", "stop", check=False)


# --- figures -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 50 values is the largest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def report(level: int, app: Phase, base: Phase, prompt_seconds: float) -> None:
    print(f"\n== {level} concurrent calls ==")
    for phase in (app, base):
        state = "no failures" if not phase.failures else f"{len(phase.failures)} failures"
        print(f"{phase.name:8}: {phase.calls} calls in {phase.wall:.0f} s, {state}"
              + (f", {phase.held} connected at once" if phase.name == "app" else ""))  # fmt: skip
        for failure in phase.failures[:8]:
            print(f"          {failure}")
    if app.delays and base.delays:
        a50, a99, b50, b99 = (percentile(app.delays, 50), percentile(app.delays, 99),
                              percentile(base.delays, 50), percentile(base.delays, 99))  # fmt: skip
        print(f"ring delay, app from ring_step: p50 {ms(a50)}  p99 {ms(a99)}  ({len(app.delays)} calls)")
        print(f"ring delay, Dial() baseline:    p50 {ms(b50)}  p99 {ms(b99)}  ({len(base.delays)} calls)")
        print(f"ratio app/baseline: p50 {a50 / b50:.2f}  p99 {a99 / b99:.2f}"
              + ("  (the baseline had failures: its delays are not a fair floor)" if base.failures else ""))
    if app.key_delays:
        k50, k99 = percentile(app.key_delays, 50), percentile(app.key_delays, 99)
        print(f"ring delay, app from the caller's 1: p50 {k50:.2f} s  p99 {k99:.2f} s; beyond the "
              f"{prompt_seconds:.2f} s 'connecting' prompt: p50 {ms(k50 - prompt_seconds)}  p99 {ms(k99 - prompt_seconds)}")
    print(f"app CPU: {app.app_cpu:.2f} s = {app.app_cpu / app.calls * 1000:.0f} ms per call; "
          f"memory: {app.app_rss_before / 1024:.0f} MiB before, peak {app.app_rss_peak / 1024:.0f} MiB "
          f"= {(app.app_rss_peak - app.app_rss_before) / app.level:.0f} KiB per concurrent call")
    print(f"Asterisk CPU per call: app {app.asterisk_cpu / app.calls * 1000:.0f} ms, baseline "
          f"{base.asterisk_cpu / base.calls * 1000:.0f} ms")


def summary(results: list[tuple[int, Phase, Phase]], prompt_seconds: float) -> None:
    """One line per level, for the README."""
    held = max((level for level, app, _ in results if not app.failures), default=0)
    print(f"\nmost concurrent calls the app held with zero failures: {held or 'none'} (levels {[r[0] for r in results]})")
    print("level | app ring delay p50/p99 | Dial() p50/p99 | ratio p50/p99 | from the caller's 1, p50 | failures app/Dial"
          " | app CPU per call | app peak RSS")
    for level, app, base in results:
        if app.delays and base.delays:
            a50, a99, b50, b99 = (percentile(app.delays, 50), percentile(app.delays, 99),
                                  percentile(base.delays, 50), percentile(base.delays, 99))  # fmt: skip
            delays = f"{ms(a50)} / {ms(a99)} | {ms(b50)} / {ms(b99)} | {a50 / b50:.2f} / {a99 / b99:.2f}"
        else:
            delays = "- | - | -"
        key = f"{percentile(app.key_delays, 50):.2f} s" if app.key_delays else "-"
        print(f"{level} | {delays} | {key} | {len(app.failures)}/{len(base.failures)} | {app.app_cpu / app.calls * 1000:.0f} ms"
              f" | {app.app_rss_peak / 1024:.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", default="10,25,50", help="levels of concurrent calls, e.g. 10,25,50")
    parser.add_argument("--calls", type=int, default=0, help="calls per level and phase (default: as many as the level)")
    parser.add_argument("--rate", type=float, default=10.0, help="new calls a second (default 10)")
    parser.add_argument("--talk", type=float, default=10.0, help="seconds the engineer stays on after answering (default 10)")
    parser.add_argument("--root", type=Path, help="another Debian root with Asterisk (default: the tests' data/asterisk-root)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, traces)")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    print(f"{os.cpu_count()} cores; levels {levels}; {args.rate:g} calls/s; engineer talks {args.talk:g} s")
    work = Path(tempfile.mkdtemp(prefix="nd-bench-calls-"))
    line, app = make_line(work, args.root), None
    started = time.monotonic()
    try:
        per_level = [args.calls or level for level in levels]
        app, asterisk_pid = start_line(line, _numbers("062", sum(per_level), 0) + _numbers("064", 2, 0))
        prompt = install_baseline(line)
        with wave.open(str(prompt)) as audio:
            prompt_seconds = audio.getnframes() / audio.getframerate()
        print(f"line ready in {time.monotonic() - started:.0f} s (data in {work})")
        keep = work if args.keep else None
        # Two calls first, not counted: the app's first call imports and caches what every
        # later call uses, which is no cost per call.
        warm = run_phase(line, "app", 2, _numbers("064", 2, 0), args, (app.pid, asterisk_pid), keep)
        print(f"warm-up: 2 calls, {len(warm.failures) or 'no'} failures; app at {memory_kib(app.pid) / 1024:.0f} MiB")
        results = []
        offset = 0
        for level, calls in zip(levels, per_level, strict=True):
            pids = (app.pid, asterisk_pid)
            app_phase = run_phase(line, "app", level, _numbers("062", calls, offset), args, pids, keep)
            base_phase = run_phase(line, "baseline", level, _numbers("063", calls, offset), args, pids, keep)
            offset += calls
            report(level, app_phase, base_phase, prompt_seconds)
            results.append((level, app_phase, base_phase))
        summary(results, prompt_seconds)
        print(f"app VmHWM {memory_kib(app.pid, 'VmHWM') / 1024:.0f} MiB; whole run {time.monotonic() - started:.0f} s")
        return 0
    finally:
        stop_line(line, app)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

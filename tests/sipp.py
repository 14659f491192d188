"""SIPp as a real caller and as an engineer's phone, with scenarios written per test.

A caller dials the support number from a given number, may stream a WAV into the call, send
RFC 2833 DTMF at given moments and hang up after N seconds (or wait for the PBX to hang up).
An engineer's phone answers after N seconds and presses digits, never answers, answers busy
(486), or answers and stays silent. Every run keeps SIPp's message log, from which the result
(the responses the INVITE got, who hung up) is read.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
DTMF_PCAPS = Path("/usr/share/sip-tester")
_DTMF_CACHE = Path(tempfile.gettempdir()) / "nachtdienst-dtmf-2"  # bump when the rewrite changes
DTMF_LENGTH = 0.3  # seconds one digit's RTP events take, as recorded in the pcaps

_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
"""


def _dtmf_pcap(digit: str, nth: int) -> Path:
    """The RTP events of `digit` as the `nth` key of a call. Debian's recordings carry fixed
    RTP sequence numbers and timestamps, and the PBX drops an event whose numbers it has seen
    or passed (a repeat, or a late packet): each key of a call gets its own, rising ones."""
    name = {"#": "pound", "*": "star"}.get(digit, digit)
    source = DTMF_PCAPS / f"dtmf_2833_{name}.pcap"
    if not source.exists():
        raise ValueError(f"no RTP event recording for digit {digit!r} ({source})")
    target = _DTMF_CACHE / f"{name}-{nth}.pcap"
    if not target.exists():
        _DTMF_CACHE.mkdir(parents=True, exist_ok=True)
        data = bytearray(source.read_bytes())
        offset, first = 24, None  # pcap file header; packets are Ethernet + IPv4 + UDP + RTP
        while offset < len(data):
            length = struct.unpack_from("<I", data, offset + 8)[0]
            rtp = offset + 16 + 42
            sequence, timestamp = struct.unpack_from(">HI", data, rtp + 2)
            first = first or (sequence, timestamp)
            # Every recording starts at its own numbers; a call's keys must only go up.
            struct.pack_into(">HI", data, rtp + 2, 10000 + 100 * nth + sequence - first[0],
                             100000 + 16000 * nth + timestamp - first[1])  # fmt: skip
            offset += 16 + length
        partial = target.with_suffix(f".{uuid.uuid4().hex}")
        partial.write_bytes(bytes(data))
        partial.replace(target)
    return target


def _media_actions(wav: Path | None, dtmf: list[tuple[float, str]], total: float, loops: int = 1) -> str:
    """Pauses, audio and digits laid out on the call's time line, `total` seconds long; the
    audio is played `loops` times (-1: for as long as the call lasts)."""
    parts = []
    if wav is not None:
        parts.append(f'<nop><action><exec rtp_stream="{escape(str(wav))},{loops},0"/></action></nop>')
    now = 0.0
    nth = 0
    for at, digits in sorted(dtmf):
        for digit in digits:
            if at > now:
                parts.append(f'<pause milliseconds="{int((at - now) * 1000)}"/>')
                now = at
            # Two RTP sources interleaved confuse the PBX's event detection (a digit is
            # heard over and over): the audio stream pauses while a digit is sent.
            if wav is not None:
                parts.append('<nop><action><exec rtp_stream="pause"/></action></nop>')
            parts.append(f'<nop><action><exec play_pcap_audio="{_dtmf_pcap(digit, nth)}"/></action></nop>')
            nth += 1
            parts.append(f'<pause milliseconds="{int(DTMF_LENGTH * 1000)}"/>')
            if wav is not None:
                parts.append('<nop><action><exec rtp_stream="resume"/></action></nop>')
            now += DTMF_LENGTH
            at = now
    if total > now:
        parts.append(f'<pause milliseconds="{int((total - now) * 1000)}"/>')
    return "\n".join(parts)


def caller_scenario(
    *,
    wav: Path | None = None,
    dtmf: list[tuple[float, str]] = (),
    hangup_after: float | None = 5.0,
    wait_for_bye: float | None = None,
    wav_loops: int = 1,
) -> str:
    """A UAC: INVITE, accept whatever final answer comes. When answered: media for
    `hangup_after` seconds and then BYE, or (hangup_after=None) wait up to `wait_for_bye`
    seconds for the PBX to hang up."""
    media = _media_actions(wav, list(dtmf), hangup_after or 0.0, wav_loops)
    if hangup_after is not None:
        ending = f"""
  {media}
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>"""
    else:
        ending = f"""
  {media}
  <recv request="BYE" timeout="{int((wait_for_bye or 60) * 1000)}"/>
{_reply("200 OK", to_tag=False)}"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="nachtdienst caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{_SDP}]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="401" optional="true" next="rejected"/>
  <recv response="403" optional="true" next="rejected"/>
  <recv response="404" optional="true" next="rejected"/>
  <recv response="480" optional="true" next="rejected"/>
  <recv response="486" optional="true" next="rejected"/>
  <recv response="488" optional="true" next="rejected"/>
  <recv response="503" optional="true" next="rejected"/>
  <recv response="603" optional="true" next="rejected"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
{ending}
  <nop next="end"/>
  <label id="rejected"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <label id="end"/>
</scenario>
"""


def _reply(status: str, *, to_tag: bool = True, contact: bool = False, cseq: str = "[last_CSeq:]", sdp: bool = False) -> str:
    """A `<send>` of a response to the last request received."""
    headers = ["[last_Via:]", "[last_From:]", "[last_To:]" + (";tag=[pid]SIPpTag01[call_number]" if to_tag else ""),
               "[last_Call-ID:]", cseq]
    if contact:
        headers.append("Contact: <sip:[local_ip]:[local_port];transport=[transport]>")
    if sdp:
        headers += ["Content-Type: application/sdp", "Content-Length: [len]", "", _SDP]
    else:
        headers += ["Content-Length: 0", "", ""]
    retrans = ' retrans="500"' if sdp else ""
    return f"  <send{retrans}><![CDATA[\nSIP/2.0 {status}\n" + "\n".join(headers) + "]]></send>\n"


# A UAS that hangs up itself: the INVITE's From and To (without the tag we add), and the
# PBX's Contact to send the BYE to.
_REMEMBER_DIALOG = """    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="their_party"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="our_party"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="their_contact"/>
    </action>
"""
_UAS_BYE = """  <send retrans="500"><![CDATA[
BYE [$their_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$our_party];tag=[pid]SIPpTag01[call_number]
To: [$their_party]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
"""


def engineer_scenario(
    behaviour: str, *, answer_after: float = 1.0, digits: list[tuple[float, str]] = (), stay: float = 120.0,
    hangup_after: float | None = None,
) -> str:  # fmt: skip
    """A UAS for one call. behaviour: `answer` (after `answer_after` s, then press `digits`
    at seconds after answering), `silent` (answer, press nothing), `never` (ring until the
    PBX cancels), `busy` (486 at once). Answered, it waits for the PBX's BYE, or with
    `hangup_after` hangs up itself that many seconds after answering (unless the PBX's BYE
    comes first)."""
    head = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="nachtdienst engineer phone">\n'
    if hangup_after is None:
        head += '  <recv request="INVITE" crlf="true"/>\n' + _reply("100 Trying")
    else:  # SIPp refuses variables it does not use: only a phone that hangs up keeps them
        head += '  <recv request="INVITE" crlf="true">\n' + _REMEMBER_DIALOG + "  </recv>\n" + _reply("100 Trying")
    if behaviour == "busy":
        body = _reply("486 Busy Here") + '  <recv request="ACK"/>\n'
    elif behaviour == "never":
        body = (
            _reply("180 Ringing", contact=True)
            + f'  <recv request="CANCEL" timeout="{int(stay * 1000)}"/>\n'
            + _reply("200 OK")
            + _reply("487 Request Terminated", cseq="CSeq: [cseq] INVITE")
            + '  <recv request="ACK"/>\n'
        )
    elif behaviour in ("answer", "silent"):
        presses = list(digits) if behaviour == "answer" else []
        body = (
            _reply("180 Ringing", contact=True)
            + f'  <pause milliseconds="{int(answer_after * 1000)}"/>\n'
            + _reply("200 OK", contact=True, sdp=True)
            + '  <recv request="ACK" crlf="true"/>\n'
            + _media_actions(None, presses, 0.0)
        )
        if hangup_after is None:
            body += f'\n  <recv request="BYE" timeout="{int(stay * 1000)}"/>\n' + _reply("200 OK", to_tag=False)
        else:
            pressed_until = max((at for at, _ in presses), default=0.0)
            # The PBX may hang up first: its BYE is answered; otherwise ours goes at the time.
            body += (
                f'\n  <recv request="BYE" timeout="{int(max(0.0, hangup_after - pressed_until) * 1000)}"'
                ' ontimeout="hang_up" next="answer_bye"/>\n'
                '  <label id="hang_up"/>\n' + _UAS_BYE + '  <nop next="done"/>\n'
                '  <label id="answer_bye"/>\n' + _reply("200 OK", to_tag=False) + '  <label id="done"/>\n'
            )
    else:
        raise ValueError(f"unknown engineer phone behaviour {behaviour!r}")
    return head + body + "</scenario>\n"


@dataclass
class SippRun:
    """A finished (or still running) SIPp process and what it logged."""

    process: subprocess.Popen
    workdir: Path
    label: str
    returncode: int | None = None
    messages: str = ""
    errors: str = ""

    def wait(self, timeout: float = 60.0) -> SippRun:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"SIPp {self.label} still running after {timeout} s:\n{self._logs()}") from None
        self.returncode = self.process.returncode
        self.messages = self._read("messages.log")
        self.errors = self._read("errors.log")
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _read(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def _logs(self) -> str:
        return f"--- messages ---\n{self._read('messages.log')[-4000:]}\n--- errors ---\n{self._read('errors.log')[-2000:]}"

    @property
    def invite_responses(self) -> list[int]:
        """Status codes of the responses to our INVITE, in order."""
        codes = []
        for block in self.messages.split("\n\n"):
            status = re.search(r"^SIP/2\.0 (\d{3})", block, re.M)
            if status and re.search(r"^CSeq:\s*\d+\s+INVITE", block, re.M | re.I):
                codes.append(int(status.group(1)))
        return codes

    @property
    def final_response(self) -> int | None:
        finals = [code for code in self.invite_responses if code >= 200]
        return finals[0] if finals else None

    @property
    def received_bye(self) -> bool:
        return bool(re.search(r"received.*\n\s*BYE sip:", self.messages, re.I))

    @property
    def received_invites(self) -> int:
        return len(re.findall(r"received.*\n\s*INVITE sip:", self.messages, re.I))

    def describe(self) -> str:
        return f"SIPp {self.label} exited {self.returncode}\n{self._logs()}"


def _start(scenario: str, args: list[str], label: str, service: str | None = None) -> SippRun:
    workdir = Path(tempfile.mkdtemp(prefix=f"sipp-{label}-"))
    (workdir / "scenario.xml").write_text(scenario)
    command = [
        SIPP,
        *args,
        "-sf", str(workdir / "scenario.xml"),
        "-m", "1",
        "-nostdin",
        "-trace_msg", "-message_file", str(workdir / "messages.log"),
        "-trace_err", "-error_file", str(workdir / "errors.log"),
    ]
    if service:
        command += ["-s", service]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return SippRun(process=process, workdir=workdir, label=label)


def place_call(
    pbx: str = "127.0.0.1:5060",
    *,
    to: str = "0497842611",
    from_number: str = "0612345678",
    local_ip: str = "127.0.0.1",
    local_port: int = 0,
    wav: Path | None = None,
    dtmf: list[tuple[float, str]] = (),
    hangup_after: float | None = 5.0,
    wait_for_bye: float | None = None,
    timeout: float = 90.0,
    wav_loops: int = 1,
) -> SippRun:
    """Start a caller; `.wait()` for its result."""
    scenario = caller_scenario(wav=wav, dtmf=dtmf, hangup_after=hangup_after, wait_for_bye=wait_for_bye, wav_loops=wav_loops)
    data = Path(tempfile.mkdtemp(prefix="sipp-fields-")) / "fields.csv"
    data.write_text(f"SEQUENTIAL\n{from_number};\n")
    args = [pbx, "-i", local_ip, "-p", str(local_port or _free_udp_port(local_ip)), "-inf", str(data),
            "-timeout", f"{int(timeout)}s", "-timeout_error", "-mi", local_ip]
    return _start(scenario, args, "caller", service=to)


def engineer_phone(
    behaviour: str,
    *,
    port: int = 5080,
    ip: str = "127.0.0.1",
    answer_after: float = 1.0,
    digits: list[tuple[float, str]] = (),
    stay: float = 120.0,
    hangup_after: float | None = None,
) -> SippRun:
    """Start an engineer's phone listening on ip:port for one call; returns once it listens."""
    scenario = engineer_scenario(behaviour, answer_after=answer_after, digits=digits, stay=stay, hangup_after=hangup_after)
    run = _start(scenario, ["-i", ip, "-p", str(port), "-mi", ip, "-timeout", f"{int(stay + 30)}s"], f"engineer-{behaviour}")
    _wait_listening(ip, port, run)
    return run


def _free_udp_port(ip: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((ip, 0))
        return probe.getsockname()[1]


def _wait_listening(ip: str, port: int, run: SippRun, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-lunp", f"sport = :{port}"], capture_output=True, text=True).stdout
        # Ours listening, not some leftover process holding the port (ours then exits).
        if f"{ip}:{port}" in out and f"pid={run.process.pid}," in out:
            return
        if run.process.poll() is not None:
            raise AssertionError(f"engineer phone exited at once: {run.wait(1).describe()}")
        time.sleep(0.05)
    raise AssertionError(f"engineer phone not listening on {ip}:{port} after {timeout} s")


# --- many calls at once (bench/calls.py) ---------------------------------------------------


def engineer_phones_scenario(*, answer_after: float = 0.2, digits: list[tuple[float, str]] = (), talk: float = 10.0) -> str:
    """A UAS for any number of calls: answers every INVITE after `answer_after` s, presses
    `digits` at seconds after answering and hangs up (BYE) `talk` s after answering."""
    capture = (
        '  <recv request="INVITE" crlf="true"><action>\n'
        '    <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="contact"/>\n'
        '    <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="remote"/>\n'
        '    <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="local"/>\n'
        "  </action></recv>\n"
    )
    bye = """  <send retrans="500"><![CDATA[
BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$local];tag=[pid]SIPpTag01[call_number]
To:[$remote]
Call-ID: [call_id]
CSeq: 1 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
"""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="nachtdienst engineer phones">\n'
        + capture
        + _reply("100 Trying")
        + _reply("180 Ringing", contact=True)
        + f'  <pause milliseconds="{int(answer_after * 1000)}"/>\n'
        + _reply("200 OK", contact=True, sdp=True)
        + '  <recv request="ACK" crlf="true"/>\n'
        + _media_actions(None, list(digits), talk)
        + "\n"
        + bye
        + "</scenario>\n"
    )


def _start_many(
    scenario: str, args: list[str], label: str, calls: int, service: str | None = None, files: dict[str, str] | None = None
) -> SippRun:
    """Like `_start`, for `calls` calls, with SIPp's statistics (stats.csv) kept as well;
    `files` are written into its working directory first (args may name them)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"sipp-{label}-"))
    (workdir / "scenario.xml").write_text(scenario)
    for name, text in (files or {}).items():
        (workdir / name).write_text(text)
    command = [
        SIPP, *args,
        "-sf", str(workdir / "scenario.xml"),
        "-m", str(calls),
        "-nostdin",
        "-trace_msg", "-message_file", str(workdir / "messages.log"),
        "-trace_err", "-error_file", str(workdir / "errors.log"),
        "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", "1",
    ]  # fmt: skip
    if service:
        command += ["-s", service]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return SippRun(process=process, workdir=workdir, label=label)


def engineer_phones(
    *,
    calls: int,
    port: int,
    media_port: int,
    ip: str = "127.0.0.1",
    answer_after: float = 0.2,
    digits: list[tuple[float, str]] = (),
    talk: float = 10.0,
    timeout: float = 180.0,
) -> SippRun:
    """One SIPp on ip:port answering `calls` calls (see engineer_phones_scenario); returns once
    it listens, and exits after the last call."""
    scenario = engineer_phones_scenario(answer_after=answer_after, digits=digits, talk=talk)
    args = ["-i", ip, "-p", str(port), "-mi", ip, "-mp", str(media_port), "-timeout", f"{int(timeout)}s"]
    run = _start_many(scenario, args, "engineer-phones", calls)
    _wait_listening(ip, port, run)
    return run


def place_calls(
    pbx: str,
    *,
    from_numbers: list[str],
    concurrency: int,
    rate: float,
    media_port: int,
    to: str = "0497842611",
    local_ip: str = "127.0.0.1",
    dtmf: list[tuple[float, str]] = (),
    wait_for_bye: float = 60.0,
    timeout: float = 180.0,
) -> SippRun:
    """One SIPp placing a call from each of `from_numbers` (in order) at `rate` calls a second,
    at most `concurrency` at once; each sends `dtmf` and waits for the PBX to hang up."""
    scenario = caller_scenario(dtmf=dtmf, hangup_after=None, wait_for_bye=wait_for_bye)
    fields = "SEQUENTIAL\n" + "".join(f"{number};\n" for number in from_numbers)
    args = [pbx, "-i", local_ip, "-p", str(_free_udp_port(local_ip)), "-inf", "fields.csv", "-mi", local_ip, "-mp", str(media_port),
            "-r", str(rate), "-l", str(concurrency), "-timeout", f"{int(timeout)}s"]  # fmt: skip
    return _start_many(scenario, args, "callers", len(from_numbers), service=to, files={"fields.csv": fields})


def sipp_statistics(run: SippRun) -> dict[str, str]:
    """The last row of a finished `_start_many` run's stats.csv: SIPp's cumulative counters
    (e.g. "SuccessfulCall(C)", "FailedCall(C)")."""
    path = run.workdir / "stats.csv"
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()] if path.exists() else []
    if len(lines) < 2:
        return {}
    return dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))

"""The rendered Asterisk configuration: what it exposes and to whom."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from core.settings import Settings
from pbx.render import AsteriskDirs, EngineerContact, render, write_config


def _sections(text: str) -> dict[str, list[dict[str, list[str]]]]:
    """Asterisk config as {section: [ {key: [values]} , … ]} (a name may appear twice)."""
    sections: dict[str, list[dict[str, list[str]]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):  # blank, or a directive such as #tryinclude
            continue
        header = re.fullmatch(r"\[([^\]]+)\]", line)
        if header:
            current = {}
            sections.setdefault(header.group(1), []).append(current)
        elif current is not None:
            key, _, value = re.split(r"\s*(=>|=)\s*", line, maxsplit=1)
            current.setdefault(key, []).append(value)
    return sections


@pytest.fixture
def files() -> dict[str, str]:
    settings = Settings(pbx={"trunk_addresses": ["192.0.2.10", "198.51.100.0/24"], "sip_port": 5070})
    contacts = [EngineerContact("Eva", 7, "sip:eva@127.0.0.1:5080")]
    return render(settings, AsteriskDirs.under(Path("/srv/nachtdienst/x")), "pw-123", contacts)


def test_trunk_is_identified_by_its_addresses_only(files):
    pjsip = _sections(files["pjsip.conf"])
    identify = [s for s in pjsip["trunk-identify"] if s.get("type") == ["identify"]][0]
    assert identify["match"] == ["192.0.2.10", "198.51.100.0/24"]
    assert identify["endpoint"] == ["trunk"]


def test_there_is_no_anonymous_endpoint_and_nothing_without_identification(files):
    pjsip = _sections(files["pjsip.conf"])
    assert "anonymous" not in pjsip
    endpoints = {name: s for name, group in pjsip.items() for s in group if s.get("type") == ["endpoint"]}
    assert set(endpoints) == {"trunk", "engineer-phone", "engineer-7"}
    # The endpoint the app dials any SIP URI through has no address of its own to register or
    # be identified by, and its context dials nothing.
    assert "aors" not in endpoints["engineer-phone"] and endpoints["engineer-phone"]["context"] == ["from-engineer"]
    assert pjsip["global"][0]["endpoint_identifier_order"] == ["ip,username"]


def test_engineer_contact_is_a_static_uri_in_a_context_that_dials_nothing(files):
    pjsip = _sections(files["pjsip.conf"])
    aor = [s for s in pjsip["engineer-7"] if s.get("type") == ["aor"]][0]
    assert aor["contact"] == ["sip:eva@127.0.0.1:5080"]
    endpoint = [s for s in pjsip["engineer-7"] if s.get("type") == ["endpoint"]][0]
    assert endpoint["context"] == ["from-engineer"]
    extensions = _sections(files["extensions.conf"])
    assert extensions["from-engineer"] == [{}]


def test_trunk_context_routes_only_the_support_number_to_the_app(files):
    extensions = _sections(files["extensions.conf"])
    routed = extensions["from-trunk"][0]["exten"]
    assert [r.split(",")[0] for r in routed] == ["0497842611", "31497842611", "+31497842611", "0031497842611"]
    assert all(r.endswith("Goto(support-line,${EXTEN},1)") for r in routed)
    support = " ".join(extensions["support-line"][0].get("same", []) + extensions["support-line"][0]["exten"])
    assert "Stasis(nachtdienst,inbound)" in support
    # Dial() only in the fallback paths, only to what the FastAGI server or the app's static
    # globals name (engineers, the office): never to anything a caller sends. A step's contacts
    # ring as Local legs into nd-leg, each dialling one target of ND_DIAL.
    context, dials = None, []
    for line in files["extensions.conf"].splitlines():
        if header := re.match(r"^\[([a-z-]+)\]", line):
            context = header.group(1)
        if not line.lstrip().startswith(";"):
            dials += [(context, target) for target in re.findall(r"\bDial\(([^,)]*)", line)]
    assert set(dials) == {("nd-agi", "${ND_LEGS}"), ("nd-agi", "${ND_OFFICE_DESTINATION}"), ("nd-static", "${ND_LEGS}"),
                          ("nd-leg", "${ND_TARGET}")}  # fmt: skip
    legs = " ".join(extensions["nd-legs"][0].get("same", []))
    assert "Set(ND_TARGET=${CUT(ND_DIAL,&,${ND_N})})" in legs and "Set(__ND_LEG_${ND_N}=${ND_TARGET})" in legs
    assert re.findall(r"Local/[^)]*", legs) == ["Local/${ND_N}@nd-leg/n"]
    assert extensions["nd-leg"][0]["exten"] == ["_X!,1,Set(ND_TARGET=${ND_LEG_${EXTEN}})"]


def test_a_local_dialplan_file_may_add_to_ours_but_reaches_nothing_by_default(files):
    lines = [line.strip() for line in files["extensions.conf"].splitlines() if line.strip() and not line.startswith(";")]
    # The sysadmin's own file (absent unless written) comes last, after every context of ours,
    # and is the only thing included: no context of ours includes another.
    assert lines[-1] == "#tryinclude extensions_local.conf"
    assert [line for line in lines if line.startswith("#") or line.startswith("include")] == [lines[-1]]


def test_transport_ari_and_directories_follow_the_settings(files):
    assert _sections(files["pjsip.conf"])["transport-udp"][0]["bind"] == ["127.0.0.1:5070"]
    http = _sections(files["http.conf"])["general"][0]
    assert (http["bindaddr"], http["bindport"]) == (["127.0.0.1"], ["8088"])
    ari = _sections(files["ari.conf"])["nachtdienst"][0]
    assert ari["password"] == ["pw-123"]
    directories = _sections(files["asterisk.conf"])["directories"][0]
    assert directories["astspooldir"] == ["/srv/nachtdienst/x/spool"]
    assert directories["astetcdir"] == ["/srv/nachtdienst/x/etc"]


def test_modules_that_listen_elsewhere_are_not_loaded(files):
    noload = _sections(files["modules.conf"])["modules"][0]["noload"]
    for module in ("chan_iax2.so", "chan_skinny.so", "chan_mgcp.so", "pbx_dundi.so", "res_phoneprov.so"):
        assert module in noload


def test_secret_file_is_not_readable_by_others(files, tmp_path):
    write_config(files, tmp_path / "etc")
    assert stat.S_IMODE((tmp_path / "etc" / "ari.conf").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "etc" / "extensions.conf").stat().st_mode) == 0o644
    assert not list((tmp_path / "etc").glob("*.tmp"))

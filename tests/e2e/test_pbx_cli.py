"""`nachtdienst pbx status` as a sysadmin reads it, and engineers becoming endpoints."""

from __future__ import annotations

import re
import urllib.error

import pytest

from tests.e2e.line import EVA, Line, line_environment

pytestmark = pytest.mark.e2e


def test_status_of_a_running_pbx(line):
    result = line.cli("pbx", "status")
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"Asterisk 22\.\d+\.\d+.*", lines[0]), result.stdout
    assert "ARI: ok" in lines
    assert "calls: the ARI app: the Stasis app 'nachtdienst' is registered" in lines
    assert "endpoint PJSIP/trunk: offline" in lines or "endpoint PJSIP/trunk: online" in lines
    assert any(re.fullmatch(rf"endpoint PJSIP/engineer-\d+: \w+ \(Eva Engineer, {re.escape(EVA)}\)", entry) for entry in lines), result.stdout


def test_status_without_a_pbx_says_why_and_fails(tmp_path):
    env = line_environment(tmp_path, sip_port=35060, ari_port=38088, rtp_start=35000)
    idle = Line(env=env, data_dir=tmp_path, sip_port=35060, ari_port=38088)
    result = idle.cli("pbx", "status", check=False)
    assert result.returncode == 1
    assert re.search(r"^ARI: unreachable: .*(refused|Connection)", result.stdout, re.M), result.stdout
    assert "PBX: not running" in result.stdout


def test_an_engineer_added_while_the_line_runs_is_an_endpoint_at_once_and_a_removed_contact_is_gone(line):
    piet, piet_mobile = "sip:piet@127.0.0.1:5081", "sip:piet-mobile@127.0.0.1:5086"
    added = line.cli("engineers", "add", "Piet Paniek", "--contact", piet, "--contact", piet_mobile)
    assert "PBX reloaded" in added.stdout
    status = line.cli("pbx", "status").stdout
    [desk] = re.findall(rf"^endpoint PJSIP/(engineer-\d+): \w+ \(Piet Paniek, {re.escape(piet)}\)$", status, re.M)
    [mobile] = re.findall(rf"^endpoint PJSIP/(engineer-\d+): \w+ \(Piet Paniek, {re.escape(piet_mobile)}\)$", status, re.M)
    # Asterisk itself has the contact's address for the endpoint.
    aor = {entry["attribute"]: entry["value"] for entry in line.ari("GET", f"/asterisk/config/dynamic/res_pjsip/aor/{desk}")}
    assert aor["contact"] == piet

    # His mobile is taken off: its endpoint is gone from Asterisk and from the status.
    edited = line.cli("engineers", "edit", "Piet Paniek", "--contact", piet)
    assert "PBX reloaded" in edited.stdout
    status = line.cli("pbx", "status").stdout
    assert f"endpoint PJSIP/{mobile}:" not in status, status
    assert re.search(rf"^endpoint PJSIP/{desk}: \w+ \(Piet Paniek, {re.escape(piet)}\)$", status, re.M), status
    with pytest.raises(urllib.error.HTTPError) as gone:
        line.ari("GET", f"/asterisk/config/dynamic/res_pjsip/aor/{mobile}")
    assert gone.value.code == 404

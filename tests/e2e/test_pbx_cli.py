"""`nachtdienst pbx status` as a sysadmin reads it, and engineers becoming endpoints."""

from __future__ import annotations

import re

import pytest

from tests.e2e.line import Line, line_environment

pytestmark = pytest.mark.e2e


def test_status_of_a_running_pbx(line):
    result = line.cli("pbx", "status")
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"Asterisk 22\.\d+\.\d+.*", lines[0]), result.stdout
    assert "ARI: ok" in lines
    assert "calls: the ARI app: the Stasis app 'nachtdienst' is registered" in lines
    assert "endpoint PJSIP/trunk: offline" in lines or "endpoint PJSIP/trunk: online" in lines
    assert any(re.fullmatch(r"endpoint PJSIP/engineer-\d+: \w+", entry) for entry in lines), result.stdout


def test_status_without_a_pbx_says_why_and_fails(tmp_path):
    env = line_environment(tmp_path, sip_port=35060, ari_port=38088, rtp_start=35000)
    idle = Line(env=env, data_dir=tmp_path, sip_port=35060, ari_port=38088)
    result = idle.cli("pbx", "status", check=False)
    assert result.returncode == 1
    assert re.search(r"^ARI: unreachable: .*(refused|Connection)", result.stdout, re.M), result.stdout
    assert "PBX: not running" in result.stdout


def test_an_engineer_added_while_the_line_runs_is_an_endpoint_at_once(line):
    before = set(re.findall(r"endpoint PJSIP/(engineer-\d+)", line.cli("pbx", "status").stdout))
    added = line.cli("engineers", "add", "Piet Paniek", "--contact", "sip:piet@127.0.0.1:5081")
    assert "PBX reloaded" in added.stdout
    after = set(re.findall(r"endpoint PJSIP/(engineer-\d+)", line.cli("pbx", "status").stdout))
    assert len(after - before) == 1, (before, after)

"""`nachtdienst pbx status`'s endpoint lines: which phone is whose, and no ghosts of removed
contacts (Asterisk keeps a removed PJSIP endpoint in its list until it restarts)."""

from __future__ import annotations

from nachtdienst.cli.pbx_cmd import endpoint_lines
from pbx.render import EngineerContact, is_engineer_endpoint

ENDPOINTS = [
    {"technology": "PJSIP", "resource": "trunk", "state": "online"},
    {"technology": "PJSIP", "resource": "engineer-phone", "state": "offline"},
    {"technology": "PJSIP", "resource": "engineer-2", "state": "offline"},
    {"technology": "PJSIP", "resource": "engineer-1", "state": "online"},
]
EVA = EngineerContact(engineer_name="Eva Engineer", contact_id=1, uri="sip:eva@127.0.0.1:5080")


def test_an_engineers_endpoint_names_the_engineer_and_the_contact():
    lines = endpoint_lines(ENDPOINTS, {EVA.endpoint: EVA})
    assert "endpoint PJSIP/engineer-1: online (Eva Engineer, sip:eva@127.0.0.1:5080)" in lines


def test_the_endpoint_of_a_removed_contact_is_left_out_and_the_others_stay():
    lines = endpoint_lines(ENDPOINTS, {EVA.endpoint: EVA})
    assert not [line for line in lines if "engineer-2" in line]
    assert lines[:2] == ["endpoint PJSIP/trunk: online", "endpoint PJSIP/engineer-phone: offline"]


def test_without_the_database_every_endpoint_is_listed_as_asterisk_reports_it():
    assert endpoint_lines(ENDPOINTS, None) == [
        "endpoint PJSIP/trunk: online",
        "endpoint PJSIP/engineer-phone: offline",
        "endpoint PJSIP/engineer-2: offline",
        "endpoint PJSIP/engineer-1: online",
    ]


def test_only_the_per_contact_endpoints_are_engineers():
    assert is_engineer_endpoint(EVA.endpoint) and is_engineer_endpoint("engineer-12")
    assert not any(is_engineer_endpoint(name) for name in ("engineer-phone", "engineer-", "trunk", "engineer-1a"))
